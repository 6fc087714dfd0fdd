"""Imports too big for a web request: the upload is kept in VAR_DIR/imports and a worker
imports it, reporting progress on the job's page.

A web worker then spends only the time of the upload; gunicorn's timeout no longer cuts an
import short (and leaves its temp file). The job is idempotent: a redelivered job imports the
file again, and the import lock plus "already stored" make the second pass store nothing new.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from surveys.importing.core import import_csv, may_import
from surveys.models import ImportJob, ImportJobStatus
from surveys.services import AccessDenied

log = logging.getLogger("surveys.importing")
QUEUE_UNAVAILABLE = (
    "Not started: the job queue is unavailable ({error}). Upload the file again later."
)
#: Progress is written at most this often (seconds): a chunk is validated in well under that.
PROGRESS_EVERY = 1.0


def _imports_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def import_job_submit(
    *, user: User, kind: str, upload: IO[bytes], file_name: str, size: int, dry_run: bool
) -> ImportJob:
    """Keep the upload and queue its import; a queue that cannot take it fails the job."""
    if not may_import(user, kind):
        raise AccessDenied(f"You may not import {kind}.")
    stored_name = f"{uuid.uuid4().hex}.csv"
    path = _imports_dir() / stored_name
    with path.open("wb") as kept:
        shutil.copyfileobj(upload, kept, length=1024 * 1024)
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                kind=kind,
                file_name=file_name[:255],
                stored_name=stored_name,
                size=size,
                dry_run=dry_run,
                requested_by=user,
            )
            transaction.on_commit(lambda: _enqueue(job.pk))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


def _enqueue(job_id: int) -> None:
    from surveys.tasks import run_import

    try:
        run_import.apply_async((job_id,))
    except Exception as error:  # kombu/redis connection errors
        log.error("import job %s not queued: %s", job_id, error)
        job = ImportJob.objects.get(pk=job_id)
        Path(job.stored_path).unlink(missing_ok=True)
        _finish(job_id, ImportJobStatus.FAILED, error=QUEUE_UNAVAILABLE.format(error=error))


def _finish(job_id: int, status: str, *, error: str = "", report: object = None) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=status, error=error, report=report, finished_at=timezone.now()
    )


def import_job_run(*, job_id: int) -> None:
    """Import the job's file (in a worker), then remove it. Idempotent."""
    from surveys.serializers import ImportReportSerializer

    job = ImportJob.objects.select_related("requested_by").get(pk=job_id)
    if job.is_finished:
        return
    path = Path(job.stored_path)
    if not path.exists():
        _finish(job_id, ImportJobStatus.FAILED, error="The uploaded file is gone; upload it again.")
        return
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJobStatus.RUNNING, started_at=timezone.now(), rows_read=0
    )
    last = 0.0

    def progress(rows: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY:
            ImportJob.objects.filter(pk=job_id).update(rows_read=rows)
            last = time.monotonic()

    try:
        with path.open("rb") as stream:
            report = import_csv(
                kind=job.kind,
                stream=stream,
                file_name=job.file_name,
                user=job.requested_by,
                dry_run=job.dry_run,
                progress=progress,
            )
    except AccessDenied as denied:
        _finish(job_id, ImportJobStatus.FAILED, error=str(denied))
        path.unlink(missing_ok=True)
        return
    ImportJob.objects.filter(pk=job_id).update(rows_read=report.rows)
    _finish(
        job_id,
        ImportJobStatus.DONE,
        report=dict(ImportReportSerializer(report.for_http()).data),
    )
    path.unlink(missing_ok=True)


def upload_leftovers_sweep(*, older_than: float | None = None) -> int:
    """Remove upload files nobody will read again; returns how many were removed.

    Django's spool files (FILE_UPLOAD_TEMP_DIR) of requests that were killed, and kept uploads
    of jobs that are finished or long gone (VAR_DIR/imports).
    """
    age = settings.HEALTHWATCH_UPLOAD_LEFTOVER_SECONDS if older_than is None else older_than
    cutoff = time.time() - age
    removed = 0
    spool = Path(settings.FILE_UPLOAD_TEMP_DIR)
    candidates = [p for p in spool.glob("*") if p.is_file()] if spool.is_dir() else []
    waiting = set(
        ImportJob.objects.exclude(
            status__in=(ImportJobStatus.DONE, ImportJobStatus.FAILED)
        ).values_list("stored_name", flat=True)
    )
    candidates += [p for p in _imports_dir().glob("*.csv") if p.name not in waiting]
    for path in candidates:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        log.warning("removed %d leftover upload files", removed)
    return removed
