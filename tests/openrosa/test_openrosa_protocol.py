"""ODK Collect's conversation with HealthWatch, through the Django test client."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from defusedxml import ElementTree as ET
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import escape

from openrosa.models import HeldStatus, HeldSubmission
from surveys.models import Area, Observation, Resident, Visit, VocabularyCode
from surveys.pseudonyms import pseudonymize
from tests.conftest import client_for
from tests.i18n import shape, t
from tests.openrosa.odk import OPENROSA, auth, blank_form, fill, submit

STUDY_ID = "HW-ODK-0001"
RESPONSE = "{http://openrosa.org/http/response}"


def new_resident_visit(**overrides: str) -> dict[str, str]:
    answers = {
        "study_id": STUDY_ID,
        "new_resident": "yes",
        "area": "c_A",
        "birth_year": "1970",
        "sex": "F",
        "enrolled_on": "2025-03-01",
        "home": "25.011 110.002 0 5",
        "works_at_site": "no",
        "smoking": "never",
        "visited_on": "2025-06-02",
        "c_symptom_cough": "yes",
        "c_lab_blood_lead_measured": "yes",
        "c_lab_blood_lead_unit": "u2",  # the form's third unit for blood lead: µmol/L
        "c_lab_blood_lead_value": "0.2",
    }
    for name in (
        "c_symptom_wheeze",
        "c_symptom_dyspnoea",
        "c_symptom_skin_rash",
        "c_symptom_eye_irritation",
        "c_symptom_headache",
        "c_dx_J06",
        "c_dx_J20",
        "c_dx_J45",
        "c_dx_J44",
        "c_dx_L30",
        "c_dx_N18",
        "c_dx_C34",
    ):
        answers[name] = "no"
    answers.update(overrides)
    return answers


def blood_lead_value() -> str:
    """The held field's label as the worker's form asked it: the form's question (the code's
    English vocabulary label: openrosa.xforms builds the form from VocabularyCode.label) and the
    part, in the active language."""
    return f"{VocabularyCode.objects.get(code='lab.blood_lead').label} — {t('value')}"


def message(response: Any) -> str:
    tree = ET.fromstring(response.content)
    found = tree.find(f"{RESPONSE}message")
    assert found is not None and found.text
    return found.text


def test_the_form_list_speaks_openrosa_1_0_and_lists_the_visit_form(
    worker_a: User, area_a: Area
) -> None:
    response = Client().get("/openrosa/formList", headers=auth("worker_a"))
    assert response.status_code == 200
    assert response["X-OpenRosa-Version"] == "1.0"
    assert response["Content-Type"].startswith("text/xml")
    tree = ET.fromstring(response.content)
    ns = "{http://openrosa.org/xforms/xformsList}"
    assert tree.findtext(f"{ns}xform/{ns}formID") == "healthwatch_visit"
    assert tree.findtext(f"{ns}xform/{ns}hash", "").startswith("md5:")
    manifest = tree.findtext(f"{ns}xform/{ns}manifestUrl", "")
    assert Client().get(manifest, headers=auth("worker_a")).status_code == 200


def test_the_form_offers_only_the_workers_own_areas(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    xform = blank_form(Client(), "worker_a")
    assert "Area A" in xform and "Area B" not in xform


def test_the_head_handshake_answers_204_with_the_accepted_content_length(
    worker_a: User, area_a: Area
) -> None:
    response = Client().head("/openrosa/submission", headers=auth("worker_a"))
    assert response.status_code == 204
    assert response["X-OpenRosa-Version"] == "1.0"
    assert int(response["X-OpenRosa-Accept-Content-Length"]) > 1_000_000


def test_an_anonymous_request_is_refused_with_a_basic_challenge(
    worker_a: User, area_a: Area
) -> None:
    xml = fill(blank_form(Client(), "worker_a"), new_resident_visit())
    for response in (
        submit(Client(), None, xml),
        Client().head("/openrosa/submission", headers=OPENROSA),
        Client().get("/openrosa/formList", headers=OPENROSA),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Basic ")
    assert not Visit.objects.exists() and not HeldSubmission.objects.exists()


def test_a_wrong_password_is_refused(worker_a: User, area_a: Area) -> None:
    response = Client().get("/openrosa/formList", headers=auth("worker_a", "not-the-password"))
    assert response.status_code == 401


def test_a_community_reviewer_gets_no_form(community_reviewer: User) -> None:
    response = Client().get("/openrosa/formList", headers=auth("reviewer"))
    assert response.status_code == 403


def test_a_valid_instance_creates_exactly_one_visit_with_its_observations(
    worker_a: User, area_a: Area
) -> None:
    xml = fill(blank_form(Client(), "worker_a"), new_resident_visit())
    response = submit(Client(), "worker_a", xml)
    assert response.status_code == 201, response.content
    assert response["X-OpenRosa-Version"] == "1.0"
    visit = Visit.objects.get()
    resident = Resident.objects.get()
    assert resident.pseudonym == pseudonymize(STUDY_ID).value
    assert resident.area == area_a and resident.distance_to_site_km is None  # no site here
    assert visit.visited_on == dt.date(2025, 6, 2) and visit.health_worker == worker_a
    observations = {o.code.code: o for o in Observation.objects.filter(visit=visit)}
    assert len(observations) == 14  # 13 yes/no questions + blood lead
    assert observations["symptom.cough"].value_boolean is True
    assert observations["dx.J45"].value_boolean is False
    lead = observations["lab.blood_lead"]
    assert lead.entered_unit == "µmol/L" and lead.value == pytest.approx(0.2 * 20.72)


def test_the_same_instance_again_stores_nothing_and_answers_success(
    worker_a: User, area_a: Area
) -> None:
    key = uuid.uuid4()
    xml = fill(blank_form(Client(), "worker_a"), new_resident_visit(), instance_id=key)
    assert submit(Client(), "worker_a", xml).status_code == 201
    again = submit(Client(), "worker_a", xml)
    assert again.status_code == 201
    assert message(again) == t("Already received; nothing new stored.")
    assert Visit.objects.count() == 1 and Resident.objects.count() == 1
    assert Observation.objects.count() == 14
    assert Visit.objects.get().submission_key == key


def test_a_second_visit_of_a_known_resident_by_study_id(worker_a: User, area_a: Area) -> None:
    form = blank_form(Client(), "worker_a")
    submit(Client(), "worker_a", fill(form, new_resident_visit()))
    answers = new_resident_visit(new_resident="no", visited_on="2025-07-01")
    for name in ("area", "birth_year", "sex", "enrolled_on", "home", "works_at_site", "smoking"):
        answers[name] = ""
    response = submit(Client(), "worker_a", fill(form, answers))
    assert response.status_code == 201
    assert Resident.objects.count() == 1 and Visit.objects.count() == 2


def test_an_invalid_instance_is_held_for_review_with_messages_by_field(
    worker_a: User, area_a: Area
) -> None:
    answers = new_resident_visit(c_lab_blood_lead_unit="u0", c_lab_blood_lead_value="900")
    answers["c_symptom_headache"] = "maybe"
    xml = fill(blank_form(Client(), "worker_a"), answers)
    response = submit(Client(), "worker_a", xml)
    assert response.status_code == 202
    held_for_review = shape("Received, but held for review by a data manager: %(problems)s")
    assert re.fullmatch(held_for_review, message(response))
    assert not Visit.objects.exists() and not Resident.objects.exists()  # nothing half-written
    held = HeldSubmission.objects.get()
    by_field = {m["field"]: m for m in held.messages}
    assert set(by_field) == {"lab.blood_lead.value", "symptom.headache.value"}
    assert by_field["lab.blood_lead.value"]["label"] == blood_lead_value()
    out_of_range = shape(
        "%(value)s %(unit)s is outside the valid range for %(code)s (%(low)s–%(high)s %(unit)s)."
    )
    assert re.fullmatch(out_of_range, by_field["lab.blood_lead.value"]["message"])
    # What is kept: no study ID, no coordinates, no raw XML (its hash only).
    assert STUDY_ID not in str(held.answers) and "25.011" not in str(held.answers)
    assert held.answers["home_given"] is True
    assert held.pseudonym == pseudonymize(STUDY_ID).value
    assert len(held.xml_sha256) == 64
    # The same instance again is not held twice.
    assert submit(Client(), "worker_a", xml).status_code == 202
    assert HeldSubmission.objects.count() == 1


def test_a_visit_date_in_the_future_is_held_naming_the_visit_date(
    worker_a: User, area_a: Area
) -> None:
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    xml = fill(blank_form(Client(), "worker_a"), new_resident_visit(visited_on=future))
    assert submit(Client(), "worker_a", xml).status_code == 202
    assert [m["label"] for m in HeldSubmission.objects.get().messages] == [t("Visit date")]


def test_a_registration_in_another_workers_area_is_refused(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    # worker_b's form offers area B; worker_a sends an instance of it (a shared phone).
    xml = fill(blank_form(Client(), "worker_b"), new_resident_visit(area="c_B"))
    response = submit(Client(), "worker_a", xml)
    assert response.status_code == 403
    assert message(response) == t("You are not assigned to area %(area)s.", area="Area B")
    assert not Resident.objects.exists() and not HeldSubmission.objects.exists()


def test_a_resident_of_another_area_is_not_reachable(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    submit(
        Client(), "worker_b", fill(blank_form(Client(), "worker_b"), new_resident_visit(area="c_B"))
    )
    assert Resident.objects.filter(area=area_b).count() == 1
    answers = new_resident_visit(new_resident="no")
    response = submit(Client(), "worker_a", fill(blank_form(Client(), "worker_a"), answers))
    assert response.status_code == 202
    assert Visit.objects.count() == 1  # worker_b's only
    assert HeldSubmission.objects.get().messages[0]["field"] == "study_id"


def test_a_data_manager_rejects_a_held_submission_on_the_review_page(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    answers = new_resident_visit(c_lab_blood_lead_unit="u0", c_lab_blood_lead_value="900")
    submit(Client(), "worker_a", fill(blank_form(Client(), "worker_a"), answers))
    held = HeldSubmission.objects.get()
    page = client_for(epidemiologist).get("/openrosa/held/")
    assert page.status_code == 200
    text = page.content.decode()
    assert escape(blood_lead_value()) in text and "lab.blood_lead" not in text
    assert client_for(worker_a).get("/openrosa/held/").status_code == 403
    no_note = client_for(epidemiologist).post(
        "/openrosa/held/", {"held_id": held.pk, "status": "rejected", "note": ""}
    )
    assert no_note.status_code == 400
    done = client_for(epidemiologist).post(
        "/openrosa/held/", {"held_id": held.pk, "status": "rejected", "note": "Duplicate sample"}
    )
    assert done.status_code == 302
    held.refresh_from_db()
    assert held.status == HeldStatus.REJECTED and held.reviewed_by == epidemiologist


def test_wrong_passwords_lock_the_phone_out_as_they_lock_the_web_login(
    worker_a: User, area_a: Area, settings: Any
) -> None:
    statuses = [
        Client().get("/openrosa/formList", headers=auth("worker_a", "guess")).status_code
        for _attempt in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert set(statuses) <= {401, 429} and statuses[0] == 401
    locked = Client().get("/openrosa/formList", headers=auth("worker_a"))
    assert locked.status_code == 429  # even the right password, until the cool-off


def test_another_workers_held_instance_id_tells_nothing_about_it(
    worker_a: User, admin_user: User, area_a: Area
) -> None:
    answers = new_resident_visit(c_lab_blood_lead_unit="u0", c_lab_blood_lead_value="900")
    xml = fill(blank_form(Client(), "worker_a"), answers)
    assert submit(Client(), "worker_a", xml).status_code == 202
    other = submit(Client(), "admin", xml)
    assert other.status_code == 400
    assert "Blood lead" not in message(other)
    assert HeldSubmission.objects.count() == 1 and not Visit.objects.exists()


def test_the_registration_form_registers_a_resident_once(worker_a: User, area_a: Area) -> None:
    form = blank_form(Client(), "worker_a", "healthwatch_resident")
    assert "visited_on" not in form and "c_symptom_cough" not in form
    registration = {
        k: v
        for k, v in new_resident_visit().items()
        if k in {"study_id", "area", "birth_year", "sex", "enrolled_on", "home", "smoking"}
    }
    registration["works_at_site"] = "yes"
    xml = fill(form, registration)
    assert submit(Client(), "worker_a", xml).status_code == 201
    again = submit(Client(), "worker_a", xml)
    assert again.status_code == 201
    assert message(again) == t("Already received; nothing new stored.")
    resident = Resident.objects.get()
    assert resident.works_at_site and resident.pseudonym == pseudonymize(STUDY_ID).value
    assert not Visit.objects.exists()
    bad = {**registration, "study_id": "HW-ODK-0002", "birth_year": "1850"}
    held = submit(Client(), "worker_a", fill(form, bad))
    assert held.status_code == 202
    assert HeldSubmission.objects.get().messages[0]["label"] == t("Birth year")
