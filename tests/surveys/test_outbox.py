"""The phone's outbox on the server: registrations made offline and visits sent exactly once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from surveys.models import Area, Observation, Resident, Visit
from surveys.pseudonyms import pseudonymize
from surveys.services import (
    ObservationInput,
    ResidentRegistration,
    outbox_visit_submit,
    resident_register_or_find,
)
from surveys.validation import ValidationProblem
from tests.conftest import client_for
from tests.i18n import t

TODAY = dt.date(2026, 11, 29)
STUDY_ID = "HW-OFF-0001"
LEAD = [ObservationInput("lab.blood_lead", "4.2", unit="µg/dL")]


def registration(area: Area, study_id: str = STUDY_ID, **overrides: Any) -> ResidentRegistration:
    fields: dict[str, Any] = {
        "study_id": study_id,
        "area": area,
        "birth_year": 1970,
        "sex": "F",
        "enrolled_on": dt.date(2025, 3, 1),
    }
    fields.update(overrides)
    return ResidentRegistration(**fields)


def submit(user: User, area: Area, key: uuid.UUID, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "user": user,
        "registration": registration(area),
        "visited_on": dt.date(2025, 4, 1),
        "observations": LEAD,
        "submission_key": key,
        "today": TODAY,
    }
    fields.update(overrides)
    return outbox_visit_submit(**fields)


@pytest.mark.django_db
def test_registering_offline_twice_finds_the_resident_the_first_registration_made(
    worker_a: User, area_a: Area
) -> None:
    typed = ResidentRegistration(
        study_id=STUDY_ID, area=area_a, birth_year=1970, sex="F", enrolled_on=dt.date(2025, 3, 1)
    )
    first, first_new = resident_register_or_find(user=worker_a, registration=typed, today=TODAY)
    again, again_new = resident_register_or_find(user=worker_a, registration=typed, today=TODAY)
    assert (first_new, again_new) == (True, False)
    assert first.pk == again.pk and Resident.objects.count() == 1


@pytest.mark.django_db
def test_a_study_id_registered_in_an_area_the_worker_cannot_see_is_refused_naming_the_field(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    submit(worker_b, area_b, uuid.uuid4(), registration=registration(area_b))
    with pytest.raises(ValidationProblem) as refused:
        submit(worker_a, area_a, uuid.uuid4())
    assert [e.field for e in refused.value.errors] == ["study_id"]
    assert Resident.objects.count() == 1 and Visit.objects.count() == 1


@pytest.mark.django_db
def test_two_phones_registering_the_same_study_id_offline_end_with_one_resident_and_both_visits(
    worker_a: User, area_a: Area, django_user_model: Any
) -> None:
    first = submit(worker_a, area_a, uuid.uuid4())
    second = submit(
        worker_a,
        area_a,
        uuid.uuid4(),
        visited_on=dt.date(2025, 4, 2),
        registration=registration(
            area_a,
            birth_year=1971,  # typed a little differently on the other phone
        ),
    )
    assert (first.resident_created, second.resident_created) == (True, False)
    assert first.resident.pk == second.resident.pk
    assert Resident.objects.get().birth_year == 1970
    assert Visit.objects.filter(resident=first.resident).count() == 2


@pytest.mark.django_db
def test_an_outbox_item_sent_again_returns_the_stored_visit_and_stores_nothing_more(
    worker_a: User, area_a: Area
) -> None:
    key = uuid.uuid4()
    first = submit(worker_a, area_a, key)
    again = submit(worker_a, area_a, key)
    assert first.visit_created and not again.visit_created
    assert again.visit.pk == first.visit.pk
    assert (Resident.objects.count(), Visit.objects.count(), Observation.objects.count()) == (
        1,
        1,
        1,
    )


@pytest.mark.django_db
def test_a_refused_visit_leaves_no_provisional_resident_behind(
    worker_a: User, area_a: Area
) -> None:
    with pytest.raises(ValidationProblem) as refused:
        submit(
            worker_a,
            area_a,
            uuid.uuid4(),
            observations=[ObservationInput("vital.bmi", "3", unit="kg/m2")],
        )
    assert [e.field for e in refused.value.errors] == ["vital.bmi.value"]
    assert Resident.objects.count() == 0 and Visit.objects.count() == 0


@pytest.mark.django_db
def test_an_outbox_item_needs_a_resident_or_a_registration_not_both(
    worker_a: User, area_a: Area
) -> None:
    resident = submit(worker_a, area_a, uuid.uuid4()).resident
    with pytest.raises(ValueError):
        submit(worker_a, area_a, uuid.uuid4(), resident=resident)


# --- The endpoint the phone sends to ------------------------------------------------------


def item(**overrides: str) -> dict[str, str]:
    data = {
        "register-study_id": STUDY_ID,
        "register-birth_year": "1970",
        "register-sex": "F",
        "register-enrolled_on": "2025-03-01",
        "register-smoking": "unknown",
        "visited_on": "2025-04-01",
        "checklist_asked": "on",
        "symptom.cough.value": "on",
        "lab.blood_lead.value": "4.2",
        "lab.blood_lead.unit": "µg/dL",
        "submission_key": str(uuid.uuid4()),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


@pytest.mark.django_db
def test_the_send_endpoint_stores_once_and_answers_a_repeat_with_the_stored_visit(
    worker_a: User, area_a: Area
) -> None:
    client = client_for(worker_a)
    body = item(**{"register-area": str(area_a.pk)})
    first = client.post(reverse("surveys:outbox_send"), body)
    again = client.post(reverse("surveys:outbox_send"), body)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["visit"] == again.json()["visit"]
    assert again.json()["stored_before"] is True
    assert Visit.objects.count() == 1
    resident = Resident.objects.get()
    assert resident.pseudonym == pseudonymize(STUDY_ID).value
    # The next item of that resident names it by number, as the phone does after the answer.
    later = item(resident=str(resident.pk), visited_on="2025-04-02")
    assert client.post(reverse("surveys:outbox_send"), later).status_code == 201
    assert Visit.objects.filter(resident=resident).count() == 2


@pytest.mark.django_db
def test_the_send_endpoint_refuses_with_each_field_named_and_labelled(
    worker_a: User, area_a: Area
) -> None:
    client = client_for(worker_a)
    body = item(**{"register-area": str(area_a.pk), "vital.bmi.value": "3"})
    body["register-birth_year"] = "1850"
    refused = client.post(reverse("surveys:outbox_send"), body)
    assert refused.status_code == 400
    errors = {e["field"]: e for e in refused.json()["errors"]}
    assert set(errors) == {"register-birth_year"}  # the form's check comes first
    assert errors["register-birth_year"]["label"] == t("Birth year")
    body["register-birth_year"] = "1970"
    refused = client.post(reverse("surveys:outbox_send"), body)
    errors = {e["field"]: e for e in refused.json()["errors"]}
    assert errors["vital.bmi.value"]["message"] == t(
        "%(value)s %(unit)s is outside the valid range for %(code)s (%(low)s–%(high)s %(unit)s).",
        value="3",
        unit="kg/m²",
        code="vital.bmi",
        low="8",
        high="100",
    )
    assert errors["vital.bmi.value"]["label"]
    assert Visit.objects.count() == 0 and Resident.objects.count() == 0


@pytest.mark.django_db
def test_the_send_endpoint_refuses_a_resident_of_another_area_and_an_item_without_key(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    theirs = submit(worker_b, area_b, uuid.uuid4(), registration=registration(area_b)).resident
    client = client_for(worker_a)
    refused = client.post(reverse("surveys:outbox_send"), item(resident=str(theirs.pk)))
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["resident"]
    keyless = item(**{"register-area": str(area_a.pk), "submission_key": ""})
    refused = client.post(reverse("surveys:outbox_send"), keyless)
    assert [e["field"] for e in refused.json()["errors"]] == ["submission_key"]
    assert Visit.objects.count() == 1


@pytest.mark.django_db
def test_the_service_worker_is_served_from_the_field_pages_and_not_cached(
    worker_a: User, area_a: Area
) -> None:
    response = client_for(worker_a).get(reverse("surveys:service_worker"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    assert b'addEventListener("fetch"' in response.content


@pytest.mark.parametrize(
    ("language", "pattern"),
    [
        ("en", "{Y}-{m}-{d}"),
        ("fr", "{d}/{m}/{Y}"),
        ("zh-hans", "{Y}年{n}月{j}日"),
        ("sw", "{d}/{m}/{Y}"),
    ],
)
def test_the_phone_is_told_how_the_readers_language_writes_a_day(
    worker_a: User, language: str, pattern: str
) -> None:
    """outbox.js fills this pattern from a waiting visit's ISO day, as the pages write dates."""
    client = client_for(worker_a)
    client.post("/i18n/setlang/", {"language": language, "next": "/"})
    page = client.get(reverse("surveys:workspace")).content.decode()
    texts = json.loads(
        page.split('id="outbox-text" type="application/json">')[1].split("</script>")[0]
    )
    assert texts["date_pattern"] == pattern


def test_a_date_format_naming_months_falls_back_to_iso_on_the_phone() -> None:
    from surveys.templatetags.outbox import date_pattern

    assert date_pattern(r"j \d\e F \d\e Y") == "{Y}-{m}-{d}"  # the script knows no month names
    assert date_pattern(r"d.m.Y \r") == "{d}.{m}.{Y} r"  # an escaped letter is kept
