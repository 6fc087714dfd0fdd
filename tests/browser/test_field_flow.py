"""A health worker on a 360 px phone: find (register) a resident by study ID, record a visit,
see the validation message next to the wrong value, fix it, save, find it in "my recent visits".
No JavaScript of ours is involved: these are plain HTML forms."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from surveys import services
from surveys.models import (
    Area,
    AreaAssignment,
    Observation,
    ProductionSite,
    Resident,
    Station,
    Visit,
)
from surveys.pseudonyms import pseudonymize
from surveys.services import ObservationInput
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

STUDY_ID = "HW-PHONE-0360"
LEAD = '[name="lab.blood_lead.value"]'
# Set to a folder to keep screenshots of the flow (e.g. /tmp) for a human to look at.
SCREENSHOT_DIR = os.environ.get("HEALTHWATCH_SCREENSHOT_DIR", "")


@pytest.fixture
def area_a(worker_a: User, vocabulary_and_groups: None) -> Area:
    """worker_a's village, near a separation plant (tests/surveys' fixtures do not reach here).

    Transactional tests flush the database after each test, migration data included:
    `vocabulary_and_groups` (tests/conftest.py) puts the vocabulary back.
    """
    ProductionSite.objects.create(
        code="SEP1",
        name="Separation plant",
        kind="separation_plant",
        latitude=25.0,
        longitude=110.0,
    )
    area = Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)
    AreaAssignment.objects.create(user=worker_a, area=area)
    return area


def fits_the_phone(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= 360)


def test_a_health_worker_registers_a_resident_and_records_a_visit_on_a_phone(
    phone_page: Any,
    live_server: Any,
    worker_a: User,
    area_a: Area,
    caplog: pytest.LogCaptureFixture,
) -> None:
    page = phone_page
    caplog.set_level(logging.DEBUG)
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    assert fits_the_phone(page)

    # Find: the study ID is unknown, so the registration form opens with it filled in.
    page.fill("#id_study_id", STUDY_ID)
    page.click("button:has-text('Find resident')")
    page.wait_for_selector("h1:has-text('Register a resident')")
    assert page.input_value("#id_study_id") == STUDY_ID
    assert fits_the_phone(page)
    page.fill("#id_birth_year", "1968")
    page.check("#id_sex_0")
    page.fill("#id_enrolled_on", "2024-01-10")
    page.fill("#id_latitude", "25.0301")
    page.fill("#id_longitude", "110.0")
    page.select_option("#id_smoking", "former")
    page.click("button:has-text('Register resident')")
    page.wait_for_url(re.compile(r".*/field/residents/\d+/$"))
    resident = Resident.objects.get()
    assert resident.pseudonym == pseudonymize(STUDY_ID).value
    assert str(resident.distance_to_site_km) == "3.3"
    assert "3.3 km" in page.content()
    assert STUDY_ID not in page.content()
    assert fits_the_phone(page)

    # Record a visit with an impossible blood lead value.
    page.click("a:has-text('Record a visit')")
    page.wait_for_selector("h1:has-text('Record a visit')")
    assert fits_the_phone(page)
    page.check('[name="symptom.cough.value"]')
    page.fill(LEAD, "900")
    page.click("button:has-text('Save visit')")
    error = page.locator('[data-error-for="lab.blood_lead.value"]')
    error.wait_for()
    assert "outside the valid range" in error.inner_text()
    lead = page.locator(LEAD)
    assert lead.get_attribute("aria-invalid") == "true"
    assert lead.input_value() == "900"
    # The message sits right under the field it is about.
    field_box, error_box = lead.bounding_box(), error.bounding_box()
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40
    assert page.is_checked('[name="symptom.cough.value"]')  # the rest of the form is kept
    assert fits_the_phone(page)
    assert Visit.objects.count() == 0
    if SCREENSHOT_DIR:
        page.locator('[data-code="lab.blood_lead"]').scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -120)")
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "visit_form_error.png"))
        page.screenshot(
            path=str(Path(SCREENSHOT_DIR) / "visit_form_error_full.png"), full_page=True
        )

    # Fix it and save.
    page.fill(LEAD, "9")
    page.click("button:has-text('Save visit')")
    page.wait_for_url(re.compile(r".*/field/visits/\d+/$"))
    visit = Visit.objects.get()
    assert Observation.objects.get(visit=visit, code__code="lab.blood_lead").value == 9
    assert "Visit of" in page.locator("h1").inner_text()

    # And there it is among my recent visits.
    page.click(".subnav a:has-text('My recent visits')")
    page.wait_for_url(f"{live_server.url}/field/visits/mine/")
    assert page.locator(f'[data-visit="{visit.pk}"]').count() == 1
    assert fits_the_phone(page)

    # The study ID went nowhere: not in the logs, not in the database.
    assert STUDY_ID not in caplog.text
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert STUDY_ID not in dump.getvalue()
    assert STUDY_ID.lower() not in dump.getvalue().lower()


def test_the_visit_form_is_usable_without_javascript(
    browser: Any, live_server: Any, worker_a: User, area_a: Area
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, "worker_a")
        page.wait_for_url(f"{live_server.url}/field/")
        page.fill("#id_study_id", "NOJS-1")
        page.click("button:has-text('Find resident')")
        page.fill("#id_birth_year", "1990")
        page.check("#id_sex_1")
        page.fill("#id_enrolled_on", "2024-01-10")
        page.click("button:has-text('Register resident')")
        page.click("a:has-text('Record a visit')")
        page.fill('[name="vital.bmi.value"]', "3")
        page.click("button:has-text('Save visit')")
        assert (
            "outside the valid range"
            in page.locator('[data-error-for="vital.bmi.value"]').inner_text()
        )
        page.fill('[name="vital.bmi.value"]', "23.5")
        page.click("button:has-text('Save visit')")
        page.wait_for_url(re.compile(r".*/field/visits/\d+/$"))
        assert Visit.objects.count() == 1
    finally:
        context.close()


def test_every_field_page_fits_a_phone_screen(
    phone_page: Any, live_server: Any, admin_user: User, worker_a: User, area_a: Area
) -> None:
    """An admin may open every field page; none of them scrolls sideways at 360 px."""
    AreaAssignment.objects.create(user=admin_user, area=area_a)
    resident = services.resident_register(
        user=worker_a,
        study_id="FIT-1",
        area=area_a,
        birth_year=1950,
        sex="M",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )
    visit = services.visit_record(
        user=worker_a,
        resident=resident,
        visited_on=dt.date(2024, 3, 1),
        observations=[ObservationInput("lab.urine_uranium", "999", unit="µg/L")],
    )
    services.visit_edit(
        user=worker_a,
        visit=visit,
        visited_on=dt.date(2024, 3, 1),
        observations=[ObservationInput("lab.blood_lead", "60", unit="µg/dL")],
        reason="The laboratory sent a corrected report with a much longer explanation",
    )
    station = Station.objects.create(
        code="AIR-SCHOOL-ROOF-NORTH", name="School roof", medium="air", latitude=25, longitude=110
    )
    measurement = services.measurement_record(
        user=worker_a,
        station=station,
        sampled_on=dt.date(2024, 2, 1),
        pollutant="pm2_5",
        value="12",
        unit="µg/m³",
    )
    services.measurement_set_status(
        user=worker_a, measurement=measurement, status="invalid", reason="Pump failure"
    )
    pages = [
        "/field/",
        "/field/residents/new/",
        f"/field/residents/{resident.pk}/",
        f"/field/residents/{resident.pk}/visits/new/",
        f"/field/visits/{visit.pk}/",
        f"/field/visits/{visit.pk}/edit/",
        "/field/visits/mine/",
        "/field/stations/",
        "/field/stations/new/",
        f"/field/stations/{station.pk}/",
        f"/field/stations/{station.pk}/measurements/new/",
        f"/field/measurements/{measurement.pk}/status/",
        "/field/audit/",
        f"/field/audit/residents/{resident.pk}/",
        f"/field/audit/visits/{visit.pk}/",
        f"/field/audit/measurements/{measurement.pk}/",
        "/field/quality/",
        "/field/import/",
    ]
    log_in(phone_page, live_server, "admin")
    phone_page.wait_for_url(re.compile(".*/system/$"))
    too_wide = []
    for path in pages:
        response = phone_page.goto(live_server.url + path)
        assert response.status == 200, path
        if not fits_the_phone(phone_page):
            too_wide.append(path)
    assert not too_wide, f"pages wider than 360 px: {too_wide}"
