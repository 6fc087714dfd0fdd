"""Writing field data through the services: validation, scoping, flags, audit trail."""

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from surveys.models import (
    Area,
    DataQualityFlag,
    Measurement,
    ProductionSite,
    QualityFlagKind,
    Resident,
    Station,
    Visit,
)
from surveys.services import (
    AccessDenied,
    ObservationInput,
    measurement_record,
    measurement_set_status,
    resident_find,
    resident_register,
    visit_edit,
    visit_record,
)
from surveys.validation import ValidationProblem
from tests.i18n import rx, t

TODAY = dt.date(2026, 11, 29)
# The msgid of surveys.services.SUBMISSION_KEY_REUSED, looked up in the active language.
SUBMISSION_KEY_REUSED = (
    "This submission key was already used for a different visit: open the form again (or send "
    "a new key) for a new visit."
)


def register(user: User, area: Area, study_id: str = "HW-0001", **overrides: object) -> Resident:
    fields: dict[str, object] = {
        "user": user,
        "study_id": study_id,
        "area": area,
        "birth_year": 1970,
        "sex": "F",
        "enrolled_on": dt.date(2025, 3, 1),
        "latitude": 25.0102,
        "longitude": 110.0003,
        "smoking": "never",
        "today": TODAY,
    }
    fields.update(overrides)
    return resident_register(**fields)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_registering_keeps_distance_and_grid_cell_but_not_the_coordinates_or_study_id(
    worker_a: User, area_a: Area, site: ProductionSite
) -> None:
    resident = register(worker_a, area_a)
    assert resident.distance_to_site_km is not None
    assert float(resident.distance_to_site_km) == pytest.approx(1.1, abs=0.05)
    assert resident.nearest_site == site
    stored = " ".join(str(v) for v in Resident.objects.values().get().values())
    assert "HW-0001" not in stored and "25.0102" not in stored and "110.0003" not in stored


@pytest.mark.django_db
def test_the_same_study_id_finds_the_same_resident_at_the_next_visit(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a, study_id="hw-0042")
    assert resident_find(user=worker_a, study_id=" HW-0042 ") == resident


@pytest.mark.django_db
def test_a_health_worker_cannot_find_or_register_residents_outside_their_areas(
    worker_a: User, worker_b: User, area_a: Area
) -> None:
    register(worker_a, area_a)
    assert resident_find(user=worker_b, study_id="HW-0001") is None
    with pytest.raises(ValidationProblem) as problem:
        register(worker_b, area_a, study_id="HW-0002")
    assert t("You are not assigned to area %(area)s.", area="A") in problem.value.by_field()["area"]


@pytest.mark.django_db
def test_registration_reports_every_bad_field_at_once(worker_a: User, area_a: Area) -> None:
    with pytest.raises(ValidationProblem) as problem:
        register(
            worker_a, area_a, study_id="", birth_year=1800, sex="X", latitude=95.0, smoking="?"
        )
    assert set(problem.value.by_field()) == {"study_id", "birth_year", "sex", "latitude", "smoking"}
    assert Resident.objects.count() == 0


@pytest.mark.django_db
def test_a_study_id_cannot_be_registered_twice(worker_a: User, area_a: Area) -> None:
    register(worker_a, area_a)
    with pytest.raises(ValidationProblem, match=rx("This study ID is already registered.")):
        register(worker_a, area_a, study_id="hw-0001")


@pytest.mark.django_db
def test_a_visit_with_one_bad_observation_writes_nothing_and_names_the_field(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    with pytest.raises(ValidationProblem) as problem:
        visit_record(
            user=worker_a,
            resident=resident,
            visited_on=dt.date(2026, 1, 5),
            observations=[
                ObservationInput("symptom.cough", "true"),
                ObservationInput("lab.blood_lead", "900", "µg/dL"),
            ],
            today=TODAY,
        )
    assert list(problem.value.by_field()) == ["lab.blood_lead.value"]
    assert Visit.objects.count() == 0


@pytest.mark.django_db
def test_a_valid_visit_is_stored_in_canonical_units_and_unusual_values_are_queued(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    visit = visit_record(
        user=worker_a,
        resident=resident,
        visited_on=dt.date(2026, 1, 5),
        observations=[
            ObservationInput("symptom.cough", "true"),
            ObservationInput("lab.blood_lead", "2", "µmol/L"),  # 41.44 µg/dL > 10 × 3.5
        ],
        today=TODAY,
    )
    lead = visit.observations.get(code__code="lab.blood_lead")
    assert lead.value == pytest.approx(41.44) and lead.entered_unit == "µmol/L"
    flag = DataQualityFlag.objects.get()
    assert flag.kind == QualityFlagKind.ABOVE_REFERENCE and flag.observation == lead


@pytest.mark.django_db
def test_a_second_visit_on_the_same_day_is_flagged_not_refused(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    for _ in range(2):
        visit_record(
            user=worker_a,
            resident=resident,
            visited_on=dt.date(2026, 1, 5),
            observations=[ObservationInput("symptom.cough", "false")],
            today=TODAY,
        )
    assert Visit.objects.count() == 2
    assert DataQualityFlag.objects.filter(kind=QualityFlagKind.SAME_DAY_VISIT).count() >= 1


@pytest.mark.django_db
def test_a_value_far_from_its_age_band_is_queued_as_an_outlier(
    worker_a: User, area_a: Area
) -> None:
    # 40 residents of the same age band with BMI around 24, then one at 60.
    for i in range(40):
        resident = register(worker_a, area_a, study_id=f"HW-{i:04d}", latitude=None, longitude=None)
        visit_record(
            user=worker_a,
            resident=resident,
            visited_on=dt.date(2026, 1, 5),
            observations=[ObservationInput("vital.bmi", str(23 + (i % 5) * 0.5), "kg/m²")],
            today=TODAY,
        )
    assert not DataQualityFlag.objects.filter(kind=QualityFlagKind.OUTLIER).exists()
    odd = register(worker_a, area_a, study_id="HW-9999", latitude=None, longitude=None)
    visit_record(
        user=worker_a,
        resident=odd,
        visited_on=dt.date(2026, 1, 5),
        observations=[ObservationInput("vital.bmi", "60", "kg/m²")],
        today=TODAY,
    )
    flag = DataQualityFlag.objects.get(kind=QualityFlagKind.OUTLIER)
    assert "age band 55-59" in flag.detail


@pytest.mark.django_db
def test_editing_a_visit_needs_a_reason_which_the_audit_trail_keeps(
    worker_a: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    visit = visit_record(
        user=worker_a,
        resident=resident,
        visited_on=dt.date(2026, 1, 5),
        observations=[ObservationInput("vital.bmi", "24", "kg/m²")],
        today=TODAY,
    )
    with pytest.raises(ValidationProblem, match="reason"):
        visit_edit(
            user=worker_a,
            visit=visit,
            visited_on=visit.visited_on,
            observations=[ObservationInput("vital.bmi", "25", "kg/m²")],
            reason=" ",
            today=TODAY,
        )
    visit_edit(
        user=worker_a,
        visit=visit,
        visited_on=visit.visited_on,
        observations=[ObservationInput("vital.bmi", "25", "kg/m²")],
        reason="typo in BMI",
        today=TODAY,
    )
    bmi = visit.observations.get()
    assert bmi.value == 25
    assert bmi.history.first().history_change_reason == "typo in BMI"  # type: ignore[union-attr]


@pytest.mark.django_db
def test_other_roles_cannot_record_visits(
    worker_a: User, epidemiologist: User, community_reviewer: User, area_a: Area
) -> None:
    resident = register(worker_a, area_a)
    with pytest.raises(AccessDenied):
        visit_record(
            user=community_reviewer,
            resident=resident,
            visited_on=dt.date(2026, 1, 5),
            observations=[ObservationInput("symptom.cough", "true")],
        )


@pytest.mark.django_db
def test_an_invalid_measurement_is_kept_and_marked_never_deleted(worker_a: User) -> None:
    station = Station.objects.create(
        code="W1", name="Well 1", medium="water", latitude=25.0, longitude=110.0
    )
    measurement = measurement_record(
        user=worker_a,
        station=station,
        sampled_on=dt.date(2026, 2, 1),
        pollutant="fluoride",
        value="2100",
        unit="µg/L",
        today=TODAY,
    )
    assert measurement.value == pytest.approx(2.1)
    measurement_set_status(
        user=worker_a, measurement=measurement, status="invalid", reason="contaminated bottle"
    )
    kept = Measurement.objects.get()
    assert kept.status == "invalid" and kept.value == pytest.approx(2.1)
    assert kept.history.first().history_change_reason == "contaminated bottle"  # type: ignore[union-attr]


@pytest.mark.django_db
def test_a_pollutant_of_another_medium_is_refused_for_a_station(worker_a: User) -> None:
    station = Station.objects.create(
        code="A1", name="Air 1", medium="air", latitude=25.0, longitude=110.0
    )
    said = rx(
        "%(pollutant)s is measured in %(medium)s, but station %(station)s "
        "samples %(station_medium)s.",
        pollutant="fluoride",
        medium="water",
        station="A1",
        station_medium="air",
    )
    with pytest.raises(ValidationProblem, match=said):
        measurement_record(
            user=worker_a,
            station=station,
            sampled_on=dt.date(2026, 2, 1),
            pollutant="fluoride",
            value="1",
            unit="mg/L",
            today=TODAY,
        )


@pytest.mark.django_db
def test_a_submission_key_used_twice_returns_the_stored_visit_and_stores_nothing_more(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    import uuid

    resident = register(worker_a, area_a)
    key = uuid.uuid4()
    visits = [
        visit_record(
            user=worker_a,
            resident=resident,
            visited_on=dt.date(2026, 1, 5),
            observations=[ObservationInput("symptom.cough", "true")],
            today=TODAY,
            submission_key=key,
        )
        for _ in range(2)
    ]
    assert visits[0].pk == visits[1].pk and Visit.objects.count() == 1
    other = register(worker_b, area_b, study_id="HW-0002")
    with pytest.raises(ValidationProblem, match=rx(SUBMISSION_KEY_REUSED)):
        visit_record(
            user=worker_b,
            resident=other,
            visited_on=dt.date(2026, 1, 5),
            observations=[ObservationInput("symptom.cough", "true")],
            today=TODAY,
            submission_key=key,
        )
    assert Visit.objects.count() == 1


def cough_visit(user: User, area: Area, **changes: Any) -> dict[str, Any]:
    """The arguments of visit_record for one keyed visit of a new resident, with `changes`."""
    import uuid

    return {
        "user": user,
        "resident": register(user, area),
        "visited_on": dt.date(2026, 1, 5),
        "observations": [ObservationInput("symptom.cough", "true")],
        "today": TODAY,
        "submission_key": uuid.uuid4(),
        **changes,
    }


@pytest.mark.django_db
def test_a_submission_key_reused_for_a_different_visit_is_a_conflict_and_stores_nothing(
    worker_a: User, area_a: Area
) -> None:
    from surveys.services import SubmissionKeyConflict

    first = cough_visit(worker_a, area_a)
    visit_record(**first)
    changed = {**first, "observations": [ObservationInput("symptom.cough", "false")]}
    with pytest.raises(SubmissionKeyConflict, match=rx(SUBMISSION_KEY_REUSED)) as raised:
        visit_record(**changed)
    assert raised.value.errors[0].field == "submission_key"
    with pytest.raises(SubmissionKeyConflict):
        visit_record(**{**first, "visited_on": dt.date(2026, 1, 6)})
    assert Visit.objects.count() == 1
    assert Visit.objects.get().observations.get().value_boolean is True


@pytest.mark.django_db
def test_two_requests_with_one_key_racing_past_the_check_store_one_visit(
    worker_a: User, area_a: Area, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other request commits between this one's check and its insert: the key's unique
    constraint refuses the second row and the stored visit is answered instead."""
    from surveys import services

    args = cough_visit(worker_a, area_a)
    winner, created = services.visit_submit(**args)
    assert created
    checked = services._submitted
    calls: list[int] = []

    def not_yet_committed(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else checked(*a, **kw)  # first look: not there yet

    monkeypatch.setattr(services, "_submitted", not_yet_committed)
    loser, created = services.visit_submit(**args)
    assert len(calls) == 2 and not created
    assert loser.pk == winner.pk and Visit.objects.count() == 1
