"""Web request → Redis → a separate worker process → PostgreSQL."""

import os
import time

import pytest
from django.contrib.auth.models import User
from django.db import connection

from healthwatch.models import QueuePing
from tests.conftest import client_for
from tests.i18n import bt
from tests.integration.conftest import WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until_executed(ping: QueuePing, timeout: float = 60) -> QueuePing:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ping.refresh_from_db()
        if ping.executed_at is not None:
            return ping
        time.sleep(0.2)
    raise AssertionError("the worker never executed the ping")


def test_the_suite_really_runs_on_postgresql() -> None:
    assert connection.vendor == "postgresql"


def test_a_task_enqueued_by_a_web_request_runs_in_a_separate_worker_process(
    admin_user: User, worker: WorkerProcess
) -> None:
    response = client_for(admin_user).post("/system/")
    assert response.status_code == 302

    ping = QueuePing.objects.get()
    assert ping.requested_by == admin_user
    executed = wait_until_executed(ping)

    assert executed.worker_pid not in (None, os.getpid())
    assert "healthwatch.tasks.execute_ping" in worker.log_text()
    page = client_for(admin_user).get("/system/").content.decode()
    assert bt("pid %(pid)s", pid=executed.worker_pid) in page
