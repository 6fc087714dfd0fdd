"""Runs when the job queue is down or a worker is lost: they fail loudly, or they heal."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from django.utils.html import escape
from kombu.exceptions import OperationalError as BrokerUnavailable

from analytics import services, suite, tasks
from analytics.models import AnalysisRun, ResultSet, RunPart, RunStatus, RunTrigger
from surveys.models import ImportRecord
from tests.conftest import client_for
from tests.i18n import h, shape, t, tn

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
QUEUE_DOWN = shape(services.QUEUE_UNAVAILABLE)  # the reason, whatever the broker said


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing any task fails as kombu fails when Redis refuses the connection."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for task in (tasks.start_run, tasks.compute_part):
        monkeypatch.setattr(task, "apply_async", refuse)
    monkeypatch.setattr("reports.tasks.refresh_open_data.delay", refuse)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """What would have been sent to the queue, instead of sending it."""
    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        tasks.start_run, "apply_async", lambda args, **kw: sent.append(("start", args[0]))
    )
    monkeypatch.setattr(
        tasks.compute_part, "apply_async", lambda args, **kw: sent.append(("part", tuple(args)))
    )
    return sent


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def run_with_parts(**part_fields: Any) -> tuple[AnalysisRun, RunPart]:
    result_set = ResultSet.objects.create(
        kind=suite.KIND,
        parameters_hash="p" * 64,
        input_fingerprint="f" * 64,
        code_version=suite.VERSION,
        parts_total=1,
    )
    run = AnalysisRun.objects.create(
        status=RunStatus.RUNNING, result_set=result_set, parts_total=1, started_at=ago(600)
    )
    part = RunPart.objects.create(result_set=result_set, name="trends", **part_fields)
    return run, part


@pytest.mark.django_db
def test_a_run_that_cannot_be_queued_is_failed_and_the_epidemiologist_is_told(
    epidemiologist: User, broker_down: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        form = {k: v for k, v in suite.DEFAULT_PARAMETERS.items() if v is not None}  # as sent
        response = client_for(epidemiologist).post("/analysis/runs/", form)
    run = AnalysisRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/analysis/runs/{run.pk}/"
    assert run.status == RunStatus.FAILED and re.fullmatch(QUEUE_DOWN, run.error)
    assert "Connection refused" in run.error
    assert run.finished_at is not None
    page = client_for(epidemiologist).get(response["Location"]).content.decode()
    assert escape(run.error) in page


@pytest.mark.django_db
def test_a_saved_import_stays_saved_when_its_after_import_run_cannot_be_queued(
    settings: Any, broker_down: None, django_capture_on_commit_callbacks: Any
) -> None:
    settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_csv", "stations", str(EXAMPLES / "stations.csv"), verbosity=0)
    assert ImportRecord.objects.filter(kind="stations").exists()
    run = AnalysisRun.objects.get()
    assert run.status == RunStatus.FAILED and re.fullmatch(QUEUE_DOWN, run.error)
    assert run.debounce_key is None  # the next import may trigger a run again


@pytest.mark.django_db
def test_a_pending_run_that_never_started_no_longer_blocks_the_after_import_trigger(
    settings: Any, enqueued: list[tuple[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    stale = AnalysisRun.objects.create(
        trigger=RunTrigger.IMPORT, debounce_key=f"import:{suite.KIND}"
    )
    AnalysisRun.objects.filter(pk=stale.pk).update(
        created_at=ago(settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS + 60),
        queued_at=ago(settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS + 60),
    )
    with django_capture_on_commit_callbacks(execute=True):
        fresh = services.analysis_run_request_after_import()
    assert fresh is not None and fresh.pk != stale.pk
    stale.refresh_from_db()
    assert stale.status == RunStatus.FAILED and stale.debounce_key is None
    assert ("start", fresh.pk) in enqueued


@pytest.mark.django_db
def test_the_sweep_requeues_a_run_queued_too_long_then_fails_it(
    settings: Any, enqueued: list[tuple[str, Any]]
) -> None:
    run = AnalysisRun.objects.create()
    too_long = ago(settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS + 1)
    for attempt in range(1, settings.HEALTHWATCH_RUN_MAX_ATTEMPTS):
        AnalysisRun.objects.filter(pk=run.pk).update(queued_at=too_long)
        services.analysis_runs_sweep()
        run.refresh_from_db()
        assert run.status == RunStatus.QUEUED and run.attempts == attempt + 1
        assert enqueued.count(("start", run.pk)) == attempt
    AnalysisRun.objects.filter(pk=run.pk).update(queued_at=too_long)
    services.analysis_runs_sweep()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == tn(
        "Not started after %(n)d attempt: the job queue or its workers are "
        "unavailable. Start the run again when they are back.",
        "Not started after %(n)d attempts: the job queue or its workers are "
        "unavailable. Start the run again when they are back.",
        run.attempts,
        n=run.attempts,
    )


@pytest.mark.django_db
def test_the_sweep_requeues_a_part_whose_worker_was_lost_and_fails_it_after_the_last_attempt(
    settings: Any, enqueued: list[tuple[str, Any]]
) -> None:
    lost = ago(settings.HEALTHWATCH_PART_LOST_AFTER_SECONDS + 1)
    run, part = run_with_parts(status=RunStatus.RUNNING, attempts=1, heartbeat_at=lost)
    services.analysis_runs_sweep()
    part.refresh_from_db()
    assert part.status == RunStatus.QUEUED and "worker lost" in part.error
    assert enqueued == [("part", (run.pk, "trends"))]

    RunPart.objects.filter(pk=part.pk).update(
        status=RunStatus.RUNNING, attempts=settings.HEALTHWATCH_RUN_MAX_ATTEMPTS, heartbeat_at=lost
    )
    services.analysis_runs_sweep()
    part.refresh_from_db()
    run.refresh_from_db()
    assert part.status == RunStatus.FAILED and run.status == RunStatus.FAILED
    lost_part = tn(
        "worker lost %(n)d time (the limit is %(limit)d); "
        "the part may need more memory or time than a worker has",
        "worker lost %(n)d times (the limit is %(limit)d); "
        "the part may need more memory or time than a worker has",
        part.attempts,
        n=part.attempts,
        limit=settings.HEALTHWATCH_RUN_MAX_ATTEMPTS,
    )
    assert part.error == lost_part
    assert run.error == t(
        "Failed in part “%(part)s”: %(message)s.", part=t("Trends"), message=lost_part
    )
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_the_sweep_leaves_a_part_with_a_fresh_heartbeat_alone(
    enqueued: list[tuple[str, Any]],
) -> None:
    _, part = run_with_parts(status=RunStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    services.analysis_runs_sweep()
    part.refresh_from_db()
    assert part.status == RunStatus.RUNNING and enqueued == []


@pytest.mark.django_db
def test_a_redelivered_part_that_another_worker_is_computing_is_not_computed_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, part = run_with_parts(status=RunStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    computed: list[str] = []
    monkeypatch.setitem(suite.PARTS, "trends", lambda *a: computed.append("trends"))
    services.analysis_part_compute(run_id=run.pk, part_name="trends")
    part.refresh_from_db()
    assert computed == [] and part.attempts == 1


@pytest.mark.django_db
def test_the_run_page_says_a_worker_was_lost_and_the_part_is_being_retried(
    settings: Any, epidemiologist: User, enqueued: list[tuple[str, Any]]
) -> None:
    lost = ago(settings.HEALTHWATCH_PART_LOST_AFTER_SECONDS + 1)
    run, _ = run_with_parts(status=RunStatus.RUNNING, attempts=1, heartbeat_at=lost)
    page = client_for(epidemiologist).get(f"/analysis/runs/{run.pk}/").content.decode()
    assert h("Worker lost — waiting to be retried") in page
    services.analysis_runs_sweep()
    page = client_for(epidemiologist).get(f"/analysis/runs/{run.pk}/").content.decode()
    total = settings.HEALTHWATCH_RUN_MAX_ATTEMPTS
    assert h("Worker lost, retrying (attempt %(n)s of %(total)s)", n=2, total=total) in page
