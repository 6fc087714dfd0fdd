"""Monitoring tasks. Thin: a service call."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from monitoring import publishing


@shared_task(
    name="monitoring.tasks.refresh_public",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def refresh_public() -> None:
    """Stations added or edited in the field app reach the public pages (monitoring writes
    refresh the snapshot themselves)."""
    with transaction.atomic():
        publishing.public_snapshot_refresh()
