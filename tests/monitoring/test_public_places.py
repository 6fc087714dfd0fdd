"""A complaint's GPS point (and a sample taken there) never reaches the public finer than the
documented grid (monitoring.places): not in the pages, the snapshot's JSON nor the open data."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pytest
from django.contrib.auth.models import User
from django.test import Client

from monitoring import services
from monitoring.models import PublicSnapshot, Sample
from monitoring.places import public_coordinate
from surveys.models import Station
from tests.conftest import client_for
from tests.i18n import dec
from tests.monitoring.conftest import publish

pytestmark = pytest.mark.django_db

# Where the complainant stood (their doorstep), to the metre.
EXACT_LAT, EXACT_LON = -12.345678, 45.678912


def _numbers_near_the_point(text: str) -> set[str]:
    """Every number in `text` that starts like the exact point's coordinates."""
    return set(re.findall(r"(?<![\d:.])-?(?:12|45)\.\d+", text))  # not a time's seconds


def _finer_than_the_grid(text: str) -> set[str]:
    return {n for n in _numbers_near_the_point(text) if len(n.split(".")[1]) > 2}


@pytest.fixture
def complaint_checked_by_a_sample(
    monitor: User,
    epidemiologist: User,
    community_reviewer: User,
    water_station: Station,
    an_hour_ago: dt.datetime,
) -> Sample:
    complaint = services.complaint_submit(
        kind="dead_fish",
        description="Dead fish behind the school",
        place="Behind the school",
        occurred_at=an_hour_ago,
        latitude=EXACT_LAT,
        longitude=EXACT_LON,
        address="203.0.113.9",
    )
    services.complaint_moderate(user=community_reviewer, complaint=complaint, approve=True)
    sample = services.sample_record(
        user=monitor,
        code="C-1",
        station=None,
        latitude=EXACT_LAT,
        longitude=EXACT_LON,
        medium="water",
        collected_at=an_hour_ago,
        lab="Provincial lab",
        handed_at=an_hour_ago + dt.timedelta(minutes=5),
        complaint=complaint,
    )
    [reading] = services.lab_results_attach(
        user=epidemiologist,
        results=[services.LabResult("C-1", "fluoride", "2.4", "mg/L", method="IC")],
        source="form",
    )
    services.reading_set_status(
        user=epidemiologist, reading=reading, status="validated", reason="QC passed"
    )
    publish()
    return sample


def test_a_coordinate_is_snapped_to_the_hundredth_of_a_degree() -> None:
    assert public_coordinate(EXACT_LAT) == -12.35
    assert public_coordinate(EXACT_LON) == 45.68
    assert public_coordinate(-0.004) == 0.0 and str(public_coordinate(-0.004)) == "0.0"
    assert public_coordinate(None) is None


def test_the_exact_point_of_a_complaint_appears_in_no_public_page(
    complaint_checked_by_a_sample: Sample, anonymous: Client
) -> None:
    pages = [anonymous.get("/monitoring/"), anonymous.get("/monitoring/complaints/new/")]
    pages += [anonymous.get(f"/monitoring/stations/{s.code}/") for s in Station.objects.all()]
    html = "".join(page.content.decode() for page in pages)
    assert all(page.status_code == 200 for page in pages)
    assert "Dead fish behind the school" in html  # the complaint is public ...
    assert _finer_than_the_grid(html) == set()  # ... its point is not


def test_the_exact_point_appears_in_no_file_of_the_open_data_zip_but_its_grid_cell_does(
    complaint_checked_by_a_sample: Sample, anonymous: Client
) -> None:
    response = anonymous.get("/monitoring/open-data.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    texts = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    for name, text in texts.items():
        assert _finer_than_the_grid(text) == set(), name
        assert "345678" not in text and "678912" not in text, name
    assert {"-12.35", "45.68"} <= _numbers_near_the_point(texts["samples.csv"])
    assert {"-12.35", "45.68"} <= _numbers_near_the_point(texts["readings.csv"])
    assert "0.01 degree grid" in texts["datapackage.json"]


def test_the_public_snapshot_json_holds_no_exact_point(
    complaint_checked_by_a_sample: Sample,
) -> None:
    snapshot = PublicSnapshot.objects.order_by("-id").first()
    assert snapshot is not None
    stored = json.dumps([snapshot.stations, snapshot.complaints])
    assert _finer_than_the_grid(stored) == set()


def test_staff_keep_the_exact_point(
    complaint_checked_by_a_sample: Sample, epidemiologist: User
) -> None:
    sample = Sample.objects.get(code="C-1")
    assert (sample.latitude, sample.longitude) == (EXACT_LAT, EXACT_LON)
    assert sample.complaint is not None
    assert (sample.complaint.latitude, sample.complaint.longitude) == (EXACT_LAT, EXACT_LON)
    [reading] = sample.readings.all()
    services.reading_correct(
        user=epidemiologist, reading=reading, value="2.5", unit="mg/L", reason="re-run"
    )
    queue = client_for(epidemiologist).get("/monitoring/validation/").content.decode()
    assert dec("-12.345678") in queue  # the validator sees where exactly it was taken
