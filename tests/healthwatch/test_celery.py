"""Delivery settings that make a killed worker's task come back within minutes (README,
"Operations"): the fault suite shows the behaviour; this pins the knobs it relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from healthwatch.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_tasks_are_acknowledged_late_one_at_a_time_and_requeued_when_a_worker_dies() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_a_redis_broker_redelivers_an_unacknowledged_task_within_ten_minutes() -> None:
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "healthwatch.settings",
            "HEALTHWATCH_ENV_FILE": "/nonexistent/.env",
            "DEBUG": "true",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Longer than the after-import debounce (120 s countdown), at most ten minutes.
    assert 120 < int(result.stdout.strip()) <= 600
