"""The integration world: PostgreSQL, Redis and a real Celery worker in its own process.

`make test` runs this folder with DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://….
Unreachable services skip the suite on a developer's machine and FAIL it when CI is set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.browser.conftest import browser  # noqa: F401 - the Chromium fixture
from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[2]


def _services_problem() -> str | None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return "the integration suite needs DATABASE_URL=postgres://… (see Makefile)"
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return "the integration suite needs CELERY_BROKER_URL=redis://… (see Makefile)"
    try:
        import psycopg

        psycopg.connect(
            host=db["HOST"] or "localhost",
            port=int(db["PORT"] or 5432),
            user=db["USER"],
            dbname="postgres",
            password=db["PASSWORD"] or None,
            connect_timeout=5,
        ).close()
    except Exception as error:
        return f"PostgreSQL unreachable: {error}"
    try:
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5).ping()
    except Exception as error:
        return f"Redis unreachable: {error}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if "tests/integration" in str(item.path)]
    if not mine:
        return
    problem = _services_problem()
    if problem is None:
        return
    if in_ci():
        raise pytest.UsageError(f"CI is set and {problem}; integration tests must run in CI.")
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=problem))


class WorkerProcess:
    """A `celery worker` subprocess against the test database and broker."""

    def __init__(self, database_url: str, log_path: Path, name: str) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_VISIBILITY_TIMEOUT": os.environ.get("CELERY_VISIBILITY_TIMEOUT", "10"),
            # A part redelivered after the visibility timeout must find its dead worker's
            # heartbeat stale, or it would leave the part to that worker.
            "HEALTHWATCH_PART_HEARTBEAT_SECONDS": "1",
            "HEALTHWATCH_PART_LOST_AFTER_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "healthwatch",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for_log("ready.", timeout=90)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker did not log {text!r}:\n{self.log_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="session")
def test_database_url(django_db_setup: Any, django_db_blocker: Any) -> str:
    db = settings.DATABASES["default"]
    with django_db_blocker.unblock():
        from django.db import connection

        name = connection.settings_dict["NAME"]
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture(scope="session")
def purged_broker() -> None:
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def start_worker(test_database_url: str, purged_broker: None, tmp_path: Path) -> Iterator[Any]:
    """Start one or more real workers; all are stopped after the test."""
    workers: list[WorkerProcess] = []

    def start(name: str = "worker") -> WorkerProcess:
        worker = WorkerProcess(test_database_url, tmp_path / f"{name}-{len(workers)}.log", name)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def worker(start_worker: Any) -> WorkerProcess:
    return start_worker()


@pytest.fixture
def vocabulary(vocabulary_and_groups: None) -> None:
    """The vocabulary and role groups, restored for transactional tests (tests/conftest.py)."""


@pytest.fixture
def residents(tiny_community: Path, vocabulary: None) -> Path:
    """The tiny community's sites, areas and residents (no observations yet)."""
    from django.core.management import call_command

    for kind in ("sites", "areas", "residents"):
        call_command("import_csv", kind, str(tiny_community / f"{kind}.csv"), verbosity=0)
    return tiny_community
