"""The community monitor's forms through the phone's outbox: each form carries a one-time
submission key, so a double tap or a resend after a lost answer stores one sample or reading;
the forms answer the outbox in JSON (201 stored, 200 stored before, 400 refused with labels)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User

from monitoring import services
from monitoring.models import CustodyEvent, Reading, Sample
from surveys.models import Station
from tests.conftest import client_for
from tests.i18n import t

pytestmark = pytest.mark.django_db

SAMPLE_URL = "/monitoring/my/samples/new/"
READING_URL = "/monitoring/my/readings/new/"
AS_OUTBOX = {"Accept": "application/json"}


def sample_fields(station: Station, key: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "code": "W-0001",
        "station": station.pk,
        "collected_at": "2026-01-05T09:30",
        "container": "HDPE bottle",
        "lab": "Provincial lab",
        "handed_at": "2026-01-05T11:00",
        "submission_key": str(key),
        **changes,
    }


def test_the_sample_form_carries_a_new_submission_key_each_time_it_is_shown(
    monitor: User,
) -> None:
    client = client_for(monitor)
    first = client.get(SAMPLE_URL).context["form"]["submission_key"].value()
    second = client.get(SAMPLE_URL).context["form"]["submission_key"].value()
    assert first and second and first != second


def test_a_double_tap_on_the_plain_sample_form_stores_one_sample(
    monitor: User, water_station: Station
) -> None:
    client = client_for(monitor)
    fields = sample_fields(water_station, uuid.uuid4())
    assert client.post(SAMPLE_URL, fields).status_code == 302
    assert client.post(SAMPLE_URL, fields).status_code == 302  # not "already recorded"
    assert Sample.objects.count() == 1
    assert CustodyEvent.objects.count() == 2  # collected, handed to the lab: once each


def test_an_outbox_resend_is_answered_with_the_stored_sample_and_stores_nothing_more(
    monitor: User, water_station: Station
) -> None:
    client = client_for(monitor)
    fields = sample_fields(water_station, uuid.uuid4())
    first = client.post(SAMPLE_URL, fields, headers=AS_OUTBOX)
    assert first.status_code == 201
    assert first.json() == {"sample": "W-0001", "stored_before": False}
    again = client.post(SAMPLE_URL, fields, headers=AS_OUTBOX)
    assert again.status_code == 200 and again.json()["stored_before"] is True
    assert Sample.objects.count() == 1


def test_a_key_reused_for_another_sample_is_refused_and_stores_nothing(
    monitor: User, water_station: Station
) -> None:
    client = client_for(monitor)
    key = uuid.uuid4()
    client.post(SAMPLE_URL, sample_fields(water_station, key), headers=AS_OUTBOX)
    other = client.post(
        SAMPLE_URL, sample_fields(water_station, key, code="W-0002"), headers=AS_OUTBOX
    )
    assert other.status_code == 400
    assert other.json()["errors"][0]["message"] == t(
        "This submission key was already used for a different entry: open the form again for a "
        "new entry."
    )
    assert list(Sample.objects.values_list("code", flat=True)) == ["W-0001"]


def test_a_refused_outbox_sample_names_the_field_by_its_label(
    monitor: User, water_station: Station
) -> None:
    fields = sample_fields(water_station, uuid.uuid4(), collected_at="2999-01-01T09:00")
    refused = client_for(monitor).post(SAMPLE_URL, fields, headers=AS_OUTBOX)
    assert refused.status_code == 400
    errors = {(e["field"], e["label"]) for e in refused.json()["errors"]}
    assert ("collected_at", t("Collected at")) in errors
    assert not Sample.objects.exists()


def test_an_outbox_item_without_its_key_is_refused(monitor: User, water_station: Station) -> None:
    fields = sample_fields(water_station, uuid.uuid4())
    del fields["submission_key"]
    refused = client_for(monitor).post(SAMPLE_URL, fields, headers=AS_OUTBOX)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == t("An outbox item needs its submission key.")
    assert not Sample.objects.exists()


def test_a_sensor_reading_sent_twice_with_its_key_is_stored_once(
    monitor: User, water_station: Station, vocabulary_and_groups: None
) -> None:
    client = client_for(monitor)
    fields = {
        "station": water_station.pk,
        "measured_at": "2026-01-05T09:30",
        "pollutant": "fluoride",
        "value": "0.8",
        "unit": "mg/L",
        "submission_key": str(uuid.uuid4()),
    }
    assert client.post(READING_URL, fields, headers=AS_OUTBOX).status_code == 201
    assert client.post(READING_URL, fields, headers=AS_OUTBOX).status_code == 200
    assert client.post(READING_URL, fields).status_code == 302  # a plain double tap too
    assert Reading.objects.count() == 1


def test_a_correction_of_a_keyed_reading_is_a_new_version_without_the_forms_key(
    monitor: User, water_station: Station, epidemiologist: User, vocabulary_and_groups: None
) -> None:
    key = uuid.uuid4()
    reading = services.sensor_reading_record(
        user=monitor,
        station=water_station,
        measured_at=Reading._meta.get_field("measured_at").to_python("2026-01-05T09:30Z"),
        pollutant="fluoride",
        value="0.8",
        unit="mg/L",
        submission_key=key,
    )
    new = services.reading_correct(
        user=epidemiologist, reading=reading, value="0.9", unit="mg/L", reason="typo"
    )
    assert new.corrects == reading and new.submission_key is None
    assert Reading.objects.get(submission_key=key) == reading


def test_the_monitors_pages_have_their_own_offline_worker(monitor: User) -> None:
    response = client_for(monitor).get("/monitoring/my/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    page = client_for(monitor).get("/monitoring/my/").content.decode()
    assert 'data-sw-url="/monitoring/my/sw.js"' in page and "outbox.js" in page
    texts = json.loads(
        page.split('id="outbox-text" type="application/json">')[1].split("</script>")[0]
    )
    assert texts["waiting_one"] == t(
        "1 entry waiting to be sent."
    )  # the monitor's wording  # the monitor's wording, not "visit"
