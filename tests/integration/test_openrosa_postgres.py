"""ODK Collect resending one instance while the first send is still in flight, on PostgreSQL:
both sends are answered success and one visit is stored (the instanceID is the submission key;
the key's unique constraint decides the race)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from surveys.models import Area, AreaAssignment, Observation, Resident, Visit
from tests.openrosa.odk import blank_form, fill, submit
from tests.openrosa.test_openrosa_protocol import new_resident_visit

pytestmark = pytest.mark.django_db(transaction=True)
SENDS = 3


def test_the_same_instance_sent_at_once_stores_one_visit_and_answers_success_to_each_send(
    worker_a: User, vocabulary: None
) -> None:
    area = Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)
    AreaAssignment.objects.create(user=worker_a, area=area)
    xml = fill(blank_form(Client(), "worker_a"), new_resident_visit(), instance_id=uuid.uuid4())
    start = threading.Barrier(SENDS, timeout=30)
    statuses: list[int] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            start.wait()
            response: Any = submit(Client(), "worker_a", xml)
            statuses.append(response.status_code)
        except BaseException as error:  # the test reads it below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(SENDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert statuses == [201] * SENDS
    assert Resident.objects.count() == 1 and Visit.objects.count() == 1
    assert Observation.objects.count() == 14
