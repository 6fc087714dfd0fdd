"""Imports too big for a web request: the upload is kept in the database and a worker imports
it, reporting progress on the job's page.

A web worker then spends only the time of the upload; gunicorn's timeout no longer cuts an
import short (and leaves its temp file). The file is kept in 1 MiB chunks in the database, not
on a disk, because the web processes and the workers may be on different machines. The job is
idempotent: a redelivered job imports the file again, and the import lock plus "already
stored" make the second pass store nothing new.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from surveys.importing.core import import_csv, may_import
from surveys.models import ImportJob, ImportJobChunk, ImportJobErrorCode, ImportJobStatus
from surveys.services import AccessDenied

log = logging.getLogger("surveys.importing")
CHUNK_BYTES = 1024 * 1024
#: Progress is written at most this often (seconds): a chunk is validated in well under that.
PROGRESS_EVERY = 1.0


def import_job_submit(
    *, user: User, kind: str, upload: IO[bytes], file_name: str, size: int, dry_run: bool
) -> ImportJob:
    """Keep the upload and queue its import; a queue that cannot take it fails the job."""
    if not may_import(user, kind):
        raise AccessDenied(gettext("You may not import %(kind)s.") % {"kind": kind})
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind, file_name=file_name[:255], size=size, dry_run=dry_run, requested_by=user
        )
        seq = 0
        while piece := upload.read(CHUNK_BYTES):
            ImportJobChunk.objects.create(job=job, seq=seq, data=piece)
            seq += 1
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def refused_by_queue(job: ImportJob) -> bool:
    """Did the queue refuse the job (nothing imported: "upload again later")? A job that a
    fast worker already ran and failed is not that: its outcome is in its report."""
    return (
        job.status == ImportJobStatus.FAILED
        and job.error_code == ImportJobErrorCode.QUEUE_UNAVAILABLE
    )


def _enqueue(job_id: int) -> None:
    from surveys.tasks import run_import

    try:
        run_import.apply_async((job_id,))
    except Exception as error:  # kombu/redis connection errors
        log.error("import job %s not queued: %s", job_id, error)
        _finish(
            job_id,
            ImportJobStatus.FAILED,
            error=str(error),
            error_code=ImportJobErrorCode.QUEUE_UNAVAILABLE,
        )


def _finish(
    job_id: int, status: str, *, error: str = "", error_code: str = "", report: object = None
) -> None:
    from notifications.services import notify_import_failed

    with transaction.atomic():
        ImportJob.objects.filter(pk=job_id).update(
            status=status,
            error=error,
            error_code=error_code,
            report=report,
            finished_at=timezone.now(),
        )
        ImportJobChunk.objects.filter(job_id=job_id).delete()
        notify_import_failed(job_id=job_id)  # told only if it failed or refused its rows


def import_job_run(*, job_id: int) -> None:
    """Import the job's file (in a worker), then delete it. Idempotent.

    The report's reasons are worded in the requester's saved language (else the worker's)."""
    from healthwatch.i18n import in_saved_language

    job = ImportJob.objects.select_related("requested_by").get(pk=job_id)
    with in_saved_language(job.requested_by):
        _run(job)


def _run(job: ImportJob) -> None:
    from surveys.serializers import ImportReportSerializer

    job_id = job.pk
    if job.is_finished:
        return
    if not ImportJobChunk.objects.filter(job_id=job_id).exists() and job.size:
        _finish(
            job_id,
            ImportJobStatus.FAILED,
            error=gettext("The uploaded file is gone; upload it again."),
        )
        return
    # Compare-and-set: a message delivered again while a live worker imports the file (the
    # visibility timeout passed) leaves it alone; past the task time limit that worker is dead.
    now = timezone.now()
    dead = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(Q(status=ImportJobStatus.QUEUED) | Q(started_at__lt=dead))
        .exclude(status__in=(ImportJobStatus.DONE, ImportJobStatus.FAILED))
        .update(status=ImportJobStatus.RUNNING, started_at=now, rows_read=0)
    )
    if not claimed:
        return
    last = 0.0

    def progress(rows: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY:
            ImportJob.objects.filter(pk=job_id).update(rows_read=rows)
            last = time.monotonic()

    # The chunks are copied to a local spool file (removed whatever happens), so the import
    # reads a plain file and no database cursor stays open through it.
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        for data in (
            ImportJobChunk.objects.filter(job_id=job_id)
            .order_by("seq")
            .values_list("data", flat=True)
            .iterator(chunk_size=8)
        ):
            spool.write(data)
        spool.seek(0)
        try:
            report = import_csv(
                kind=job.kind,
                stream=spool,
                file_name=job.file_name,
                user=job.requested_by,
                dry_run=job.dry_run,
                progress=progress,
            )
        except AccessDenied as denied:
            _finish(job_id, ImportJobStatus.FAILED, error=str(denied))
            return
    ImportJob.objects.filter(pk=job_id).update(rows_read=report.rows)
    _finish(
        job_id, ImportJobStatus.DONE, report=dict(ImportReportSerializer(report.for_http()).data)
    )


def upload_leftovers_sweep(*, older_than: float | None = None) -> int:
    """Remove upload data nobody will read again; returns how many files and jobs were cleared.

    Django's spool files (FILE_UPLOAD_TEMP_DIR) of requests or workers that were killed, and
    jobs never started, or still "importing" past the task time limit (their worker lost), with
    their kept file.
    """
    age = settings.HEALTHWATCH_UPLOAD_LEFTOVER_SECONDS if older_than is None else older_than
    cutoff = time.time() - age
    removed = 0
    spool = Path(settings.FILE_UPLOAD_TEMP_DIR)
    for path in spool.glob("*") if spool.is_dir() else []:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    now = timezone.now()
    abandoned = ImportJob.objects.filter(
        Q(status=ImportJobStatus.QUEUED, created_at__lt=now - dt.timedelta(seconds=age))
        | Q(
            status=ImportJobStatus.RUNNING,
            started_at__lt=now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT),
        )
    )
    for job_id in abandoned.values_list("pk", flat=True):
        _finish(
            job_id,
            ImportJobStatus.FAILED,
            error=gettext("The import was lost; upload the file again."),
        )
        removed += 1
    if removed:
        log.warning("removed %d leftover uploads", removed)
    return removed
