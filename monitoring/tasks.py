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
def refresh_public(demand_id: int | None = None) -> None:
    """A new public snapshot after a monitoring write (its demand id), or unconditionally (None:
    the nightly run picks up stations added or edited in the field app). Idempotent: a demand a
    later refresh covered is a no-op, so redelivery (acks_late) costs nothing."""
    with transaction.atomic():
        publishing.public_snapshot_serve(demand_id)


@shared_task(
    name="monitoring.tasks.sweep_public",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def sweep_public() -> None:
    """Refresh the snapshot for writes whose task the job queue never got (it was down)."""
    with transaction.atomic():
        publishing.public_snapshot_sweep()
