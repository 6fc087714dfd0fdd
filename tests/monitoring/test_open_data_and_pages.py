"""The monitor's phone forms, the lab CSV upload, the public station page and the open data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime

from monitoring import services
from monitoring.models import Reading, Sample
from surveys.models import Medium, Station
from tests.conftest import client_for
from tests.i18n import dec, h, label_of, t
from tests.monitoring.conftest import publish
from tests.monitoring.datapackage import problems_of

pytestmark = pytest.mark.django_db


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


def record_and_validate(
    monitor: User, epidemiologist: User, station: Station, when: dt.datetime
) -> Reading:
    services.sample_record(
        user=monitor, code="S-1", station=station, collected_at=when, lab="Provincial lab",
        handed_at=when + dt.timedelta(minutes=10),
    )  # fmt: skip
    [reading] = services.lab_results_attach(
        user=epidemiologist,
        results=[services.LabResult("S-1", "fluoride", "2.4", "mg/L", lod="0.05", method="IC")],
        source="form",
    )
    services.reading_set_status(
        user=epidemiologist, reading=reading, status="validated", reason="QC passed"
    )
    return reading


def test_a_monitor_records_a_sample_through_the_phone_form_and_sees_it_in_their_list(
    monitor: User, water_station: Station
) -> None:
    client = client_for(monitor)
    response = client.post(
        "/monitoring/my/samples/new/",
        {
            "code": "W-0001",
            "station": water_station.pk,
            "collected_at": "2026-01-05T09:30",
            "container": "HDPE bottle",
            "preservation": "cooled",
            "lab": "Provincial lab",
            "handed_at": "2026-01-05T11:00",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert b"W-0001" in response.content
    assert Sample.objects.get(code="W-0001").community_collected


def test_the_sample_form_shows_the_services_errors_next_to_the_fields(
    monitor: User, water_station: Station
) -> None:
    response = client_for(monitor).post(
        "/monitoring/my/samples/new/", {"code": "X", "collected_at": "2026-01-05T09:30"}
    )
    assert response.status_code == 400
    assert b'data-error-for="station"' in response.content


def test_a_lab_csv_upload_with_a_bad_row_lists_row_and_field_and_attaches_nothing(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    services.sample_record(
        user=monitor, code="S-1", station=water_station, collected_at=an_hour_ago
    )
    body = b"sample_id,pollutant,value,unit\nS-1,fluoride,2.4,mg/L\nS-2,fluoride,1,mg/L\n"
    response = client_for(epidemiologist).post(
        "/monitoring/lab-results/", {"file": SimpleUploadedFile("lab.csv", body)}
    )
    assert response.status_code == 400
    assert b"row 2: sample_id" in response.content
    assert not Reading.objects.exists()


def test_the_lab_results_api_attaches_all_rows_or_none(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    services.sample_record(
        user=monitor, code="S-1", station=water_station, collected_at=an_hour_ago
    )
    client = client_for(epidemiologist)
    bad = [
        {"sample_id": "S-1", "pollutant": "fluoride", "value": "1", "unit": "mg/L"},
        {"sample_id": "S-1", "pollutant": "lead", "value": "x", "unit": "µg/L"},
    ]
    response = client.post("/api/v1/lab-results/", bad, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "row 2: value"
    assert not Reading.objects.exists()
    response = client.post("/api/v1/lab-results/", bad[:1], content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [[1], [[]], 7, '"S-1"', [{"sample_id": "S-1"}, 3], {"value": {"nested": 1}}, [None]],
)
def test_the_lab_results_api_answers_any_malformed_body_with_a_400_that_names_the_problem(
    body: Any, epidemiologist: User
) -> None:
    # Found by schemathesis: a list of numbers made the error formatting fail with a 500.
    response = client_for(epidemiologist).post(
        "/api/v1/lab-results/", body, content_type="application/json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and all(e["field"] and e["message"] for e in errors)
    assert not Reading.objects.exists()


def test_the_public_station_page_shows_the_validated_exceedance_its_history_and_custody(
    monitor: User,
    water_station: Station,
    epidemiologist: User,
    anonymous: Client,
    an_hour_ago: dt.datetime,
) -> None:
    reading = record_and_validate(monitor, epidemiologist, water_station, an_hour_ago)
    publish()
    page = anonymous.get("/monitoring/stations/W-01/").content.decode()
    line = h(
        "%(pollutant)s on %(date)s was %(value)s %(unit)s: %(times)s times the %(source)s "
        "value of %(limit)s %(unit)s (%(averaging)s) (%(status)s).",
        pollutant=label_of("fluoride"),
        date=date_format(localtime(reading.measured_at).date(), "SHORT_DATE_FORMAT"),
        value=dec("2.4"),
        unit="mg/L",
        times=dec("1.6"),  # 2.4 / 1.5, in the reader's notation
        source="WHO guidelines for drinking-water quality (4th ed.)",  # a citation: as titled
        limit=dec("1.5"),
        averaging=t("single sample"),
        status=t("validated"),
    )
    assert line in page
    assert "data-validated-exceedance" in page
    assert "QC passed" in page  # the history's reason
    assert h("Handed to the lab") in page  # a custody step, as a label
    assert h("Community monitor") in page and "ana_sampler" not in page  # a role, not a name
    assert "<svg" in page


def test_the_open_data_zip_holds_every_version_and_status_and_its_datapackage_validates(
    monitor: User,
    water_station: Station,
    epidemiologist: User,
    anonymous: Client,
    an_hour_ago: dt.datetime,
) -> None:
    reading = record_and_validate(monitor, epidemiologist, water_station, an_hour_ago)
    services.reading_correct(
        user=epidemiologist, reading=reading, value="2.5", unit="mg/L", reason="re-run"
    )
    services.sensor_reading_record(
        user=monitor,
        station=water_station,
        measured_at=an_hour_ago,
        pollutant="fluoride",
        value="0.3",
        unit="mg/L",
    )
    publish()
    response = anonymous.get("/monitoring/open-data.zip")
    assert response.status_code == 200
    assert problems_of(response.content) == []
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    descriptor = json.loads(archive.read("datapackage.json"))
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    readings = _csv(archive, "readings.csv")
    assert len(readings) == 3
    old, new = (r for r in readings if r["sample_id"] == "S-1")
    assert (old["status"], old["status_reason"], old["corrected_by"]) == (
        "validated",
        "QC passed",
        new["reading_id"],
    )
    assert new["corrects"] == old["reading_id"] and new["status"] == "preliminary"
    assert {r["collector_role"] for r in readings} == {"community_monitor"}
    history = [(h["reading_id"], h["status"]) for h in _csv(archive, "reading_status_history.csv")]
    assert (old["reading_id"], "preliminary") in history
    assert (old["reading_id"], "validated") in history
    steps = [c["step"] for c in _csv(archive, "custody.csv")]
    assert steps[:2] == ["collected", "handed_to_lab"] and "validated" in steps
    raw = b"".join(archive.read(n) for n in archive.namelist())
    assert b"ana_sampler" not in raw  # never a username


def test_a_public_complaint_is_shown_only_after_moderation(
    anonymous: Client, community_reviewer: User
) -> None:
    response = anonymous.post(
        "/monitoring/complaints/new/",
        {
            "kind": "water_colour",
            "description": "The stream turned orange",
            "place": "Culvert under the road",
            "occurred_at": "2026-01-04T17:00",
        },
    )
    assert response.status_code == 302
    publish()
    assert b"turned orange" not in anonymous.get("/monitoring/").content
    client = client_for(community_reviewer)
    page = client.get("/monitoring/complaints/").content.decode()
    assert h("Odd water colour") in page
    assert (
        h(  # the moderators' privacy rule
            "Do not show a report whose place or description names a person or a home address: "
            "the public sees the text as written (a GPS point only rounded to about 1 km)."
        )
        in page
    )
    from monitoring.models import Complaint

    complaint = Complaint.objects.get()
    client.post("/monitoring/complaints/", {"complaint": complaint.pk, "action": "approve"})
    publish()
    assert b"turned orange" in anonymous.get("/monitoring/").content


def test_the_public_station_page_is_in_the_readers_language_whatever_the_workers(
    monitor: User,
    water_station: Station,
    epidemiologist: User,
    anonymous: Client,
    an_hour_ago: dt.datetime,
) -> None:
    record_and_validate(monitor, epidemiologist, water_station, an_hour_ago)
    with translation.override("en"):  # the worker that writes the snapshot reads English
        publish()
    for language in ("fr", "zh-hans", "sw"):
        anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        page = anonymous.get("/monitoring/stations/W-01/").content.decode()
        listing = anonymous.get("/monitoring/").content.decode()
        with translation.override(language):
            assert h(label_of("fluoride")) in page and ">Fluoride<" not in page
            assert h("Validated exceedance") in page and h("Handed to the lab") in page
            assert h(str(Medium.WATER.label)) in listing
