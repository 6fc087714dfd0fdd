"""The Celery application shared by the web process, the workers and beat.

Tasks are thin (ids in, a service call) and re-runnable, so the app acknowledges late: a worker
killed mid-task leaves the message on the broker, and another worker runs it again. Each worker
process reserves one task at a time (prefetch 1), so a killed worker holds back one message, not
a batch. How soon a lost task comes back (the broker's visibility timeout, the run sweep and the
parts' heartbeats) is set in settings.py and explained in README, "Operations".
"""

from __future__ import annotations

import os

from celery import Celery

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
