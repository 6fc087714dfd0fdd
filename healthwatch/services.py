"""Writes of the core package (queue health)."""

from __future__ import annotations

import os
import socket

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from healthwatch.models import QueuePing


def queue_ping_request(*, requested_by: AbstractBaseUser | None) -> QueuePing:
    """Record a ping and enqueue its execution once the row is committed."""
    from healthwatch.tasks import execute_ping

    with transaction.atomic():
        ping = QueuePing.objects.create(requested_by=requested_by)  # type: ignore[misc]
        transaction.on_commit(lambda: execute_ping.delay(ping.pk))
    return ping


def queue_ping_execute(*, ping_id: int) -> None:
    """Mark a ping executed by this process. Re-running it only refreshes the stamp."""
    QueuePing.objects.filter(pk=ping_id).update(
        executed_at=timezone.now(), worker_hostname=socket.gethostname(), worker_pid=os.getpid()
    )
