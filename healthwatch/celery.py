"""The Celery application shared by the web process, the workers and beat.

Tasks are thin (ids in, a service call) and re-runnable, so the app acknowledges late: a worker
killed mid-task leaves the message on the broker, and another worker runs it again. Each worker
process reserves one task at a time (prefetch 1), so a killed worker holds back one message, not
a batch. How soon a lost task comes back (the broker's visibility timeout, the run sweep and the
parts' heartbeats) is set in settings.py and explained in README, "Operations".
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun

from healthwatch.schedules import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")

app = Celery("healthwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    broker_connection_retry_on_startup=True,
    # A broker that is down fails the publishing request within seconds (the run is marked
    # failed with the reason, the person is told) instead of holding a web worker.
    broker_connection_timeout=5,
    task_publish_retry_policy={
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 1,
    },
    worker_hijack_root_logger=False,
    beat_schedule=BEAT_SCHEDULE,
)
app.autodiscover_tasks()


#: A pool process above this resident size after a task gives its heap's free pages back.
TRIM_ABOVE_KIB = 384 * 1024


def _resident_kib() -> int:
    with open("/proc/self/statm") as statm:  # pages: size, resident, …
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _malloc_trim() -> None:
    """Give the C heap's free pages back to the system (glibc only; elsewhere nothing)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


@task_postrun.connect
def give_memory_back(**_: Any) -> None:
    """After a task that grew the pool process (an analysis part holds the whole data), hand the
    freed heap back to the system (~10 ms): measured at 100k residents, a process that ended a
    part at 370–440 MB resident is back at ~260 MB, what a fresh process holds. This keeps a
    worker from holding a part's peak between tasks without replacing the process after every
    large task, which billiard does by *peak* size (ru_maxrss, CELERY_WORKER_MAX_MEMORY_PER_CHILD):
    1.5–4.5 s per replacement (it waits a second before exiting, then forks), on the critical
    path of every run (issue #20)."""
    try:
        if _resident_kib() > TRIM_ABOVE_KIB:
            _malloc_trim()
    except (OSError, ValueError):
        pass
