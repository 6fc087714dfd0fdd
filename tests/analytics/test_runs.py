"""Analysis runs: status, reuse of stored results, idempotent parts, alerts, triggers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from analytics import selectors, services, suite
from analytics.models import Alert, AnalysisRun, ResultRow, ResultSet, RunPart, RunStatus
from surveys.models import Observation
from tests.i18n import t


@pytest.fixture
def quick_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lifecycle tests need parts, not statistics: two fast ones keep them quick."""
    monkeypatch.setattr(
        suite, "PARTS", {name: suite.PARTS[name] for name in ("trends", "environment")}
    )


def run_inline(user: User | None = None, **parameters: Any) -> AnalysisRun:
    run = services.analysis_run_request(user=user, parameters=parameters, enqueue=False)
    return services.analysis_run_execute_inline(run_id=run.pk)


@pytest.mark.django_db
def test_a_run_computes_every_part_and_succeeds(community: Path, epidemiologist: User) -> None:
    run = run_inline(epidemiologist)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress_percent == 100
    assert run.parts_done == run.parts_total == len(suite.PARTS)
    assert run.extract_seconds is not None and run.compute_seconds is not None
    assert run.code_version == suite.VERSION
    parts = RunPart.objects.filter(result_set=run.result_set)
    assert {p.name for p in parts} == set(suite.PARTS)
    assert all(p.status == RunStatus.SUCCEEDED for p in parts)
    assert ResultRow.objects.filter(result_set=run.result_set, analysis="rates").exists()


@pytest.mark.django_db
def test_the_same_parameters_on_the_same_data_reuse_the_stored_results(
    community: Path, quick_parts: None
) -> None:
    first = run_inline()
    rows = ResultRow.objects.count()
    second = run_inline()
    assert second.status == RunStatus.SUCCEEDED
    assert second.reused and second.result_set_id == first.result_set_id
    assert ResultRow.objects.count() == rows


@pytest.mark.django_db
def test_changed_data_or_parameters_make_a_new_result_set(
    community: Path, quick_parts: None
) -> None:
    first = run_inline()
    other_parameters = run_inline(near_km=1.5)
    assert other_parameters.result_set_id != first.result_set_id
    Observation.objects.filter(value__isnull=False).first().delete()  # type: ignore[union-attr]
    changed_data = run_inline()
    assert changed_data.result_set_id not in (first.result_set_id, other_parameters.result_set_id)
    assert ResultSet.objects.count() == 3


@pytest.mark.django_db
def test_computing_a_part_twice_leaves_no_duplicate_rows(
    community: Path, quick_parts: None
) -> None:
    run = run_inline()
    before = ResultRow.objects.filter(part="trends").count()
    assert before > 0
    RunPart.objects.filter(result_set=run.result_set, name="trends").update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )  # as if the worker died after writing, before marking the part done
    AnalysisRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    services.analysis_part_compute(run_id=run.pk, part_name="trends")
    assert ResultRow.objects.filter(part="trends").count() == before
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_failing_part_fails_the_run_with_its_error(
    community: Path, quick_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(datasets: Any, params: Any) -> Any:
        raise ValueError("the method refused the data")

    monkeypatch.setitem(suite.PARTS, "trends", broken)  # the quick_parts copy
    run = run_inline()
    assert run.status == RunStatus.FAILED
    assert run.error == t(
        "Failed in part “%(part)s”: %(message)s.",
        part=t("Trends"),
        message="ValueError: the method refused the data",
    )
    assert RunPart.objects.get(result_set=run.result_set, name="trends").status == "failed"


@pytest.mark.django_db
def test_re_running_never_duplicates_an_alert_and_keeps_its_annotation(
    community: Path, quick_parts: None, epidemiologist: User
) -> None:
    run = run_inline()
    alert = Alert(
        outcome="acute_respiratory",
        area_code="A05",
        week="2025-10-13",
        method="m",
        observed=9,
        expected=2,
        upper_bound=5,
        first_run=run,
        last_run=run,
    )
    alert.save()
    services.alert_acknowledge(user=epidemiologist, alert=alert, annotation="school outbreak")
    candidate = suite.AlertCandidate(
        outcome="acute_respiratory",
        area_code="A05",
        week=alert.week,
        method="m",
        observed=10,
        expected=2,
        upper_bound=5,
    )
    services.alert_upsert(run=run, alerts=[candidate, candidate])
    stored = Alert.objects.get()
    assert stored.observed == 10
    assert (stored.status, stored.annotation) == ("acknowledged", "school outbreak")


@pytest.mark.django_db
def test_imports_in_a_row_trigger_one_debounced_run() -> None:
    first = services.analysis_run_request_after_import()
    second = services.analysis_run_request_after_import()
    assert first is not None and second is None
    assert AnalysisRun.objects.get().trigger == "import"


@pytest.mark.django_db
def test_bad_parameters_are_refused_with_their_name() -> None:
    with pytest.raises(suite.ParameterError, match="near_km must be positive and below far_km"):
        services.analysis_run_request(user=None, parameters={"near_km": 9, "far_km": 8})
    with pytest.raises(suite.ParameterError, match="unknown parameters: colour"):
        services.analysis_run_request(user=None, parameters={"colour": "red"})
    assert not AnalysisRun.objects.exists()


@pytest.mark.django_db
def test_an_import_triggers_one_debounced_analysis_run(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT = True
    started: list[tuple[int, float]] = []
    monkeypatch.setattr(
        services, "_enqueue_start", lambda run_id, countdown=0: started.append((run_id, countdown))
    )
    monkeypatch.setattr("reports.tasks.refresh_open_data.delay", lambda: None)
    from django.core.management import call_command

    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_csv", "sites", str(examples / "sites.csv"), verbosity=0)
    run = AnalysisRun.objects.get()
    assert run.trigger == "import" and run.status == "queued"
    assert started == [(run.pk, services.IMPORT_DEBOUNCE_SECONDS)]


@pytest.mark.django_db
def test_parts_are_queued_longest_first_by_their_last_time_and_unknown_parts_lead(
    community: Path,
    quick_parts: None,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # never run: every time unknown, the suite's order
    assert selectors.parts_longest_first(["environment", "trends"]) == ["trends", "environment"]
    first = run_inline()
    began = timezone.now() - dt.timedelta(minutes=5)
    for name, seconds in (("trends", 1.0), ("environment", 9.0)):
        RunPart.objects.filter(result_set=first.result_set, name=name).update(
            started_at=began, finished_at=began + dt.timedelta(seconds=seconds)
        )
    assert selectors.parts_longest_first(["trends", "environment"]) == ["environment", "trends"]
    assert selectors.parts_longest_first(["trends", "scan", "environment"]) == [
        "scan",  # never ran: its time is unknown, so it goes before any known one
        "environment",
        "trends",
    ]
    queued: list[list[str]] = []
    monkeypatch.setattr(services, "_enqueue_parts", lambda run_id, names: queued.append(names))
    Observation.objects.filter(pk=Observation.objects.order_by("pk")[0].pk).delete()
    run = services.analysis_run_request(user=None, parameters={}, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        pending = services.analysis_run_start(run_id=run.pk)
    assert pending == ["environment", "trends"]
    assert queued == [["environment", "trends"]]
