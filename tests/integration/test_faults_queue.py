"""The job queue under a bad day: the broker stopped and started again, a worker killed.

Each test runs its own redis-server on a free port (the shared one on 6379 is never touched),
with real worker processes against it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from analytics import services
from analytics.models import AnalysisRun, ResultRow, RunPart, RunStatus
from surveys.models import ImportJob, ImportJobStatus, Observation, Station
from tests.conftest import client_for
from tests.i18n import h, shape
from tests.integration.conftest import PrivateRedis, celery_broker
from tests.integration.test_import_postgres import rows_of

pytestmark = pytest.mark.django_db(transaction=True)

PARAMETERS = {"near_km": "2", "far_km": "8", "standard": "who_world_2000_2025", "pollutant": "pm10"}


def stations() -> SimpleUploadedFile:
    return SimpleUploadedFile(
        "stations.csv", b"station_code,name,medium,latitude,longitude\nW1,Well,water,25.0,110.0\n"
    )


def wait_until(check: Any, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.2)


def test_with_the_broker_stopped_work_fails_clearly_and_after_it_is_back_work_runs_again(
    residents: Path,
    admin_user: User,
    epidemiologist: User,
    start_worker: Any,
    private_redis: PrivateRedis,
    settings: Any,
) -> None:
    settings.CELERY_BROKER_URL = private_redis.url  # for the worker processes
    settings.HEALTHWATCH_IMPORT_INLINE_MAX_BYTES = 0  # every upload is a job for a worker
    observations = (residents / "observations.csv").read_bytes()
    staff, uploader = client_for(epidemiologist), client_for(admin_user)
    with celery_broker(private_redis.url):
        worker = start_worker("outage")
        private_redis.stop()

        response = staff.post("/analysis/runs/", PARAMETERS)
        assert response.status_code == 302
        run = AnalysisRun.objects.get()
        assert run.status == RunStatus.FAILED
        assert re.fullmatch(shape(services.QUEUE_UNAVAILABLE), run.error), run.error
        assert escape(run.error) in staff.get(response["Location"]).content.decode()

        upload = SimpleUploadedFile("observations.csv", observations)
        response = uploader.post("/field/import/", {"kind": "observations", "file": upload})
        assert response.status_code == 302
        job = ImportJob.objects.get()
        assert job.status == ImportJobStatus.FAILED and job.error_code == "queue_unavailable"
        assert not job.chunks.exists()
        refused = uploader.post("/api/v1/imports/", {"kind": "stations", "file": stations()})
        assert refused.status_code == 503, refused.content
        assert refused.json()["error_code"] == "queue_unavailable" and refused.json()["detail"]
        assert refused.json()["status"] == "failed" and not Station.objects.exists()

        # The broker comes back; nobody touches the worker, the runs or the jobs.
        private_redis.start()
        upload = SimpleUploadedFile("observations.csv", observations)
        response = uploader.post("/field/import/", {"kind": "observations", "file": upload})
        again = ImportJob.objects.latest("pk")
        wait_until(lambda: ImportJob.objects.get(pk=again.pk).is_finished, "the import job")
        again.refresh_from_db()
        assert again.status == ImportJobStatus.DONE, (again.error, worker.log_text()[-3000:])
        assert Observation.objects.count() == len(rows_of(residents)[1])
        accepted = uploader.post("/api/v1/imports/", {"kind": "stations", "file": stations()})
        assert accepted.status_code == 202, accepted.content
        wait_until(
            lambda: uploader.get(accepted["Location"]).json()["status"] in ("done", "failed"),
            "the API import job",
        )
        state = uploader.get(accepted["Location"]).json()
        assert state["outcome"] == "imported", (state, worker.log_text()[-3000:])
        assert Station.objects.count() == 1

        response = staff.post("/analysis/runs/", PARAMETERS)
        second = AnalysisRun.objects.latest("pk")
        wait_until(lambda: AnalysisRun.objects.get(pk=second.pk).is_finished, "the second run")
        second.refresh_from_db()
        assert second.status == RunStatus.SUCCEEDED, (second.error, worker.log_text()[-3000:])


def test_a_killed_worker_s_part_is_requeued_by_the_sweep_and_the_run_completes_once(
    residents: Path,
    admin_user: User,
    epidemiologist: User,
    start_worker: Any,
    private_redis: PrivateRedis,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A broker that would hold the dead worker's message for an hour: only the sweep (which
    # beat runs every minute) brings the part back.
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "3600")
    settings.CELERY_BROKER_URL = private_redis.url
    settings.HEALTHWATCH_PART_HEARTBEAT_SECONDS = 1
    settings.HEALTHWATCH_PART_LOST_AFTER_SECONDS = 3
    from django.core.management import call_command

    call_command("import_csv", "observations", str(residents / "observations.csv"), verbosity=0)
    with celery_broker(private_redis.url):
        doomed = start_worker("doomed")
        client_for(epidemiologist).post("/analysis/runs/", PARAMETERS)
        run = AnalysisRun.objects.get()
        wait_until(
            lambda: RunPart.objects.filter(status=RunStatus.RUNNING).exists(), "a running part"
        )
        killed = RunPart.objects.filter(status=RunStatus.RUNNING).first()
        assert killed is not None
        doomed.kill()
        start_worker("rescuer")

        page = client_for(epidemiologist).get(f"/analysis/runs/{run.pk}/").content.decode()
        wait_until(lambda: RunPart.objects.get(pk=killed.pk).worker_lost, "the lost worker seen")
        page = client_for(epidemiologist).get(f"/analysis/runs/{run.pk}/").content.decode()
        lost = [
            h("Worker lost — waiting to be retried"),
            shape("Worker lost, retrying (attempt %(n)s of %(total)s)"),
        ]
        assert lost[0] in page or re.search(lost[1], page), page

        swept = services.analysis_runs_sweep()  # what beat would run
        assert swept["parts_requeued"] >= 1
        wait_until(lambda: AnalysisRun.objects.get(pk=run.pk).is_finished, "the run", 300)

    run.refresh_from_db()
    killed.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert killed.status == RunStatus.SUCCEEDED and killed.attempts >= 2
    keys = ResultRow.objects.filter(result_set=run.result_set).values_list(
        "part", "analysis", "outcome", "area_code", "period", "stratum", "measure"
    )
    assert len(keys) == len(set(keys)) > 0  # every row once
    for part in RunPart.objects.filter(result_set=run.result_set):
        stored = ResultRow.objects.filter(result_set=run.result_set, part=part.name).count()
        assert stored == part.rows, part.name
