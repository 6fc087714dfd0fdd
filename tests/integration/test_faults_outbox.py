"""Two phones send the same offline registration at once, on PostgreSQL: one resident."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from healthwatch.roles import Role
from surveys import services
from surveys.models import Area, AreaAssignment, Resident, Visit
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)
PHONES = 2


def test_two_phones_registering_one_study_id_at_once_end_with_one_resident_and_both_visits(
    worker_a: User, vocabulary: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    area = Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)
    colleague = make_user("worker_a2", Role.HEALTH_WORKER)
    for user in (worker_a, colleague):
        AreaAssignment.objects.create(user=user, area=area)
    # Each phone's first "is this study ID registered?" is held until both have asked, so both
    # find nothing and both insert: only the pseudonym's unique constraint decides.
    all_looked = threading.Barrier(PHONES, timeout=30)
    looked = services._visible_resident
    first_look = threading.local()

    def held(*args: Any, **kwargs: Any) -> Any:
        found = looked(*args, **kwargs)
        if not getattr(first_look, "done", False):
            first_look.done = True
            all_looked.wait()
        return found

    monkeypatch.setattr(services, "_visible_resident", held)
    results: list[services.OutboxResult] = []
    failures: list[BaseException] = []

    def send(user: User, day: int) -> None:
        try:
            results.append(
                services.outbox_visit_submit(
                    user=user,
                    registration=services.ResidentRegistration(
                        study_id="SAME-ID-1",
                        area=area,
                        birth_year=1970,
                        sex="F",
                        enrolled_on=dt.date(2024, 1, 10),
                    ),
                    visited_on=dt.date(2024, 4, day),
                    observations=[services.ObservationInput("symptom.cough", "yes")],
                    submission_key=uuid.uuid4(),
                )
            )
        except BaseException as error:  # the test reads it below
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=(user, day))
        for user, day in ((worker_a, 1), (colleague, 2))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert sorted(r.resident_created for r in results) == [False, True]
    assert Resident.objects.count() == 1
    resident = Resident.objects.get()
    assert sorted(str(v.visited_on) for v in Visit.objects.filter(resident=resident)) == [
        "2024-04-01",
        "2024-04-02",
    ]
