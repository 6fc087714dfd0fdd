"""Who may open what: every field page and field-data API endpoint × the cast.

Read a row as: method, path, then the outcome for
    worker_a (health worker of area A) · worker_b (of area B) · epidemiologist ·
    community reviewer · anonymous visitor.
The records named in paths ({resident}, {visit}, …) all belong to area A, so worker_b's column
is where area scoping shows: 404 for A's records, and no way to add to them.

Outcomes:  A allowed (2xx, or a redirect after a successful form)   F forbidden (403)
           N not found (404: outside the user's areas)              V refused input (400)
           L sent to the login page                                 U API refuses the anonymous
                                                                      client (401/403)
A final test walks the URL conf so that a new route without a row here fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings

from surveys import services
from surveys.models import Area, ImportJob, Measurement, ProductionSite, Station
from surveys.services import ObservationInput
from tests.conftest import client_for
from tests.urlwalk import walk

CAST = ("worker_a", "worker_b", "epidemiologist", "community_reviewer", "anonymous")

VISIT_FORM = {
    "visited_on": "2024-03-05",
    "checklist_asked": "on",
    "symptom.cough.value": "on",
}
CSV_STATIONS = b"station_code,name,medium,latitude,longitude\nS7,Roof,air,25.0,110.0\n"


def json(body: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda ids: {"data": body, "content_type": "application/json"}


def form(body: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda ids: {
        "data": {k: (v.format(**ids) if isinstance(v, str) else v) for k, v in body.items()}
    }


def upload(kind: str, content: bytes) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda ids: {"data": {"kind": kind, "file": SimpleUploadedFile("f.csv", content)}}


NEW_VISIT_API = {
    "resident": 0,  # replaced by the area-A resident's id
    "visited_on": "2024-03-05",
    "observations": [{"code": "symptom.cough", "value": True}],
}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: str  # one letter per member of CAST
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def outcomes(self) -> dict[str, str]:
        letters = self.expected.split()
        assert len(letters) == len(CAST), self
        return dict(zip(CAST, letters, strict=True))


# fmt: off
MATRIX: list[Row] = [
    #   method  path                                              wa wb epi rev anon
    # --- field pages ---------------------------------------------------------------
    Row("GET",  "/field/",                                        "A  A  F  F  L"),
    Row("POST", "/field/find/",                                   "A  A  F  F  L",
        form({"study_id": "A-1"})),
    Row("GET",  "/field/residents/new/",                          "A  A  F  F  L"),
    Row("POST", "/field/residents/new/",                          "A  V  F  F  L",
        form({"study_id": "A-2", "area": "{area_a}", "birth_year": "1980", "sex": "F",
              "enrolled_on": "2024-01-10", "smoking": "never"})),
    Row("GET",  "/field/residents/{resident}/",                   "A  N  A  F  L"),
    Row("GET",  "/field/residents/{resident}/visits/new/",        "A  N  F  F  L"),
    Row("POST", "/field/residents/{resident}/visits/new/",        "A  N  F  F  L",
        form(VISIT_FORM)),
    # The phone's outbox: another area's resident is refused like a form field (400, the same
    # message whether it exists or not), so the phone keeps the item with the message.
    Row("GET",  "/field/visits/offline/",                         "A  A  F  F  L"),
    Row("POST", "/field/outbox/send/",                            "A  V  F  F  L",
        form({**VISIT_FORM, "resident": "{resident}",
              "submission_key": "6f1c0e52-4b1e-4d84-9a6a-0c2f5e7f9b11"})),
    Row("GET",  "/field/sw.js",                                   "A  A  F  F  L"),
    Row("GET",  "/field/visits/mine/",                            "A  A  F  F  L"),
    Row("GET",  "/field/visits/{visit}/",                         "A  N  A  F  L"),
    Row("GET",  "/field/visits/{visit}/edit/",                    "A  N  F  F  L"),
    Row("POST", "/field/visits/{visit}/edit/",                    "A  N  F  F  L",
        form({**VISIT_FORM, "reason": "Corrected"})),
    Row("GET",  "/field/stations/",                               "A  A  F  F  L"),
    Row("GET",  "/field/stations/new/",                           "A  A  F  F  L"),
    Row("POST", "/field/stations/new/",                           "A  A  F  F  L",
        form({"code": "S9", "name": "Well", "medium": "water", "latitude": "25",
              "longitude": "110"})),
    Row("GET",  "/field/stations/{station}/",                     "A  A  F  F  L"),
    Row("GET",  "/field/stations/{station}/measurements/new/",    "A  A  F  F  L"),
    Row("POST", "/field/stations/{station}/measurements/new/",    "A  A  F  F  L",
        form({"sampled_on": "2024-02-02", "pollutant": "pm10", "value": "20",
              "status": "preliminary"})),
    Row("GET",  "/field/measurements/{measurement}/status/",      "A  A  F  F  L"),
    Row("POST", "/field/measurements/{measurement}/status/",      "A  A  F  F  L",
        form({"status": "invalid", "reason": "Filter torn"})),
    # A health worker reads the history of the records they created or edited (worker_a
    # created these); worker_b neither created nor edited them.
    Row("GET",  "/field/audit/",                                  "A  A  A  F  L"),
    Row("GET",  "/field/audit/export.csv",                        "A  A  A  F  L"),
    Row("GET",  "/field/audit/residents/{resident}/",             "A  N  A  F  L"),
    Row("GET",  "/field/audit/visits/{visit}/",                   "A  N  A  F  L"),
    Row("GET",  "/field/audit/measurements/{measurement}/",       "A  N  A  F  L"),
    Row("GET",  "/field/quality/",                                "F  F  A  F  L"),
    Row("POST", "/field/quality/resolve/",                        "F  F  A  F  L",
        form({"flag": "{flag}", "status": "confirmed", "note": "Checked with the lab"})),
    Row("POST", "/field/quality/{flag}/review/",                  "F  F  A  F  L",
        form({"status": "confirmed", "note": "Checked with the lab"})),
    Row("GET",  "/field/import/",                                 "A  A  F  F  L"),
    Row("POST", "/field/import/",                                 "A  A  F  F  L",
        upload("stations", CSV_STATIONS)),
    Row("GET",  "/field/import/jobs/{import_job}/",               "A  N  F  F  L"),
    # --- API: reference data ---------------------------------------------------------
    Row("GET",  "/api/v1/sites/",                                 "A  A  A  A  U"),
    Row("GET",  "/api/v1/sites/{site}/",                          "A  A  A  A  U"),
    Row("GET",  "/api/v1/areas/",                                 "A  A  A  F  U"),
    Row("GET",  "/api/v1/areas/{area_a}/",                        "A  N  A  F  U"),
    Row("GET",  "/api/v1/codes/",                                 "A  A  A  A  U"),
    Row("GET",  "/api/v1/codes/{code}/",                          "A  A  A  A  U"),
    # --- API: record-level field data -------------------------------------------------
    Row("GET",  "/api/v1/residents/",                             "A  A  A  F  U"),
    Row("POST", "/api/v1/residents/",                             "A  V  F  F  U",
        json({"study_id": "A-3", "area": "A", "birth_year": 1980, "sex": "M",
              "enrolled_on": "2024-01-10"})),
    Row("GET",  "/api/v1/residents/{resident}/",                  "A  N  A  F  U"),
    Row("POST", "/api/v1/residents/find/",                        "A  N  A  F  U",
        json({"study_id": "A-1"})),
    Row("GET",  "/api/v1/visits/",                                "A  A  A  F  U"),
    Row("POST", "/api/v1/visits/",                                "A  V  F  F  U", None),
    Row("GET",  "/api/v1/visits/{visit}/",                        "A  N  A  F  U"),
    Row("PUT",  "/api/v1/visits/{visit}/",                        "A  N  F  F  U",
        json({"visited_on": "2024-03-01", "reason": "Typo",
              "observations": [{"code": "symptom.cough", "value": False}]})),
    Row("GET",  "/api/v1/observations/",                          "A  A  A  F  U"),
    Row("GET",  "/api/v1/observations/{observation}/",            "A  N  A  F  U"),
    Row("GET",  "/api/v1/quality-flags/",                         "F  F  A  F  U"),
    Row("GET",  "/api/v1/quality-flags/{flag}/",                  "F  F  A  F  U"),
    Row("POST", "/api/v1/quality-flags/{flag}/review/",           "F  F  A  F  U",
        json({"review_status": "confirmed", "note": "Checked"})),
    # --- API: environmental monitoring (open data; entry by health workers) -------------
    Row("GET",  "/api/v1/stations/",                              "A  A  A  A  U"),
    Row("POST", "/api/v1/stations/",                              "A  A  F  F  U",
        json({"code": "S8", "name": "Hill", "medium": "air", "latitude": 25,
              "longitude": 110})),
    Row("GET",  "/api/v1/stations/{station}/",                    "A  A  A  A  U"),
    Row("GET",  "/api/v1/measurements/",                          "A  A  A  A  U"),
    Row("POST", "/api/v1/measurements/",                          "A  A  F  F  U",
        json({"station": "S1", "sampled_on": "2024-02-03", "pollutant": "pm10",
              "value": 20, "unit": "µg/m³"})),
    Row("GET",  "/api/v1/measurements/{measurement}/",            "A  A  A  A  U"),
    Row("POST", "/api/v1/measurements/{measurement}/status/",     "A  A  F  F  U",
        json({"status": "validated", "reason": "Duplicate sample agrees"})),
    # --- API: CSV upload --------------------------------------------------------------
    Row("POST", "/api/v1/imports/",                               "A  A  F  F  U",
        upload("stations", CSV_STATIONS)),
    Row("GET",  "/api/v1/imports/{import_job}/",                  "A  N  N  F  U"),
]
# fmt: on


@pytest.fixture
def world(
    worker_a: User,
    worker_b: User,
    epidemiologist: User,
    community_reviewer: User,
    area_a: Area,
    area_b: Area,
    site: ProductionSite,
) -> dict[str, Any]:
    """Records of area A: a resident with a flagged visit, and a station with a measurement."""
    resident = services.resident_register(
        user=worker_a,
        study_id="A-1",
        area=area_a,
        birth_year=1970,
        sex="F",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )
    visit = services.visit_record(
        user=worker_a,
        resident=resident,
        visited_on=dt.date(2024, 3, 1),
        observations=[ObservationInput("lab.blood_lead", "80", unit="µg/dL")],
    )
    station = Station.objects.create(
        code="S1", name="Roof", medium="air", latitude=25.0, longitude=110.0
    )
    measurement = services.measurement_record(
        user=worker_a,
        station=station,
        sampled_on=dt.date(2024, 2, 1),
        pollutant="pm2_5",
        value="12",
        unit="µg/m³",
    )
    users = {
        "worker_a": worker_a,
        "worker_b": worker_b,
        "epidemiologist": epidemiologist,
        "community_reviewer": community_reviewer,
    }
    ids = {
        "area_a": area_a.pk,
        "site": site.pk,
        "resident": resident.pk,
        "visit": visit.pk,
        "observation": visit.observations.get().pk,
        "station": station.pk,
        "measurement": measurement.pk,
        "flag": visit.observations.get().quality_flags.get().pk,
        "code": "lab.blood_lead",
        "import_job": ImportJob.objects.create(
            kind="stations", file_name="s.csv", size=1, requested_by=worker_a
        ).pk,
    }
    return {"users": users, "ids": ids}


def outcome(response: Any, anonymous: bool) -> str:
    code = response.status_code
    if code == 302 and response["Location"].startswith("/accounts/login/"):
        return "L"
    if anonymous and code in (401, 403) and response.get("Content-Type") == "application/json":
        return "U"
    return {400: "V", 403: "F", 404: "N"}.get(code, "A" if code < 400 else str(code))


class _Rollback(Exception):
    """Undo what one member of the cast did, so the next one meets the same world."""


def _attempt(row: Row, who: str, world: dict[str, Any]) -> tuple[str, Any]:
    ids = world["ids"]
    client = Client() if who == "anonymous" else client_for(world["users"][who])
    path = row.path.format(**ids)
    if row.path == "/api/v1/visits/" and row.method == "POST":
        kwargs = json({**NEW_VISIT_API, "resident": ids["resident"]})(ids)
    else:
        kwargs = row.body(ids) if row.body else {}
    result: tuple[str, Any] = ("", None)
    try:
        with transaction.atomic():
            response = getattr(client, row.method.lower())(path, **kwargs)
            result = (outcome(response, anonymous=who == "anonymous"), response)
            raise _Rollback
    except _Rollback:
        pass
    return result


@pytest.fixture(scope="module", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """The cast is created for every row; the default hasher is deliberately slow."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.mark.django_db
@pytest.mark.parametrize("row", [pytest.param(r, id=f"{r.method} {r.path}") for r in MATRIX])
def test_permission_matrix(row: Row, world: dict[str, Any]) -> None:
    wrong = []
    for who, expected in row.outcomes().items():
        got, response = _attempt(row, who, world)
        if got != expected:
            wrong.append(
                f"{who}: expected {expected}, got {got} ({response.status_code}) "
                f"{response.content[:200]!r}"
            )
    assert not wrong, f"{row.method} {row.path}:\n" + "\n".join(wrong)


@pytest.mark.django_db
def test_area_b_worker_could_not_add_anything_to_area_a(world: dict[str, Any]) -> None:
    client = client_for(world["users"]["worker_b"])
    ids = world["ids"]
    client.post(f"/field/residents/{ids['resident']}/visits/new/", VISIT_FORM)
    client.post(
        "/api/v1/visits/",
        {**NEW_VISIT_API, "resident": ids["resident"]},
        content_type="application/json",
    )
    assert Measurement.objects.count() == 1
    from surveys.models import Visit

    assert Visit.objects.filter(resident_id=ids["resident"]).count() == 1


def _sample(path: str) -> str:
    """A matrix path as the URL walk samples it (every parameter 1)."""
    sample = path
    for name in (
        "area_a",
        "site",
        "resident",
        "visit",
        "observation",
        "station",
        "measurement",
        "flag",
        "import_job",
    ):
        sample = sample.replace("{" + name + "}", "1")
    return sample.replace("{code}", "1")  # the walk samples regex groups as 1


def test_every_field_page_and_endpoint_has_a_row_in_the_matrix() -> None:
    covered = {_sample(row.path) for row in MATRIX}
    routes = {
        route.path
        for route in walk()
        if route.name.startswith("surveys:")
        or (
            route.path.startswith("/api/v1/")
            # /me/ is everyone's; the monitoring routes have their matrix in tests/monitoring.
            and route.path not in ("/api/v1/me/", "/api/v1/lab-results/")
        )
    }
    missing = routes - covered
    assert not missing, f"routes without a row in the permission matrix: {sorted(missing)}"
