"""Core tasks. Thin: ids in, a service call."""

from __future__ import annotations

from celery import shared_task

from healthwatch import services


@shared_task(name="healthwatch.tasks.execute_ping")
def execute_ping(ping_id: int) -> None:
    services.queue_ping_execute(ping_id=ping_id)


@shared_task(name="healthwatch.tasks.heartbeat")
def heartbeat() -> None:
    ping = services.queue_ping_request(requested_by=None)
    services.queue_ping_execute(ping_id=ping.pk)
