"""Field-data tasks. Thin: ids in, a service call (see healthwatch/celery.py for delivery)."""

from __future__ import annotations

from celery import shared_task

from surveys.importing import jobs


@shared_task(name="surveys.tasks.run_import")
def run_import(job_id: int) -> None:
    jobs.import_job_run(job_id=job_id)


@shared_task(name="surveys.tasks.sweep_upload_leftovers")
def sweep_upload_leftovers() -> int:
    """Hourly (healthwatch/schedules.py): upload files left by killed requests or workers."""
    return jobs.upload_leftovers_sweep()
