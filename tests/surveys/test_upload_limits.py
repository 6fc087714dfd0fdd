"""Bounded input: the size of an upload, the length of an error list, where big imports run,
and the files an upload leaves behind."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.html import escape
from kombu.exceptions import OperationalError as BrokerUnavailable

from surveys import tasks
from surveys.importing.report import HTTP_ERROR_LIMIT
from surveys.models import ImportJob, ImportJobStatus, Station
from tests.conftest import client_for
from tests.i18n import bt, h, t, tn

pytestmark = pytest.mark.django_db

HEADER = "station_code,name,medium,latitude,longitude\n"
STATIONS = (HEADER + "W1,Well 1,water,25.0,110.0\nA1,Air 1,air,25.1,110.1\n").encode()


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body of an oversized upload was read")

    readline = read


def test_an_upload_over_the_limit_is_answered_413_before_its_body_is_read(
    admin_user: User, settings: Any
) -> None:
    settings.HEALTHWATCH_MAX_UPLOAD_BYTES = 1024 * 1024
    for path in ("/field/import/", "/api/v1/imports/"):
        oversized: dict[str, Any] = {
            "CONTENT_TYPE": "multipart/form-data; boundary=xyz",
            "CONTENT_LENGTH": "300000000",
            "wsgi.input": UnreadableBody(),
        }
        response = client_for(admin_user).generic("POST", path, **oversized)
        assert response.status_code == 413, path
        body = response.json()["detail"] if path.startswith("/api/") else response.content.decode()
        assert body == t(
            "The upload is too large: at most %(limit)s MB are accepted. "
            "Split the file, or ask the administrator to raise HEALTHWATCH_MAX_UPLOAD_MB.",
            limit=1,
        )


def test_an_upload_within_the_limit_is_imported(admin_user: User, settings: Any) -> None:
    settings.HEALTHWATCH_MAX_UPLOAD_BYTES = 1_000_000
    response = client_for(admin_user).post(
        "/field/import/",
        {"kind": "stations", "file": SimpleUploadedFile("stations.csv", STATIONS)},
    )
    assert response.status_code == 200 and Station.objects.count() == 2


@pytest.mark.parametrize("path", ["/field/import/", "/api/v1/imports/"])
def test_an_import_with_thousands_of_errors_lists_at_most_a_thousand_and_counts_the_rest(
    admin_user: User, path: str
) -> None:
    bad = HEADER + "".join(f"S{i},Station,lava,25.0,110.0\n" for i in range(2500))
    not_listed = tn(
        "%(rest)s more error is not listed (%(total)s in all); fix the ones above and try again.",
        "%(rest)s more errors are not listed (%(total)s in all); fix the ones above and try again.",
        1500,
        rest=1500,
        total=2500,
    )
    client = client_for(admin_user)
    response = client.post(
        path, {"kind": "stations", "file": SimpleUploadedFile("bad.csv", bad.encode())}
    )
    if path.startswith("/api/"):
        assert response.status_code == 202  # the API imports every file as a job
        tasks.run_import(response.json()["id"])
        state = client.get(response["Location"])
        assert state.status_code == 200
        data = state.json()["report"]
        assert data["error_count"] == 2500
        assert len(data["errors"]) == HTTP_ERROR_LIMIT + 1
        assert data["errors"][-1]["reason"] == not_listed
        assert len(state.content) < 200_000  # the body stays small whatever the file
    else:
        assert response.status_code == 400
        body = response.content.decode()
        assert body.count("<tr><td>") == HTTP_ERROR_LIMIT + 1
        assert escape(not_listed) in body


def test_a_big_upload_becomes_a_job_whose_page_shows_progress_then_the_report(
    admin_user: User,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.HEALTHWATCH_IMPORT_INLINE_MAX_BYTES = 10  # every file is "big"
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_import, "apply_async", lambda args, **kw: sent.append(args[0]))
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/field/import/",
            {"kind": "stations", "file": SimpleUploadedFile("stations.csv", STATIONS)},
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/field/import/jobs/{job.pk}/"
    assert sent == [job.pk] and job.status == ImportJobStatus.QUEUED
    assert Station.objects.count() == 0  # nothing imported inside the web request
    assert b"".join(bytes(c.data) for c in job.chunks.all()) == STATIONS  # kept for the worker
    queued_page = client.get(response["Location"]).content.decode()
    assert h("Waiting for a worker") in queued_page

    tasks.run_import(job.pk)  # what the worker does

    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and job.rows_read == 2
    assert Station.objects.count() == 2
    assert not job.chunks.exists()  # the upload is deleted once imported
    page = client.get(response["Location"]).content.decode()
    assert (
        bt(
            "%(rows)s rows · %(created)s new · %(unchanged)s unchanged",
            rows=2,
            created=2,
            unchanged=0,
        )
        in page
    )


def test_a_big_upload_while_the_job_queue_is_down_fails_with_a_message_and_keeps_no_file(
    admin_user: User,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.HEALTHWATCH_IMPORT_INLINE_MAX_BYTES = 10

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_import, "apply_async", refuse)
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/field/import/",
            {"kind": "stations", "file": SimpleUploadedFile("stations.csv", STATIONS)},
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert job.status == ImportJobStatus.FAILED and job.error_code == "queue_unavailable"
    refusal = h(
        "Not started: the job queue is unavailable (%(error)s). Upload the file again later.",
        error=job.error,
    )
    assert refusal in client.get(response["Location"]).content.decode()
    assert not job.chunks.exists()


def test_leftover_upload_files_are_swept_and_fresh_ones_kept(settings: Any, tmp_path: Path) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    temp = tmp_path
    old, fresh = temp / "tmpold.upload.csv", temp / "tmpfresh.upload.csv"
    old.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    long_ago = time.time() - settings.HEALTHWATCH_UPLOAD_LEFTOVER_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    removed = tasks.sweep_upload_leftovers()
    assert removed == 1 and not old.exists() and fresh.exists()


def test_the_job_page_of_another_person_is_not_found(
    admin_user: User, worker_a: User, settings: Any
) -> None:
    job = ImportJob.objects.create(
        kind="stations", file_name="s.csv", size=1, requested_by=admin_user
    )
    assert client_for(worker_a).get(f"/field/import/jobs/{job.pk}/").status_code == 404
    assert isinstance(client_for(admin_user), Client)


def test_a_job_delivered_again_is_left_to_the_live_worker_and_taken_over_from_a_dead_one(
    admin_user: User, settings: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    from surveys.importing.jobs import import_job_submit

    job = import_job_submit(
        user=admin_user,
        kind="stations",
        upload=io.BytesIO(STATIONS),
        file_name="stations.csv",
        size=len(STATIONS),
        dry_run=False,
    )
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJobStatus.RUNNING, started_at=timezone.now()
    )
    tasks.run_import(job.pk)  # another worker is importing it
    assert Station.objects.count() == 0
    assert ImportJob.objects.get(pk=job.pk).status == ImportJobStatus.RUNNING

    long_ago = timezone.now() - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    ImportJob.objects.filter(pk=job.pk).update(started_at=long_ago)
    tasks.run_import(job.pk)  # that worker is past the time limit: dead
    assert ImportJob.objects.get(pk=job.pk).status == ImportJobStatus.DONE
    assert Station.objects.count() == 2


def test_the_sweep_fails_an_import_whose_worker_was_lost(admin_user: User, settings: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    job = ImportJob.objects.create(kind="stations", file_name="s.csv", size=1)
    long_ago = timezone.now() - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING, started_at=long_ago)
    assert tasks.sweep_upload_leftovers() == 1
    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED
    assert job.error == t("The import was lost; upload the file again.")
