"""Reports tasks. Thin: a service call."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from reports import services


@shared_task(
    name="reports.tasks.refresh_open_data",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def refresh_open_data() -> None:
    services.open_data_snapshot_create()


@shared_task(
    name="reports.tasks.build_release",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def build_release(build_id: int) -> None:
    services.release_build_execute(build_id)


@shared_task(name="reports.tasks.sweep_builds")
def sweep_builds() -> None:
    """Every minute (healthwatch/schedules.py): re-queue or fail builds lost workers left."""
    services.release_builds_sweep()
