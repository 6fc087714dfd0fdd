"""The field-data API under /api/v1/: scoping, writes through services, errors naming the field,
filters, pagination, token auth and logging of staff reads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.formats import date_format
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from surveys import services, tasks
from surveys.models import (
    Area,
    AreaPopulation,
    DataQualityFlag,
    ImportJob,
    ImportJobStatus,
    Measurement,
    RecordAccess,
    Resident,
    Station,
    Visit,
)
from surveys.pseudonyms import pseudonymize
from surveys.services import ObservationInput
from tests.i18n import t

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def register(user: User, area: Area, study_id: str) -> Resident:
    return services.resident_register(
        user=user,
        study_id=study_id,
        area=area,
        birth_year=1970,
        sex="M",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )


def visit_of(user: User, resident: Resident, on: dt.date, **values: str) -> Visit:
    return services.visit_record(
        user=user,
        resident=resident,
        visited_on=on,
        observations=[
            ObservationInput(c, v, unit="µg/dL" if c.startswith("lab.") else "")
            for c, v in (values or {"symptom.cough": "yes"}).items()
        ],
    )


def fields_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return {e["field"]: e["message"] for e in body["errors"]}


@pytest.fixture
def world(worker_a: User, worker_b: User, area_a: Area, area_b: Area) -> dict[str, Any]:
    in_a = register(worker_a, area_a, "A-1")
    in_b = register(worker_b, area_b, "B-1")
    return {
        "in_a": in_a,
        "in_b": in_b,
        "visit_a": visit_of(worker_a, in_a, dt.date(2024, 3, 1)),
        "visit_b": visit_of(worker_b, in_b, dt.date(2024, 3, 2)),
    }


def test_health_workers_list_only_the_residents_of_their_areas(
    worker_a: User, world: dict[str, Any]
) -> None:
    body = api_for(worker_a).get(f"{V1}/residents/").json()
    assert body["count"] == 1
    assert [r["id"] for r in body["results"]] == [world["in_a"].pk]
    assert body["results"][0]["area"] == "A"
    assert "study_id" not in body["results"][0] and "pseudonym" not in body["results"][0]


def test_out_of_area_detail_routes_answer_404(worker_b: User, world: dict[str, Any]) -> None:
    client = api_for(worker_b)
    assert client.get(f"{V1}/residents/{world['in_a'].pk}/").status_code == 404
    assert client.get(f"{V1}/visits/{world['visit_a'].pk}/").status_code == 404
    observation = world["visit_a"].observations.get()
    assert client.get(f"{V1}/observations/{observation.pk}/").status_code == 404


def test_a_resident_is_registered_with_write_only_study_id_and_coordinates(
    worker_a: User, area_a: Area, site: Any
) -> None:
    response = api_for(worker_a).post(
        f"{V1}/residents/",
        {
            "study_id": "API-77",
            "area": "A",
            "birth_year": 1980,
            "sex": "F",
            "enrolled_on": "2024-02-01",
            "latitude": 25.0101,
            "longitude": 110.0,
            "smoking": "former",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert not {"study_id", "latitude", "longitude"} & set(body)
    assert body["nearest_site"] == "SEP1"
    assert body["distance_to_site_km"] == "1.1"
    assert "API-77" not in response.content.decode()
    assert Resident.objects.get(pk=body["id"]).pseudonym == pseudonymize("API-77").value


def test_registration_in_an_area_i_am_not_assigned_to_is_refused_naming_the_field(
    worker_a: User, area_b: Area
) -> None:
    response = api_for(worker_a).post(
        f"{V1}/residents/",
        {
            "study_id": "X-1",
            "area": "B",
            "birth_year": 1980,
            "sex": "F",
            "enrolled_on": "2024-02-01",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "area" in fields_of(response)


def test_a_resident_is_found_by_study_id_sent_in_the_body(
    worker_a: User, worker_b: User, world: dict[str, Any]
) -> None:
    found = api_for(worker_a).post(f"{V1}/residents/find/", {"study_id": "a-1"}, format="json")
    assert found.status_code == 200 and found.json()["id"] == world["in_a"].pk
    other = api_for(worker_b).post(f"{V1}/residents/find/", {"study_id": "A-1"}, format="json")
    assert other.status_code == 404


def test_a_visit_is_recorded_with_nested_observations_in_canonical_units(
    worker_a: User, world: dict[str, Any]
) -> None:
    response = api_for(worker_a).post(
        f"{V1}/visits/",
        {
            "resident": world["in_a"].pk,
            "visited_on": "2024-04-01",
            "observations": [
                {"code": "symptom.wheeze", "value": True},
                {"code": "lab.blood_lead", "value": 50, "unit": "µg/L"},
                {"code": "lab.urine_cadmium", "below_lod": True, "lod": "0.1", "unit": "µg/L"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["health_worker"] == "worker_a"
    by_code = {o["code"]: o for o in body["observations"]}
    assert by_code["symptom.wheeze"]["value_boolean"] is True
    assert by_code["lab.blood_lead"]["value"] == pytest.approx(5.0)
    assert by_code["lab.blood_lead"]["entered_unit"] == "µg/L"
    assert by_code["lab.blood_lead"]["canonical_unit"] == "µg/dL"
    assert by_code["lab.urine_cadmium"]["below_lod"] is True


def new_visit(resident: Resident, cough: bool = True) -> dict[str, Any]:
    return {
        "resident": resident.pk,
        "visited_on": "2024-04-01",
        "observations": [{"code": "symptom.cough", "value": cough}],
    }


def test_a_visit_sent_again_with_its_idempotency_key_is_answered_with_the_stored_visit(
    worker_a: User, world: dict[str, Any]
) -> None:
    client = api_for(worker_a)
    key = str(uuid.uuid4())
    first = client.post(
        f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    again = client.post(
        f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert first.status_code == 201, first.json()
    assert again.status_code == 200, again.json()
    assert again.json() == first.json()
    assert Visit.objects.filter(resident=world["in_a"]).count() == 2  # the world's + this one
    assert Visit.objects.get(pk=first.json()["id"]).submission_key == uuid.UUID(key)


def test_the_idempotency_key_may_also_come_as_the_web_forms_submission_key_field(
    worker_a: User, world: dict[str, Any]
) -> None:
    client = api_for(worker_a)
    key = str(uuid.uuid4())
    first = client.post(
        f"{V1}/visits/", {**new_visit(world["in_a"]), "submission_key": key}, format="json"
    )
    again = client.post(
        f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


def test_an_idempotency_key_reused_with_another_payload_answers_409_and_stores_nothing(
    worker_a: User, world: dict[str, Any]
) -> None:
    client = api_for(worker_a)
    key = str(uuid.uuid4())
    client.post(f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY=key)
    reused = client.post(
        f"{V1}/visits/",
        new_visit(world["in_a"], cough=False),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert reused.status_code == 409
    assert fields_of(reused)["Idempotency-Key"] == t(
        "This submission key was already used for a different visit: open the form again (or "
        "send a new key) for a new visit."
    )
    assert Visit.objects.filter(resident=world["in_a"]).count() == 2


def test_an_idempotency_key_of_another_user_is_a_conflict_not_their_visit(
    worker_a: User, world: dict[str, Any], admin_user: User
) -> None:
    key = str(uuid.uuid4())
    api_for(worker_a).post(
        f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    other = api_for(admin_user).post(
        f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert other.status_code == 409
    assert "health_worker" not in other.json()  # nothing of the stored visit is shown


def test_a_malformed_idempotency_key_is_refused_naming_the_header(
    worker_a: User, world: dict[str, Any]
) -> None:
    client = api_for(worker_a)
    response = client.post(
        f"{V1}/visits/", new_visit(world["in_a"]), format="json", HTTP_IDEMPOTENCY_KEY="not-a-uuid"
    )
    assert response.status_code == 400
    assert fields_of(response)["Idempotency-Key"] == t(
        "Give a UUID (e.g. made by crypto.randomUUID())."
    )
    both = client.post(
        f"{V1}/visits/",
        {**new_visit(world["in_a"]), "submission_key": str(uuid.uuid4())},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert both.status_code == 400 and "Idempotency-Key" in fields_of(both)
    assert Visit.objects.filter(resident=world["in_a"]).count() == 1


def test_service_problems_come_back_as_json_naming_each_field(
    worker_a: User, world: dict[str, Any]
) -> None:
    response = api_for(worker_a).post(
        f"{V1}/visits/",
        {
            "resident": world["in_a"].pk,
            "visited_on": (dt.date.today() + dt.timedelta(days=3)).isoformat(),
            "observations": [
                {"code": "lab.blood_lead", "value": 900, "unit": "µg/dL"},
                {"code": "vital.bmi", "value": 22, "unit": "stone"},
                {"code": "symptom.nosebleed", "value": True},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    errors = fields_of(response)
    assert errors["lab.blood_lead.value"] == t(
        "%(value)s %(unit)s is outside the valid range for %(code)s (%(low)s–%(high)s %(unit)s).",
        value="900",
        unit="µg/dL",
        code="lab.blood_lead",
        low="0",
        high="200",
    )
    assert errors["vital.bmi.unit"] == t(
        "unit “%(unit)s” cannot be converted to %(canonical)s for %(code)s; "
        "accepted units: %(accepted)s.",
        unit="stone",
        canonical="kg/m²",
        code="vital.bmi",
        accepted="kg/m2, kg/m²",
    )
    assert errors["symptom.nosebleed.code"] == t(
        "unknown code '%(code)s'.", code="symptom.nosebleed"
    )
    future = dt.date.today() + dt.timedelta(days=3)
    assert errors["visited_on"] == t(
        "%(date)s is in the future.", date=date_format(future, "SHORT_DATE_FORMAT")
    )
    assert Visit.objects.count() == 2


def test_shape_problems_use_the_same_error_body(worker_a: User, world: dict[str, Any]) -> None:
    response = api_for(worker_a).post(
        f"{V1}/visits/",
        {"resident": world["in_a"].pk, "visited_on": "March", "observations": [{"value": 1}]},
        format="json",
    )
    assert response.status_code == 400
    errors = fields_of(response)
    assert set(errors) == {"visited_on", "observations.0.code"}


def test_health_workers_cannot_record_visits_for_residents_of_another_area(
    worker_b: User, world: dict[str, Any]
) -> None:
    response = api_for(worker_b).post(
        f"{V1}/visits/",
        {
            "resident": world["in_a"].pk,
            "visited_on": "2024-04-01",
            "observations": [{"code": "symptom.cough", "value": "yes"}],
        },
        format="json",
    )
    assert response.status_code == 400
    refusal = t("No record {pk_value} that you have access to.").format(pk_value=world["in_a"].pk)
    assert fields_of(response)["resident"] == refusal
    assert Visit.objects.filter(resident=world["in_a"]).count() == 1


def test_a_visit_is_changed_with_put_and_a_reason_patch_is_not_offered(
    worker_a: User, world: dict[str, Any]
) -> None:
    visit = world["visit_a"]
    client = api_for(worker_a)
    change = {
        "visited_on": "2024-03-01",
        "observations": [{"code": "symptom.cough", "value": "no"}],
    }
    response = client.put(f"{V1}/visits/{visit.pk}/", change, format="json")
    assert response.status_code == 400 and "reason" in fields_of(response)
    response = client.put(
        f"{V1}/visits/{visit.pk}/", {**change, "reason": "Misheard"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["observations"][0]["value_boolean"] is False
    assert visit.history.first().history_change_reason == "Misheard"  # type: ignore[attr-defined]
    assert client.patch(f"{V1}/visits/{visit.pk}/", {}, format="json").status_code == 405


def test_visits_are_filtered_by_date_range_and_area(
    epidemiologist: User, world: dict[str, Any]
) -> None:
    client = api_for(epidemiologist)
    body = client.get(f"{V1}/visits/", {"visited_after": "2024-03-02"}).json()
    assert [v["id"] for v in body["results"]] == [world["visit_b"].pk]
    body = client.get(f"{V1}/visits/", {"area": "A", "visited_before": "2024-03-31"}).json()
    assert [v["id"] for v in body["results"]] == [world["visit_a"].pk]
    body = client.get(f"{V1}/observations/", {"code": "symptom.cough", "area": "B"}).json()
    assert body["count"] == 1


def test_lists_are_paginated(worker_a: User, area_a: Area, settings: Any) -> None:
    resident = register(worker_a, area_a, "P-1")
    for day in range(1, 4):
        visit_of(worker_a, resident, dt.date(2024, 5, day))
    from rest_framework.pagination import PageNumberPagination

    original = PageNumberPagination.page_size
    PageNumberPagination.page_size = 2
    try:
        body = api_for(worker_a).get(f"{V1}/visits/").json()
    finally:
        PageNumberPagination.page_size = original
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_record_level_reads_by_epidemiologists_are_logged_but_not_health_workers_own(
    epidemiologist: User, worker_a: User, world: dict[str, Any]
) -> None:
    api_for(worker_a).get(f"{V1}/residents/")
    assert RecordAccess.objects.count() == 0
    client = api_for(epidemiologist)
    client.get(f"{V1}/visits/", {"area": "A"})
    client.get(f"{V1}/residents/{world['in_b'].pk}/")
    logged = list(RecordAccess.objects.order_by("at", "id").values_list("resource", "row_count"))
    assert logged == [("visits", 1), ("residents", 1)]
    assert RecordAccess.objects.filter(user=epidemiologist, action="read").count() == 2


def test_areas_come_with_their_population_denominators(worker_a: User, area_a: Area) -> None:
    AreaPopulation.objects.create(area=area_a, year=2024, sex="F", age_band="40-44", population=120)
    body = api_for(worker_a).get(f"{V1}/areas/").json()
    assert body["results"][0]["population"] == [
        {"year": 2024, "sex": "F", "age_band": "40-44", "population": 120}
    ]


def test_the_vocabulary_is_read_by_code(community_reviewer: User) -> None:
    client = api_for(community_reviewer)
    lead = client.get(f"{V1}/codes/lab.blood_lead/").json()
    assert lead["canonical_unit"] == "µg/dL" and lead["loinc"] == "5671-3"
    body = client.get(f"{V1}/codes/", {"category": "pollutant", "medium": "water"}).json()
    assert {c["code"] for c in body["results"]} >= {"fluoride", "uranium"}


def test_stations_and_measurements_are_entered_validated_and_filtered(
    worker_a: User, community_reviewer: User
) -> None:
    client = api_for(worker_a)
    station = client.post(
        f"{V1}/stations/",
        {"code": "AQ1", "name": "School roof", "medium": "air", "latitude": 25, "longitude": 110},
        format="json",
    )
    assert station.status_code == 201
    duplicate = client.post(
        f"{V1}/stations/",
        {"code": "AQ1", "name": "Again", "medium": "air", "latitude": 25, "longitude": 110},
        format="json",
    )
    assert duplicate.status_code == 400 and "code" in fields_of(duplicate)

    for day, value in ((1, 12), (2, 30)):
        created = client.post(
            f"{V1}/measurements/",
            {
                "station": "AQ1",
                "sampled_on": f"2024-06-0{day}",
                "pollutant": "pm2_5",
                "value": value,
                "unit": "µg/m³",
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
    wrong_medium = client.post(
        f"{V1}/measurements/",
        {
            "station": "AQ1",
            "sampled_on": "2024-06-03",
            "pollutant": "fluoride",
            "value": 1,
            "unit": "mg/L",
        },
        format="json",
    )
    assert "pollutant" in fields_of(wrong_medium)

    second = Measurement.objects.get(sampled_on="2024-06-02")
    response = client.post(
        f"{V1}/measurements/{second.pk}/status/", {"status": "invalid", "reason": "Pump fault"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "invalid" and response.json()["value"] == 30

    reader = api_for(community_reviewer)  # open data: every staff role reads it
    body = reader.get(
        f"{V1}/measurements/",
        {
            "station": "AQ1",
            "pollutant": "pm2_5",
            "status": "invalid",
            "sampled_after": "2024-06-01",
        },
    ).json()
    assert [m["id"] for m in body["results"]] == [second.pk]
    denied = reader.post(
        f"{V1}/measurements/{second.pk}/status/", {"status": "validated", "reason": "x"}
    )
    assert denied.status_code == 403


def test_epidemiologists_review_quality_flags_through_the_api(
    worker_a: User, epidemiologist: User, world: dict[str, Any]
) -> None:
    visit_of(worker_a, world["in_a"], dt.date(2024, 3, 1), **{"lab.blood_lead": "80"})
    client = api_for(epidemiologist)
    body = client.get(f"{V1}/quality-flags/", {"review_status": "open"}).json()
    kinds = {f["kind"] for f in body["results"]}
    assert kinds == {"above_reference", "same_day_visit"}
    flag = DataQualityFlag.objects.get(kind="above_reference")
    url = f"{V1}/quality-flags/{flag.pk}/review/"
    assert "note" in fields_of(client.post(url, {"review_status": "confirmed", "note": ""}))
    refused = client.post(url, {"review_status": "open", "note": "ok"})
    assert "review_status" in fields_of(refused)
    response = client.post(url, {"review_status": "corrected", "note": "Typo, fixed"})
    assert response.status_code == 200
    assert response.json()["review_status"] == "corrected"
    assert response.json()["reviewed_by"] == "epi"
    assert api_for(worker_a).get(f"{V1}/quality-flags/").status_code == 403


def test_token_authentication_works_for_api_clients(worker_a: User, world: dict[str, Any]) -> None:
    token = Token.objects.create(user=worker_a)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(f"{V1}/residents/").json()["count"] == 1
    refused = Client(HTTP_AUTHORIZATION="Token nope").get(f"{V1}/residents/")
    assert refused.status_code in (401, 403)  # 403: session auth comes first and has no header


STATIONS_CSV = b"station_code,name,medium,latitude,longitude\nS1,Well,water,25.0,110.0\n"


def upload_csv(client: APIClient, csv: bytes, **extra: str) -> Any:
    return client.post(
        f"{V1}/imports/",
        {"kind": "stations", "file": SimpleUploadedFile("s.csv", csv), **extra},
        format="multipart",
    )


def test_an_api_upload_is_answered_202_with_its_job_and_imported_by_the_worker(
    worker_a: User,
) -> None:
    client = api_for(worker_a)
    response = upload_csv(client, STATIONS_CSV)
    assert response.status_code == 202, response.json()
    job = ImportJob.objects.get()
    body = response.json()
    assert body["id"] == job.pk and body["status"] == "queued" and body["report"] is None
    assert response["Location"] == body["url"] == f"http://testserver{V1}/imports/{job.pk}/"
    assert Station.objects.count() == 0  # nothing imported inside the request

    tasks.run_import(job.pk)  # what the worker does

    state = client.get(f"{V1}/imports/{job.pk}/")
    assert state.status_code == 200
    done = state.json()
    assert done["status"] == "done" and done["outcome"] == "imported" and done["rows_read"] == 1
    assert done["report"]["created"] == 1 and done["report"]["error_count"] == 0
    assert Station.objects.count() == 1


def test_an_api_dry_run_job_checks_the_file_and_writes_nothing(worker_a: User) -> None:
    client = api_for(worker_a)
    job_id = upload_csv(client, STATIONS_CSV, dry_run="true").json()["id"]
    tasks.run_import(job_id)
    body = client.get(f"{V1}/imports/{job_id}/").json()
    assert body["dry_run"] is True and body["outcome"] == "checked"
    assert body["report"]["dry_run"] is True and Station.objects.count() == 0


def test_a_refused_api_import_lists_every_problem_by_row_and_column_in_its_job(
    worker_a: User,
) -> None:
    client = api_for(worker_a)
    bad = b"station_code,name,medium,latitude,longitude\nS2,Well,lava,25.0,110.0\n"
    job_id = upload_csv(client, bad).json()["id"]
    tasks.run_import(job_id)
    body = client.get(f"{V1}/imports/{job_id}/").json()
    assert body["status"] == "done" and body["outcome"] == "refused"
    assert body["report"]["errors"][0]["row"] == 2
    assert body["report"]["errors"][0]["column"] == "medium"
    assert Station.objects.count() == 0


def test_an_import_job_is_seen_only_by_the_person_who_uploaded(
    worker_a: User, worker_b: User
) -> None:
    job_id = upload_csv(api_for(worker_a), STATIONS_CSV).json()["id"]
    assert api_for(worker_b).get(f"{V1}/imports/{job_id}/").status_code == 404
    assert api_for(worker_a).get(f"{V1}/imports/{job_id}/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_an_api_upload_while_the_job_queue_is_down_answers_503_and_keeps_nothing(
    worker_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_import, "apply_async", refuse)
    response = upload_csv(api_for(worker_a), STATIONS_CSV)
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "failed" and body["error_code"] == "queue_unavailable"
    assert body["detail"] == body["error"] == t(QUEUE_REFUSAL, error=REFUSED_BY_BROKER)
    job = ImportJob.objects.get()
    assert not job.chunks.exists() and Station.objects.count() == 0


QUEUE_REFUSAL = (
    "Not started: the job queue is unavailable (%(error)s). Upload the file again later."
)
REFUSED_BY_BROKER = "Error 111 connecting to 127.0.0.1:6379. Connection refused."


@pytest.mark.django_db(transaction=True)
def test_a_queue_refusal_is_known_by_its_code_and_worded_in_the_language_of_whoever_reads_it(
    worker_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import translation

    from surveys.importing.jobs import refused_by_queue

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable(REFUSED_BY_BROKER)

    monkeypatch.setattr(tasks.run_import, "apply_async", refuse)
    with translation.override("fr"):
        assert upload_csv(api_for(worker_a), STATIONS_CSV).status_code == 503
    job = ImportJob.objects.get()
    assert job.error_code == "queue_unavailable" and job.error == REFUSED_BY_BROKER
    assert refused_by_queue(job)
    for language in ("en", "fr", "zh-hans"):
        with translation.override(language):
            assert job.error_message == t(QUEUE_REFUSAL, error=REFUSED_BY_BROKER)
    with translation.override("fr"):
        assert "job queue" not in job.error_message


@pytest.mark.django_db(transaction=True)
def test_a_job_that_a_fast_worker_already_failed_is_accepted_not_blamed_on_the_queue(
    worker_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surveys.importing import jobs

    def run_and_fail(args: tuple[int], **kwargs: Any) -> None:
        jobs._finish(args[0], ImportJobStatus.FAILED, error="The uploaded file is gone.")

    monkeypatch.setattr(tasks.run_import, "apply_async", run_and_fail)
    response = upload_csv(api_for(worker_a), STATIONS_CSV)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "failed"


def test_uploading_a_kind_my_role_may_not_import_is_forbidden(worker_a: User) -> None:
    response = api_for(worker_a).post(
        f"{V1}/imports/",
        {"kind": "sites", "file": SimpleUploadedFile("s.csv", b"site_code\n")},
        format="multipart",
    )
    assert response.status_code == 403
