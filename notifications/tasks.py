"""Notification tasks. Thin: an id in, a service call. A send that failed is retried with
back-off; the row's claim makes a redelivered or retried message send nothing twice."""

from __future__ import annotations

from celery import shared_task
from celery.app.task import Task
from django.db import InterfaceError, OperationalError

from notifications import services

TRANSIENT = (OperationalError, InterfaceError)
RETRY_COUNTDOWNS = (30, 120, 600, 1800, 3600)


@shared_task(
    bind=True,
    name="notifications.tasks.send_notification",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=10,
)
def send_notification(self: Task, notification_id: int) -> str:  # type: ignore[type-arg]
    outcome = services.notification_send(notification_id=notification_id)
    if outcome is services.SendOutcome.RETRY:
        countdown = RETRY_COUNTDOWNS[min(self.request.retries, len(RETRY_COUNTDOWNS) - 1)]
        raise self.retry(countdown=countdown, max_retries=len(RETRY_COUNTDOWNS) * 2)
    return outcome.value


@shared_task(name="notifications.tasks.sweep_notifications")
def sweep_notifications() -> int:
    """Every five minutes (healthwatch/schedules.py): queue again what no worker took."""
    return services.notifications_sweep()
