"""Visits under retries on PostgreSQL: many requests carrying one Idempotency-Key at once."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from surveys import services
from surveys.models import Area, AreaAssignment, Visit

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 8


def test_simultaneous_requests_with_one_idempotency_key_store_one_visit_and_all_get_it(
    worker_a: User, vocabulary: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    area = Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)
    AreaAssignment.objects.create(user=worker_a, area=area)
    resident = services.resident_register(
        user=worker_a,
        study_id="A-1",
        area=area,
        birth_year=1970,
        sex="F",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )
    # Every request is held after its "is this key stored?" check until all have made it, so
    # all of them find nothing and insert at once: only the key's unique constraint decides.
    all_checked = threading.Barrier(REQUESTS, timeout=30)
    checked = services._submitted
    first_look = threading.local()

    def held(*args: Any, **kwargs: Any) -> Any:
        stored = checked(*args, **kwargs)
        if not getattr(first_look, "done", False):
            first_look.done = True
            all_checked.wait()
        return stored

    monkeypatch.setattr(services, "_submitted", held)
    key = str(uuid.uuid4())
    body = {
        "resident": resident.pk,
        "visited_on": "2024-04-01",
        "observations": [{"code": "symptom.cough", "value": True}],
    }
    answers: list[tuple[int, Any]] = []
    failures: list[BaseException] = []

    def post() -> None:
        try:
            client = APIClient()
            client.force_authenticate(worker_a)
            response = client.post("/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            answers.append((response.status_code, response.json()))
        except BaseException as error:  # the test reads it below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert sorted(code for code, _ in answers) == [200] * (REQUESTS - 1) + [201], answers
    assert len({answer["id"] for _, answer in answers}) == 1
    assert all(answer == answers[0][1] for _, answer in answers)
    assert Visit.objects.filter(submission_key=key).count() == 1
    assert Visit.objects.filter(resident=resident).count() == 1
