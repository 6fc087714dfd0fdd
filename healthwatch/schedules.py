"""Every periodic job of HealthWatch, in one place, read by `celery -A healthwatch beat`.

Entries name tasks by their dotted path so that this module imports nothing from the apps.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # The standard analysis suite every night; on unchanged data it reuses the stored results.
    "analytics-nightly-run": {
        "task": "analytics.tasks.nightly_run",
        "schedule": crontab(hour="2", minute="30"),
    },
    # Open environmental data is also refreshed after each import of measurements.
    "reports-open-data-nightly": {
        "task": "reports.tasks.refresh_open_data",
        "schedule": crontab(hour="3", minute="0"),
    },
    # Community monitoring's public snapshot (each write enqueues its refresh; this picks up
    # stations added in the field app).
    "monitoring-public-nightly": {
        "task": "monitoring.tasks.refresh_public",
        "schedule": crontab(hour="3", minute="10"),
    },
    # Monitoring writes whose refresh the queue did not take (it was down) reach the public
    # pages within minutes of its return; cheap when nothing is owed.
    "monitoring-public-sweep": {
        "task": "monitoring.tasks.sweep_public",
        "schedule": 120.0,
    },
    # Runs and parts left behind by a lost worker or a lost message are sent again (up to
    # HEALTHWATCH_RUN_MAX_ATTEMPTS) or failed with the reason; cheap when there is nothing to do.
    "analytics-sweep-runs": {
        "task": "analytics.tasks.sweep_runs",
        "schedule": 60.0,
    },
    # Report builds left behind by a lost worker or message, likewise.
    "reports-sweep-builds": {
        "task": "reports.tasks.sweep_builds",
        "schedule": 60.0,
    },
    # Upload files left behind by a killed web request or worker.
    "surveys-sweep-upload-leftovers": {
        "task": "surveys.tasks.sweep_upload_leftovers",
        "schedule": crontab(minute="17"),
    },
    # Notifications no worker took (the queue was down, a worker died mid-send) are queued
    # again; each is claimed before it is sent, so none goes out twice.
    "notifications-sweep": {
        "task": "notifications.tasks.sweep_notifications",
        "schedule": 300.0,
    },
    # Liveness of the queue: a ping every 15 minutes shows on the admin system page when the
    # worker and beat are alive.
    "system-heartbeat": {
        "task": "healthwatch.tasks.heartbeat",
        "schedule": crontab(minute="*/15"),
    },
}
