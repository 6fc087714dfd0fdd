"""Every write service writes its record and its audit reason together, or nothing.

The walk makes the 1st, then the 2nd, … database write of a service call fail (as a dropped
connection, a full disk or a too-long column would) until the call goes through, and after each
failure compares every table of the field data, the analytics alerts and their histories with
what was stored before the call.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import OperationalError, connection

import analytics.services
import surveys.services
from analytics.models import Alert, AnalysisRun
from analytics.suite import AlertCandidate
from surveys.forms import MeasurementStatusForm, VisitEditForm
from surveys.models import REASON_MAX_LENGTH, Area, DataQualityFlag, Measurement, Station, Visit
from surveys.serializers import MeasurementStatusSerializer, VisitUpdateSerializer
from surveys.services import ObservationInput, resident_register, visit_record

TODAY = dt.date(2026, 11, 29)
WRITES = ("INSERT", "UPDATE", "DELETE")


class FailingWrite:
    """A database execute wrapper that fails the `n`th INSERT, UPDATE or DELETE."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.writes = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().split(None, 1)[0].upper() in WRITES:
            self.writes += 1
            if self.writes == self.n:
                raise OperationalError(f"injected failure of write {self.n}")
        return execute(sql, params, many, context)


def stored_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the field data and alerts, with their historical tables."""
    models = [*apps.get_app_config("surveys").get_models(), Alert, Alert.history.model]
    return {
        model._meta.label: sorted(
            (tuple(str(v) for v in row) for row in model._default_manager.values_list()),
        )
        for model in models
    }


def walk(call: Callable[[], Any]) -> int:
    """Fail each write of `call` in turn; returns how many writes the call makes."""
    n = 1
    while True:
        before = stored_state()
        failing = FailingWrite(n)
        with connection.execute_wrapper(failing):
            try:
                call()
            except OperationalError:
                pass
            else:
                assert failing.writes < n, "the call swallowed the failure of a write"
                return n - 1
        assert stored_state() == before, f"failing write {n} left part of the change stored"
        n += 1


@pytest.fixture
def field_data(
    vocabulary_and_groups: None, worker_a: User, area_a: Area, epidemiologist: User
) -> dict[str, Any]:
    resident = resident_register(
        user=worker_a,
        study_id="HW-0001",
        area=area_a,
        birth_year=1970,
        sex="F",
        enrolled_on=dt.date(2025, 3, 1),
        latitude=None,
        longitude=None,
        today=TODAY,
    )
    visit = visit_record(
        user=worker_a,
        resident=resident,
        visited_on=dt.date(2026, 1, 5),
        observations=[
            ObservationInput("symptom.cough", "true"),
            ObservationInput("lab.blood_lead", "2", "µmol/L"),  # far above the reference: flagged
        ],
        today=TODAY,
    )
    station = Station.objects.create(
        code="W1", name="Well 1", medium="water", latitude=25.0, longitude=110.0
    )
    measurement = surveys.services.measurement_record(
        user=worker_a,
        station=station,
        sampled_on=dt.date(2026, 2, 1),
        pollutant="fluoride",
        value="1.2",
        unit="mg/L",
        today=TODAY,
    )
    alert = Alert.objects.create(
        outcome="symptom.cough",
        area_code=area_a.code,
        week=dt.date(2026, 1, 5),
        method="farrington",
        observed=9,
        expected=2,
        upper_bound=5,
    )
    return {
        "worker": worker_a,
        "epidemiologist": epidemiologist,
        "area": area_a,
        "resident": resident,
        "visit": visit,
        "station": station,
        "measurement": measurement,
        "flag": DataQualityFlag.objects.get(),
        "alert": alert,
    }


LONG_REASON = "r" * REASON_MAX_LENGTH

CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "resident_register": lambda d: resident_register(
        user=d["worker"],
        study_id="HW-0002",
        area=d["area"],
        birth_year=1980,
        sex="M",
        enrolled_on=dt.date(2025, 3, 1),
        latitude=25.01,
        longitude=110.0,
        today=TODAY,
    ),
    "visit_record": lambda d: visit_record(
        user=d["worker"],
        resident=d["resident"],
        visited_on=dt.date(2026, 1, 5),  # same day: a same-day flag is written as well
        observations=[
            ObservationInput("symptom.wheeze", "true"),
            ObservationInput("lab.blood_lead", "60", "µg/dL"),
        ],
        today=TODAY,
    ),
    # With a submission key: the key and its fingerprint are stored with the visit, or nothing.
    "visit_submit": lambda d: surveys.services.visit_submit(
        user=d["worker"],
        resident=d["resident"],
        visited_on=dt.date(2026, 1, 5),
        observations=[ObservationInput("lab.blood_lead", "60", "µg/dL")],
        today=TODAY,
        submission_key=uuid.uuid4(),
    ),
    "resident_register_or_find": lambda d: surveys.services.resident_register_or_find(
        user=d["worker"],
        registration=surveys.services.ResidentRegistration(
            study_id="HW-0005",
            area=d["area"],
            birth_year=1981,
            sex="F",
            enrolled_on=dt.date(2025, 3, 1),
        ),
        today=TODAY,
    ),
    # A phone's outbox item with an offline registration: the resident and the visit, or nothing.
    "outbox_visit_submit": lambda d: surveys.services.outbox_visit_submit(
        user=d["worker"],
        registration=surveys.services.ResidentRegistration(
            study_id="HW-0004",
            area=d["area"],
            birth_year=1980,
            sex="F",
            enrolled_on=dt.date(2025, 3, 1),
        ),
        visited_on=dt.date(2026, 1, 5),
        observations=[ObservationInput("lab.blood_lead", "60", "µg/dL")],
        today=TODAY,
        submission_key=uuid.uuid4(),
    ),
    "visit_edit": lambda d: surveys.services.visit_edit(
        user=d["worker"],
        visit=Visit.objects.get(pk=d["visit"].pk),
        visited_on=dt.date(2026, 1, 6),
        observations=[ObservationInput("vital.bmi", "24", "kg/m²")],
        reason=LONG_REASON,
        today=TODAY,
    ),
    "station_register": lambda d: surveys.services.station_register(
        user=d["worker"], code="A9", name="Air 9", medium="air", latitude=25.0, longitude=110.0
    ),
    "measurement_record": lambda d: surveys.services.measurement_record(
        user=d["worker"],
        station=d["station"],
        sampled_on=dt.date(2026, 2, 2),
        pollutant="fluoride",
        value="1.3",
        unit="mg/L",
        today=TODAY,
    ),
    "measurement_set_status": lambda d: surveys.services.measurement_set_status(
        user=d["worker"],
        measurement=Measurement.objects.get(pk=d["measurement"].pk),
        status="invalid",
        reason=LONG_REASON,
    ),
    "quality_flag_review": lambda d: surveys.services.quality_flag_review(
        user=d["epidemiologist"],
        flag=DataQualityFlag.objects.get(pk=d["flag"].pk),
        status="confirmed",
        note="checked with the laboratory",
    ),
    "quality_flags_resolve": lambda d: surveys.services.quality_flags_resolve(
        user=d["epidemiologist"],
        flag_ids=[d["flag"].pk],
        status="confirmed",
        note="checked with the laboratory",
    ),
    "record_access_log": lambda d: surveys.services.record_access_log(
        user=d["epidemiologist"], action="read", resource="visit", detail="visit 1"
    ),
    "alert_acknowledge": lambda d: analytics.services.alert_acknowledge(
        user=d["epidemiologist"],
        alert=Alert.objects.get(pk=d["alert"].pk),
        annotation="a school outbreak, known",
    ),
    "alert_upsert": lambda d: analytics.services.alert_upsert(
        run=AnalysisRun.objects.create(),
        alerts=[
            AlertCandidate(
                "symptom.cough", d["area"].code, dt.date(2026, 1, 5), "farrington", 9, 3, 6
            ),
            AlertCandidate(
                "symptom.wheeze", d["area"].code, dt.date(2026, 1, 5), "farrington", 7, 1, 4
            ),
        ],
    ),
    "alert_annotate": lambda d: analytics.services.alert_annotate(
        user=d["epidemiologist"], alert=Alert.objects.get(pk=d["alert"].pk), annotation="see note"
    ),
}


def _write_services() -> set[str]:
    """The public write functions of the two service modules (readers excluded)."""
    names = set()
    for module in (surveys.services, analytics.services):
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            if name in (
                "resident_find",
                "parameters_hash",
                "result_set_datasets_unchanged",
            ) or name.startswith("analysis_"):
                continue  # readers, a helper, and the runs (tests/analytics/test_runs.py)
            if name in ("result_set_charts_render", "result_set_charts_translate"):
                # re-runnable: each part's charts (per language) are replaced in one transaction
                # of their own (tests/analytics/test_views_analytics.py draws them again without
                # duplicates, and in another language)
                continue
            names.add(name)
    return names


def test_the_walk_covers_every_write_service() -> None:
    assert set(CASES) == _write_services()


# Autocommit, as in production: a write outside the service's transaction stays stored.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("service", sorted(CASES))
def test_a_failing_write_leaves_nothing_of_the_change_stored(
    service: str, field_data: dict[str, Any]
) -> None:
    writes = walk(lambda: CASES[service](field_data))
    assert writes >= 1


@pytest.mark.django_db
def test_a_status_change_with_the_longest_allowed_reason_keeps_the_reason(
    field_data: dict[str, Any],
) -> None:
    measurement = surveys.services.measurement_set_status(
        user=field_data["worker"],
        measurement=field_data["measurement"],
        status="invalid",
        reason=LONG_REASON,
    )
    latest = measurement.history.first()  # type: ignore[attr-defined]
    assert latest.status == "invalid" and latest.history_change_reason == LONG_REASON


def test_forms_api_and_history_accept_the_same_reason_length() -> None:
    from surveys.models import Observation, Resident

    history_lengths = {
        model.history.model._meta.get_field("history_change_reason").max_length  # type: ignore[attr-defined]
        for model in (Visit, Observation, Measurement, Resident, Station, Alert)
    }
    entry_lengths = {
        VisitEditForm.base_fields["reason"].max_length,  # type: ignore[attr-defined]
        MeasurementStatusForm.base_fields["reason"].max_length,  # type: ignore[attr-defined]
        VisitUpdateSerializer().fields["reason"].max_length,  # type: ignore[attr-defined]
        MeasurementStatusSerializer().fields["reason"].max_length,  # type: ignore[attr-defined]
    }
    assert history_lengths == entry_lengths == {REASON_MAX_LENGTH}
