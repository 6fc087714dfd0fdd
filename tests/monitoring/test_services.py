"""Community monitoring services: samples, custody, lab results, validation, corrections."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from monitoring import services
from monitoring.models import CustodyStep, Reading, Sample
from notifications.models import Notification, NotificationKind
from surveys.models import Station
from surveys.services import AccessDenied
from surveys.validation import ValidationProblem
from tests.i18n import tn

pytestmark = pytest.mark.django_db


def take_sample(monitor: User, station: Station, when: dt.datetime, code: str = "S-1") -> Sample:
    return services.sample_record(
        user=monitor,
        code=code,
        station=station,
        collected_at=when,
        container="HDPE 500 mL",
        preservation="cooled to 4 °C",
        lab="Provincial lab",
        handed_at=when + dt.timedelta(minutes=30),
    )


def lab_csv(*rows: str) -> str:
    return "sample_id,pollutant,value,unit,below_lod,lod,method,lab\n" + "\n".join(rows) + "\n"


def test_a_monitor_records_a_sample_at_an_assigned_station_as_community_collected(
    monitor: User, water_station: Station, an_hour_ago: dt.datetime
) -> None:
    sample = take_sample(monitor, water_station, an_hour_ago)
    assert sample.community_collected
    assert sample.collector_role == "community_monitor"
    assert sample.medium == "water"
    assert [e.step for e in sample.custody.all()] == [
        CustodyStep.COLLECTED,
        CustodyStep.HANDED_TO_LAB,
    ]
    assert sample.history.count() == 1


def test_a_monitor_cannot_record_at_a_station_not_assigned_to_them(
    monitor: User, air_station: Station, an_hour_ago: dt.datetime
) -> None:
    with pytest.raises(AccessDenied):
        take_sample(monitor, air_station, an_hour_ago)
    assert not Sample.objects.exists()


def test_an_ad_hoc_sample_needs_a_gps_point_and_a_medium(
    monitor: User, an_hour_ago: dt.datetime
) -> None:
    with pytest.raises(ValidationProblem) as problem:
        services.sample_record(user=monitor, code="S-9", station=None, collected_at=an_hour_ago)
    assert {e.field for e in problem.value.errors} == {"station", "medium"}
    sample = services.sample_record(
        user=monitor,
        code="S-9",
        station=None,
        latitude=24.95,
        longitude=110.05,
        medium="water",
        collected_at=an_hour_ago,
    )
    assert sample.station is None and sample.latitude == 24.95


def test_a_lab_csv_attaches_results_by_sample_id_as_preliminary_readings(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    take_sample(monitor, water_station, an_hour_ago)
    results = services.lab_results_from_csv(
        lab_csv("S-1,fluoride,2.4,mg/L,false,0.05,ISO 10304-1,Provincial lab")
    )
    [reading] = services.lab_results_attach(user=epidemiologist, results=results, source="l.csv")
    assert reading.status == "preliminary"
    assert reading.community_collected and reading.station == water_station
    assert reading.lod == 0.05 and reading.method == "ISO 10304-1"
    assert reading.sample is not None
    assert reading.sample.custody.last().step == CustodyStep.RESULT_ATTACHED  # type: ignore[union-attr]


def test_a_lab_csv_with_one_bad_row_attaches_nothing_and_names_row_and_field(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    take_sample(monitor, water_station, an_hour_ago)
    results = services.lab_results_from_csv(
        lab_csv(
            "S-1,fluoride,2.4,mg/L,false,,,",
            "S-404,fluoride,1.0,mg/L,false,,,",
            "S-1,lead,abc,µg/L,false,,,",
        )
    )
    with pytest.raises(ValidationProblem) as problem:
        services.lab_results_attach(user=epidemiologist, results=results, source="l.csv")
    fields = [e.field for e in problem.value.errors]
    assert "row 2: sample_id" in fields
    assert "row 3: value" in fields
    assert not Reading.objects.exists()


def test_a_monitor_cannot_attach_lab_results(
    monitor: User, water_station: Station, an_hour_ago: dt.datetime
) -> None:
    take_sample(monitor, water_station, an_hour_ago)
    with pytest.raises(AccessDenied):
        services.lab_results_attach(
            user=monitor,
            results=[services.LabResult("S-1", "fluoride", "2", "mg/L")],
            source="form",
        )


def test_validating_an_exceedance_keeps_the_reason_and_notifies_epidemiologists_and_reviewers(
    monitor: User,
    water_station: Station,
    epidemiologist: User,
    community_reviewer: User,
    an_hour_ago: dt.datetime,
) -> None:
    for user in (epidemiologist, community_reviewer):
        user.email = f"{user.username}@example.org"
        user.save()
    take_sample(monitor, water_station, an_hour_ago)
    [reading] = services.lab_results_attach(
        user=epidemiologist,
        results=[services.LabResult("S-1", "fluoride", "2.4", "mg/L")],
        source="form",
    )
    services.reading_set_status(
        user=epidemiologist, reading=reading, status="validated", reason="QC blanks clean"
    )
    reading.refresh_from_db()
    assert (reading.status, reading.status_reason) == ("validated", "QC blanks clean")
    assert [h.status for h in reading.history.order_by("history_date")] == [
        "preliminary",
        "validated",
    ]
    sent_to = set(
        Notification.objects.filter(kind=NotificationKind.EXCEEDANCE_VALIDATED).values_list(
            "address", flat=True
        )
    )
    assert sent_to == {"epi@example.org", "reviewer@example.org"}


def test_a_reading_within_the_guideline_notifies_nobody(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    epidemiologist.email = "epi@example.org"
    epidemiologist.save()
    take_sample(monitor, water_station, an_hour_ago)
    [reading] = services.lab_results_attach(
        user=epidemiologist,
        results=[services.LabResult("S-1", "fluoride", "0.4", "mg/L")],
        source="form",
    )
    services.reading_set_status(
        user=epidemiologist, reading=reading, status="validated", reason="ok"
    )
    assert not Notification.objects.exists()


def test_invalidating_needs_a_reason_and_keeps_the_value(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    take_sample(monitor, water_station, an_hour_ago)
    [reading] = services.lab_results_attach(
        user=epidemiologist,
        results=[services.LabResult("S-1", "fluoride", "2.4", "mg/L")],
        source="form",
    )
    with pytest.raises(ValidationProblem):
        services.reading_set_status(
            user=epidemiologist, reading=reading, status="invalid", reason=""
        )
    services.reading_set_status(
        user=epidemiologist, reading=reading, status="invalid", reason="bottle leaked"
    )
    reading.refresh_from_db()
    assert reading.value == 2.4 and reading.status == "invalid"


def test_a_correction_is_a_new_version_pointing_to_the_old_one_which_is_kept(
    monitor: User, water_station: Station, epidemiologist: User, an_hour_ago: dt.datetime
) -> None:
    take_sample(monitor, water_station, an_hour_ago)
    [old] = services.lab_results_attach(
        user=epidemiologist,
        results=[services.LabResult("S-1", "fluoride", "24", "mg/L")],
        source="form",
    )
    new = services.reading_correct(
        user=epidemiologist, reading=old, value="2.4", unit="mg/L", reason="decimal slipped"
    )
    old.refresh_from_db()
    assert old.value == 24 and new.value == 2.4 and new.corrects == old
    assert new.status == "preliminary"
    with pytest.raises(ValidationProblem):
        services.reading_set_status(
            user=epidemiologist, reading=old, status="validated", reason="x"
        )


def test_a_monitor_records_a_sensor_reading_as_preliminary_and_community_collected(
    monitor: User, water_station: Station, an_hour_ago: dt.datetime
) -> None:
    reading = services.sensor_reading_record(
        user=monitor,
        station=water_station,
        measured_at=an_hour_ago,
        pollutant="fluoride",
        value="0.8",
        unit="mg/L",
    )
    assert reading.status == "preliminary" and reading.community_collected
    assert reading.sample is None


def test_a_complaint_waits_for_moderation_and_staff_link_it_to_a_sample(
    monitor: User,
    water_station: Station,
    epidemiologist: User,
    community_reviewer: User,
    an_hour_ago: dt.datetime,
) -> None:
    complaint = services.complaint_submit(
        kind="dead_fish",
        description="Dozens of dead fish below the outfall",
        place="River bend",
        occurred_at=an_hour_ago,
        address="203.0.113.5",
    )
    assert complaint.status == "pending"
    services.complaint_moderate(user=community_reviewer, complaint=complaint, approve=True)
    sample = take_sample(monitor, water_station, an_hour_ago)
    services.complaint_link_sample(user=epidemiologist, complaint=complaint, sample=sample)
    assert list(complaint.samples.all()) == [sample]
    assert sample.custody.last().step == CustodyStep.LINKED_TO_COMPLAINT  # type: ignore[union-attr]
    with pytest.raises(AccessDenied):
        services.complaint_link_sample(user=monitor, complaint=complaint, sample=sample)


@pytest.mark.parametrize(
    ("header", "missing"),
    [("sample_id,pollutant,value", ["unit"]), ("sample_id,pollutant", ["value", "unit"])],
)
def test_a_lab_csv_lacking_columns_names_them_in_the_singular_or_the_plural(
    header: str, missing: list[str]
) -> None:
    with pytest.raises(ValidationProblem) as problem:
        services.lab_results_from_csv(header + "\n")
    assert problem.value.errors[0].message == tn(
        "The header lacks the column %(columns)s; expected %(expected)s.",
        "The header lacks the columns %(columns)s; expected %(expected)s.",
        len(missing),
        columns=", ".join(missing),
        expected=", ".join(services.LAB_CSV_COLUMNS),
    )
    assert "(s)" not in problem.value.errors[0].message
