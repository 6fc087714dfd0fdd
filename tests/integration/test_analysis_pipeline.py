"""The analysis pipeline on PostgreSQL + Redis + real worker processes, on the synthetic community.

Acceptance of the analysis-jobs issue: the planted outbreak raises alerts in its area and weeks
and none in the control area; the adjusted rate ratio's interval for the planted exposure
excludes 1 and contains the planted value; the planted trend's APC interval contains the truth;
a worker killed mid-run leaves no partial rows and a new worker completes the run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from analytics import suite
from analytics.extraction import extract_all
from analytics.models import Alert, AnalysisRun, ResultRow, RunPart, RunStatus
from tests.conftest import client_for, load_community

pytestmark = pytest.mark.django_db(transaction=True)

RESIDENTS = 3000
SEED = 2026


@pytest.fixture(scope="session")
def community_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from surveys.synthetic import generate_community

    folder = tmp_path_factory.mktemp("integration-community")
    generate_community(residents=RESIDENTS, years=5, seed=SEED, out_dir=folder, end_year=2025)
    return folder


@pytest.fixture
def community(community_folder: Path, vocabulary: None) -> dict[str, Any]:
    load_community(community_folder)
    return json.loads((community_folder / "truth.json").read_text())


def wait_for_run(run_id: int, timeout: float = 300) -> AnalysisRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AnalysisRun.objects.get(pk=run_id)
        if run.is_finished:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish: {AnalysisRun.objects.get(pk=run_id)}")


def row(run: AnalysisRun, **where: Any) -> ResultRow:
    return ResultRow.objects.get(result_set=run.result_set, **where)


def test_a_run_started_from_the_web_finds_the_planted_effects(
    community: dict[str, Any], epidemiologist: User, start_worker: Any
) -> None:
    start_worker("one")
    start_worker("two")  # the parts fan out over both
    response = client_for(epidemiologist).post(
        "/analysis/runs/",
        {
            "near_km": "2",
            "far_km": "8",
            "standard": "who_world_2000_2025",
            "pollutant": "pm10",
        },
    )
    assert response.status_code == 302
    run = wait_for_run(AnalysisRun.objects.get().pk)
    assert run.status == RunStatus.SUCCEEDED, run.error

    effects = community["effects"]
    outbreak = effects["acute_respiratory_outbreak"]["outbreak"]
    control = effects["acute_respiratory_outbreak"]["control_area"]["area_code"]
    weeks = {dt.date.fromisoformat(w) for w in outbreak["week_starts"]}
    alerts = Alert.objects.all()
    assert alerts.filter(area_code=outbreak["area_code"], week__in=weeks).count() >= 2
    assert not alerts.filter(area_code=control).exists()

    planted = effects["respiratory_dose_response"]
    adjusted = row(
        run,
        analysis="exposure_response",
        outcome=planted["code"],
        stratum="distance_band=near",
        measure="adjusted_rate_ratio",
    )
    assert adjusted.ci_lower is not None and adjusted.ci_upper is not None
    assert adjusted.ci_lower > 1
    assert adjusted.ci_lower <= planted["rate_ratio"]["near_vs_far"] <= adjusted.ci_upper

    trend = effects["annual_trend"]
    apc = row(run, analysis="trend", outcome=trend["code"], measure="apc_percent_per_year")
    assert apc.ci_lower is not None and apc.ci_upper is not None
    assert apc.ci_lower <= trend["annual_percent_change"] <= apc.ci_upper

    # The charts were drawn by the workers as the parts finished, stored with the result set,
    # and the outcome page serves them.
    from analytics.models import ResultChart

    stored = ResultChart.objects.filter(result_set=run.result_set)
    assert stored.filter(outcome=trend["code"], key="trend").exists()
    assert stored.filter(
        outcome="acute_respiratory", key=f"weekly:{outbreak['area_code']}"
    ).exists()
    page = client_for(epidemiologist).get(f"/analysis/outcomes/{trend['code']}/")
    assert page.status_code == 200 and b'data-chart="trend" data-stored="true"' in page.content

    # Re-running on the same data reuses the stored results and duplicates no alert.
    alerts_before = alerts.count()
    again = client_for(epidemiologist).post(
        "/analysis/runs/",
        {
            "near_km": "2",
            "far_km": "8",
            "standard": "who_world_2000_2025",
            "pollutant": "pm10",
        },
    )
    assert again.status_code == 302
    second = wait_for_run(AnalysisRun.objects.order_by("-pk").first().pk)  # type: ignore[union-attr]
    assert second.reused and second.result_set_id == run.result_set_id
    assert Alert.objects.count() == alerts_before


def test_a_worker_killed_mid_run_leaves_no_partial_rows_and_a_new_worker_completes_it(
    community: dict[str, Any], epidemiologist: User, start_worker: Any
) -> None:
    doomed = start_worker("doomed")
    client_for(epidemiologist).post(
        "/analysis/runs/",
        {
            "near_km": "2",
            "far_km": "8",
            "standard": "who_world_2000_2025",
            "pollutant": "pm10",
        },
    )
    run = AnalysisRun.objects.get()
    deadline = time.monotonic() + 180
    while not RunPart.objects.filter(status=RunStatus.RUNNING).exists():
        assert time.monotonic() < deadline, doomed.log_text()[-3000:]
        time.sleep(0.05)
    killed_part = RunPart.objects.get(status=RunStatus.RUNNING)
    doomed.kill()
    killed_part.refresh_from_db()
    assert killed_part.status == RunStatus.RUNNING  # it never finished…
    assert not ResultRow.objects.filter(part=killed_part.name).exists()  # …and wrote nothing

    start_worker("rescuer")
    run = wait_for_run(run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    killed_part.refresh_from_db()
    assert killed_part.status == RunStatus.SUCCEEDED and killed_part.attempts >= 2

    # Every part holds exactly the rows a clean computation gives: none partial, none twice.
    datasets = extract_all()
    params = suite.clean_parameters(run.parameters)
    for part in RunPart.objects.filter(result_set=run.result_set):
        expected = len(suite.PARTS[part.name](datasets, params).rows)
        stored = ResultRow.objects.filter(result_set=run.result_set, part=part.name).count()
        assert stored == part.rows == expected, part.name
