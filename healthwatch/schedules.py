"""Every periodic job of HealthWatch, in one place, read by `celery -A healthwatch beat`.

Entries name tasks by their dotted path so that this module imports nothing from the apps.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Liveness of the queue: a ping every 15 minutes shows on the admin system page when the
    # worker and beat are alive.
    "system-heartbeat": {
        "task": "healthwatch.tasks.heartbeat",
        "schedule": crontab(minute="*/15"),
    },
}
