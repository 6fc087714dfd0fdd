"""The field UI: find or register residents, record and change visits, monitoring entry,
audit trail and the data-quality review queue — with messages next to the offending field."""

from __future__ import annotations

import datetime as dt
import logging
import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.timezone import localtime

from surveys import services
from surveys.models import (
    Area,
    DataQualityFlag,
    Measurement,
    Observation,
    ProductionSite,
    RecordAccess,
    Resident,
    Station,
    Visit,
)
from surveys.pseudonyms import pseudonymize
from surveys.services import ObservationInput
from tests.conftest import client_for
from tests.i18n import bt, h, label_of, t

OUT_OF_RANGE = (
    "%(value)s %(unit)s is outside the valid range for %(code)s (%(low)s–%(high)s %(unit)s)."
)

pytestmark = pytest.mark.django_db

STUDY_ID = "HW-A-0042"
TODAY = dt.date.today()


def register(user: User, area: Area, study_id: str = STUDY_ID) -> Resident:
    return services.resident_register(
        user=user,
        study_id=study_id,
        area=area,
        birth_year=1975,
        sex="F",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )


def record(user: User, resident: Resident, **values: str) -> Visit:
    observations = [ObservationInput(code, value) for code, value in values.items()] or [
        ObservationInput("symptom.cough", "yes")
    ]
    return services.visit_record(
        user=user, resident=resident, visited_on=dt.date(2024, 3, 1), observations=observations
    )


def visit_post(**overrides: str) -> dict[str, str]:
    """A visit form as a browser posts it: date, checklist with cough ticked, blood lead."""
    data = {
        "visited_on": "2024-03-01",
        "checklist_asked": "on",
        "symptom.cough.value": "on",
        "lab.blood_lead.value": "4.2",
        "lab.blood_lead.unit": "µg/dL",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def error_next_to(html: str, name: str) -> str:
    """The message rendered right after the input `name`, which must be marked aria-invalid."""
    match = re.search(rf'<(?:input|select|textarea)[^>]*name="{re.escape(name)}"[^>]*>', html)
    assert match, f"no input {name}"
    tag = match.group(0)
    assert 'aria-invalid="true"' in tag, tag
    error = re.search(
        rf'<p class="field-error" id="[^"]+" data-error-for="{re.escape(name)}">([^<]*)</p>',
        html[match.end() :],
    )
    assert error, f"no message after {name}"
    return error.group(1)


def test_the_workspace_offers_the_study_id_search_and_keeps_its_marker(worker_a: User) -> None:
    response = client_for(worker_a).get(reverse("surveys:workspace"))
    assert response.status_code == 200
    assert b'data-workspace="health_worker"' in response.content
    assert b'name="study_id"' in response.content
    assert reverse("surveys:find_resident").encode() in response.content


def test_the_workspace_title_is_plain_text_and_its_offline_help_appears_once(
    worker_a: User,
) -> None:
    page = client_for(worker_a).get(reverse("surveys:workspace")).content.decode()
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None and "<" not in title.group(1), title
    assert h("Field workspace") in title.group(1)
    assert page.count('id="offline-help-heading"') == 1


def test_an_unknown_study_id_leads_to_the_registration_form_then_to_the_resident_page(
    worker_a: User, area_a: Area
) -> None:
    client = client_for(worker_a)
    response = client.post(reverse("surveys:find_resident"), {"study_id": STUDY_ID})
    assert response.status_code == 200
    assert h("Register a resident").encode() in response.content
    # The ID is shown only in the input the worker typed it into.
    assert response.content.count(STUDY_ID.encode()) == 1
    assert f'value="{STUDY_ID}"'.encode() in response.content

    response = client.post(
        reverse("surveys:register_resident"),
        {
            "study_id": STUDY_ID,
            "area": area_a.pk,
            "birth_year": "1975",
            "sex": "F",
            "enrolled_on": "2024-01-10",
            "latitude": "25.02",
            "longitude": "110.0",
            "smoking": "never",
        },
    )
    resident = Resident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("surveys:resident", args=[resident.pk])
    assert resident.pseudonym == pseudonymize(STUDY_ID).value
    assert resident.distance_to_site_km is None  # no production site in this test world
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert STUDY_ID.encode() not in page.content
    assert resident.pseudonym.encode() not in page.content


def test_a_known_study_id_goes_straight_to_the_resident_whatever_its_case_and_spaces(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    response = client_for(worker_a).post(
        reverse("surveys:find_resident"), {"study_id": " hw-a-0042 "}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("surveys:resident", args=[resident.pk])


def test_a_malformed_study_id_is_explained_next_to_the_field(worker_a: User) -> None:
    response = client_for(worker_a).post(reverse("surveys:find_resident"), {"study_id": "a b!"})
    assert response.status_code == 400
    assert error_next_to(response.content.decode(), "study_id") == h(
        "Study ID may contain only letters, digits and - _ / . (at most 64 characters)."
    )


def test_registration_offers_only_my_areas_and_refuses_another(
    worker_a: User, area_a: Area, area_b: Area, site: ProductionSite
) -> None:
    client = client_for(worker_a)
    form = client.get(reverse("surveys:register_resident")).content.decode()
    assert "Area A" in form and "Area B" not in form
    # coordinates are explained before they are typed
    assert (
        h(
            "Used once to compute the distance to the nearest production site and a ~500 m "
            "grid cell, then discarded: the exact position is never stored."
        )
        in form
    )
    response = client.post(
        reverse("surveys:register_resident"),
        {
            "study_id": STUDY_ID,
            "area": area_b.pk,
            "birth_year": "1975",
            "sex": "F",
            "enrolled_on": "2024-01-10",
            "smoking": "never",
            "latitude": "25.02",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert error_next_to(html, "area") == h(
        "Select a valid choice. That choice is not one of the available choices."
    )
    assert Resident.objects.count() == 0


def test_registration_problems_found_by_the_service_land_next_to_their_fields(
    worker_a: User, area_a: Area
) -> None:
    response = client_for(worker_a).post(
        reverse("surveys:register_resident"),
        {
            "study_id": STUDY_ID,
            "area": area_a.pk,
            "birth_year": "1990",
            "sex": "F",
            "enrolled_on": "1985-01-10",
            "smoking": "never",
            "latitude": "25.02",
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert error_next_to(html, "enrolled_on") == h("Enrolment cannot be before the birth year.")
    assert error_next_to(html, "longitude") == h("Give both latitude and longitude, or neither.")


def test_an_out_of_range_value_is_refused_next_to_its_input_and_nothing_is_saved(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    url = reverse("surveys:visit_create", args=[resident.pk])
    response = client_for(worker_a).post(url, visit_post(**{"lab.blood_lead.value": "900"}))
    assert response.status_code == 400
    html = response.content.decode()
    assert error_next_to(html, "lab.blood_lead.value") == h(
        OUT_OF_RANGE, value="900", unit="µg/dL", code="lab.blood_lead", low="0", high="200"
    )
    assert 'value="900"' in html  # what was typed stays, to be fixed
    assert Visit.objects.count() == 0


def test_a_valid_visit_is_saved_with_the_checklist_as_yes_and_no(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    url = reverse("surveys:visit_create", args=[resident.pk])
    response = client_for(worker_a).post(
        url, visit_post(**{"lab.blood_lead.value": "0.2", "lab.blood_lead.unit": "µmol/L"})
    )
    visit = Visit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("surveys:visit", args=[visit.pk])
    values = {o.code.code: o for o in Observation.objects.select_related("code")}
    assert values["symptom.cough"].value_boolean is True
    assert values["symptom.wheeze"].value_boolean is False
    assert values["dx.C34"].value_boolean is False
    assert values["lab.blood_lead"].value == pytest.approx(4.144)
    assert values["lab.blood_lead"].entered_unit == "µmol/L"
    assert "vital.bmi" not in values  # blank rows are not recorded
    assert visit.health_worker == worker_a


def test_an_unasked_checklist_records_no_yes_no_answers(worker_a: User, area_a: Area) -> None:
    resident = register(worker_a, area_a)
    client_for(worker_a).post(
        reverse("surveys:visit_create", args=[resident.pk]),
        visit_post(checklist_asked="", **{"symptom.cough.value": ""}),
    )
    assert [o.code.code for o in Observation.objects.all()] == ["lab.blood_lead"]


def test_a_result_below_the_detection_limit_needs_the_limit(worker_a: User, area_a: Area) -> None:
    resident = register(worker_a, area_a)
    url = reverse("surveys:visit_create", args=[resident.pk])
    response = client_for(worker_a).post(
        url, visit_post(**{"lab.blood_lead.value": "", "lab.blood_lead.below_lod": "on"})
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert error_next_to(html, "lab.blood_lead.lod") == h(
        "a result below the detection limit needs the limit (lod)."
    )
    assert "<details open>" in html  # the LOD part opens itself when it has a problem
    response = client_for(worker_a).post(
        url,
        visit_post(
            **{
                "lab.blood_lead.value": "",
                "lab.blood_lead.below_lod": "on",
                "lab.blood_lead.lod": "1",
            }
        ),
    )
    assert response.status_code == 302
    lead = Observation.objects.get(code__code="lab.blood_lead")
    assert lead.below_lod and lead.lod == 1 and lead.value is None


def test_changing_a_visit_needs_a_reason_which_goes_into_the_audit_trail(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    resident = register(worker_a, area_a)
    visit = record(worker_a, resident, **{"symptom.cough": "yes"})
    client = client_for(worker_a)
    url = reverse("surveys:visit_edit", args=[visit.pk])
    form = client.get(url).content.decode()
    assert re.search(r'name="symptom.cough.value"[^>]*checked', form)

    response = client.post(url, visit_post(reason=""))
    assert response.status_code == 400
    assert error_next_to(response.content.decode(), "reason") == h("This field is required.")

    response = client.post(url, visit_post(reason="Lab result arrived"))
    assert response.status_code == 302
    assert Observation.objects.get(code__code="lab.blood_lead").value == pytest.approx(4.2)
    assert visit.history.first().history_change_reason == "Lab result arrived"  # type: ignore[attr-defined]

    audit = client_for(epidemiologist).get(reverse("surveys:audit_visit", args=[visit.pk]))
    html = audit.content.decode()
    assert audit.status_code == 200
    assert "Lab result arrived" in html
    assert "worker_a" in html
    assert 'data-action="created"' in html and 'data-action="changed"' in html
    assert RecordAccess.objects.filter(user=epidemiologist, resource="audit:visit").exists()


def test_my_recent_visits_lists_what_i_recorded_newest_first(
    worker_a: User, admin_user: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    mine = record(worker_a, resident)
    theirs = record(admin_user, resident, **{"symptom.wheeze": "yes"})
    response = client_for(worker_a).get(reverse("surveys:my_visits"))
    html = response.content.decode()
    assert f'data-visit="{mine.pk}"' in html
    assert f'data-visit="{theirs.pk}"' not in html


def test_a_health_worker_of_another_area_cannot_open_or_add_to_a_resident(
    worker_a: User, worker_b: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    visit = record(worker_a, resident)
    client = client_for(worker_b)
    assert client.get(reverse("surveys:resident", args=[resident.pk])).status_code == 404
    assert client.get(reverse("surveys:visit", args=[visit.pk])).status_code == 404
    response = client.post(reverse("surveys:visit_create", args=[resident.pk]), visit_post())
    assert response.status_code == 404
    assert Visit.objects.count() == 1


def test_stations_and_measurements_are_entered_and_invalid_values_kept_and_flagged(
    worker_a: User, epidemiologist: User
) -> None:
    client = client_for(worker_a)
    response = client.post(
        reverse("surveys:station_create"),
        {
            "code": "W1",
            "name": "Village well",
            "medium": "water",
            "latitude": "25",
            "longitude": "110",
        },
    )
    station = Station.objects.get()
    assert response["Location"] == reverse("surveys:station", args=[station.pk])

    form = client.get(reverse("surveys:measurement_create", args=[station.pk])).content.decode()
    assert 'value="fluoride"' in form and 'value="pm2_5"' not in form  # the station's medium

    url = reverse("surveys:measurement_create", args=[station.pk])
    entry = {"sampled_on": "2024-02-01", "pollutant": "fluoride", "value": "2.4", "unit": ""}
    response = client.post(url, {**entry, "status": "preliminary", "value": "-1"})
    assert response.status_code == 400
    assert error_next_to(response.content.decode(), "value") == h(
        OUT_OF_RANGE, value="-1", unit="mg/L", code="fluoride", low="0", high="100"
    )
    response = client.post(url, {**entry, "status": "preliminary"})
    assert response.status_code == 302
    measurement = Measurement.objects.get()
    assert measurement.value == 2.4 and measurement.entered_unit == "mg/L"

    status_url = reverse("surveys:measurement_status", args=[measurement.pk])
    response = client.post(status_url, {"status": "invalid", "reason": ""})
    assert response.status_code == 400
    response = client.post(status_url, {"status": "invalid", "reason": "Bottle contaminated"})
    assert response.status_code == 302
    measurement.refresh_from_db()
    assert measurement.status == "invalid" and measurement.value == 2.4
    station_page = client.get(reverse("surveys:station", args=[station.pk])).content.decode()
    assert "status-invalid" in station_page

    audit = client_for(epidemiologist).get(
        reverse("surveys:audit_measurement", args=[measurement.pk])
    )
    assert "Bottle contaminated" in audit.content.decode()


def test_the_resident_audit_trail_shows_who_created_it_without_the_pseudonym(
    worker_a: User, area_a: Area, admin_user: User
) -> None:
    resident = register(worker_a, area_a)
    html = (
        client_for(admin_user)
        .get(reverse("surveys:audit_resident", args=[resident.pk]))
        .content.decode()
    )
    created = localtime(resident.history.earliest().history_date)  # type: ignore[attr-defined]
    assert (
        bt(
            "<strong>%(who)s</strong> %(action)s %(record)s on %(day)s",
            who="worker_a",
            action=t("created"),
            record=t(
                "resident #%(n)d of %(area)s, born %(year)d",
                n=resident.pk,
                area="Area A",
                year=1975,
            ),
            day=date_format(created, "DATETIME_FORMAT"),
        )
        in html
    )
    assert h("Birth year") in html and "birth_year" not in html and "area_id" not in html
    assert "Area A" in html  # the area's name, not its id
    assert resident.pseudonym not in html


def test_an_epidemiologist_reviews_an_unusual_value_in_the_queue(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    resident = register(worker_a, area_a)
    record(worker_a, resident, **{"symptom.cough": "yes"})
    client_for(worker_a).post(
        reverse("surveys:visit_create", args=[resident.pk]),
        visit_post(**{"lab.blood_lead.value": "60"}),  # > 10 × the reference 3.5 µg/dL
    )
    flags = {f.kind: f for f in DataQualityFlag.objects.all()}
    assert set(flags) == {"above_reference", "same_day_visit"}
    client = client_for(epidemiologist)
    queue = client.get(reverse("surveys:quality_queue")).content.decode()
    assert escape(f"{label_of('lab.blood_lead')} = 60 ") in queue  # the flag's detail

    flag = flags["above_reference"]
    url = reverse("surveys:quality_review", args=[flag.pk])
    response = client.post(url, {"status": "confirmed", "note": ""})
    assert response.status_code == 400
    assert h("Say what you checked (a short note).") in response.content.decode()
    response = client.post(url, {"status": "confirmed", "note": "Lab re-ran the sample."})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.status == "confirmed" and flag.reviewed_by == epidemiologist
    queue = client.get(reverse("surveys:quality_queue")).content.decode()
    assert f'data-flag="{flag.pk}"' not in queue
    assert "Lab re-ran the sample." in queue  # under "recently reviewed"


def test_the_upload_page_checks_a_file_and_lists_every_problem(worker_a: User) -> None:
    client = client_for(worker_a)
    good = b"station_code,name,medium,latitude,longitude\r\nS9,Roof,air,25.0,110.0\r\n"
    response = client.post(
        reverse("surveys:import"),
        {"kind": "stations", "dry_run": "on", "file": SimpleUploadedFile("s.csv", good)},
    )
    assert response.status_code == 200
    assert h("Check passed (nothing written)") in response.content.decode()
    assert Station.objects.count() == 0

    bad = b"station_code,name,medium,latitude,longitude\nS9,Roof,fire,95,110\n"
    response = client.post(
        reverse("surveys:import"),
        {"kind": "stations", "file": SimpleUploadedFile("s.csv", bad)},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert h("The file was refused") in html
    assert html.count("<tr><td>2</td>") >= 2  # both bad cells of row 2
    assert Station.objects.count() == 0

    response = client.post(
        reverse("surveys:import"),
        {"kind": "stations", "file": SimpleUploadedFile("s.csv", good)},
    )
    assert response.status_code == 200 and Station.objects.count() == 1


def test_a_health_worker_is_told_which_kinds_they_may_not_upload(
    worker_a: User, epidemiologist: User
) -> None:
    response = client_for(worker_a).post(
        reverse("surveys:import"),
        {"kind": "sites", "file": SimpleUploadedFile("s.csv", b"site_code\n")},
    )
    assert response.status_code == 400
    assert error_next_to(response.content.decode(), "kind") == h(
        "You may not import %(kind)s.", kind="sites"
    )
    # Epidemiologists analyse; they do not load field data, so they get no upload page.
    assert client_for(epidemiologist).get(reverse("surveys:import")).status_code == 403


def test_a_study_id_typed_in_the_ui_reaches_neither_the_logs_nor_the_database(
    worker_a: User, area_a: Area, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ZX-SECRET-9917"
    client: Client = client_for(worker_a)
    with caplog.at_level(logging.DEBUG):
        client.post(reverse("surveys:find_resident"), {"study_id": secret})
        client.post(
            reverse("surveys:register_resident"),
            {
                "study_id": secret,
                "area": area_a.pk,
                "birth_year": "1960",
                "sex": "M",
                "enrolled_on": "2024-01-10",
                "smoking": "current",
            },
        )
        resident = Resident.objects.get()
        page = client.get(reverse("surveys:resident", args=[resident.pk]))
        client.post(
            reverse("surveys:visit_create", args=[resident.pk]),
            visit_post(**{"lab.blood_lead.value": "900"}),
        )
        client.post(reverse("surveys:find_resident"), {"study_id": secret.lower()})
    assert secret not in page.content.decode()
    assert secret.lower() not in caplog.text.lower()
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert secret.lower() not in dump.getvalue().lower()


def test_a_visit_form_sent_twice_stores_one_visit_and_both_answers_lead_to_it(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    url = reverse("surveys:visit_create", args=[resident.pk])
    client = client_for(worker_a)
    page = client.get(url).content.decode()
    key = re.search(r'<input type="hidden" name="submission_key" value="([0-9a-f-]{36})"', page)
    assert key, "the form carries no one-time submission key"
    assert key.group(1) not in client.get(url).content.decode()  # a new key each time
    first = client.post(url, visit_post(submission_key=key.group(1)))
    again = client.post(url, visit_post(submission_key=key.group(1)))  # a double tap
    visit = Visit.objects.get()
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == reverse("surveys:visit", args=[visit.pk])
    assert Observation.objects.filter(visit=visit, code__code="lab.blood_lead").count() == 1


@pytest.mark.parametrize(
    ("language", "day"), [("en", "2024-03-01"), ("fr", "01/03/2024"), ("zh-hans", "2024年3月1日")]
)
def test_a_visit_page_writes_its_date_as_the_readers_language_does(
    worker_a: User, area_a: Area, language: str, day: str
) -> None:
    visit = record(worker_a, register(worker_a, area_a))
    client = client_for(worker_a)
    client.post("/i18n/setlang/", {"language": language, "next": "/"})
    html = client.get(reverse("surveys:visit", args=[visit.pk])).content.decode()
    with translation.override(language):
        assert f"<h1>{h('Visit of %(day)s', day=day)}</h1>" in html
    resident_page = client.get(reverse("surveys:resident", args=[visit.resident_id]))
    assert f">{day}</a>" in resident_page.content.decode()
