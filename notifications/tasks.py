"""Notification tasks. Thin: an id in, a service call. A send that failed is tried again by
the sweep when its back-off is over (the row holds the time); the row's claim makes a
redelivered or repeated message send nothing twice."""

from __future__ import annotations

from celery import shared_task
from celery.app.task import Task
from django.db import InterfaceError, OperationalError

from notifications import services

TRANSIENT = (OperationalError, InterfaceError)


@shared_task(
    bind=True,
    name="notifications.tasks.send_notification",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=10,
)
def send_notification(self: Task, notification_id: int) -> str:  # type: ignore[type-arg]
    return services.notification_send(notification_id=notification_id).value


@shared_task(name="notifications.tasks.sweep_notifications")
def sweep_notifications() -> int:
    """Every five minutes (healthwatch/schedules.py): queue again what no worker took and the
    failed sends whose back-off is over."""
    return services.notifications_sweep()
