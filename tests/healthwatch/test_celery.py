"""Delivery settings that make a killed worker's task come back within minutes (README,
"Operations"): the fault suite shows the behaviour; this pins the knobs it relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healthwatch import celery as worker_memory
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


def test_a_pool_process_left_large_by_a_task_hands_its_free_heap_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[int] = []
    monkeypatch.setattr(worker_memory, "_malloc_trim", lambda: trims.append(1))
    monkeypatch.setattr(worker_memory, "_resident_kib", lambda: worker_memory.TRIM_ABOVE_KIB + 1)
    worker_memory.give_memory_back(sender=None)
    assert trims == [1]
    monkeypatch.setattr(worker_memory, "_resident_kib", lambda: worker_memory.TRIM_ABOVE_KIB)
    worker_memory.give_memory_back(sender=None)
    assert trims == [1]  # a small process is left alone (the trim is not free)


def test_handing_the_heap_back_shrinks_a_process_that_held_a_large_frame() -> None:
    # a real measurement in a child process: ~300 MB of 1 KB blocks (malloc's heap, not
    # Python's small-object arenas), freed below a block still in use: malloc keeps the pages
    probe = (
        "from healthwatch import celery as c\n"
        "before = c._resident_kib()\n"
        "held = [bytes(1000) for _ in range(300_000)]\n"
        "pinned = bytes(1000)\n"
        "del held\n"
        "kept = c._resident_kib()\n"
        "c._malloc_trim()\n"
        "print(before, kept, c._resident_kib())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    before, kept, after = map(int, result.stdout.split())
    assert kept - before > 100_000  # the freed objects still count as resident (KiB)
    assert after - before < (kept - before) / 2


def test_a_pool_process_is_replaced_only_past_a_peak_no_analysis_reaches() -> None:
    from django.conf import settings

    # peaks measured at 100k residents: up to ~950 MB in one process (bench/results.md)
    assert settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD >= 1_200_000
    assert app.conf.worker_max_memory_per_child == settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD
