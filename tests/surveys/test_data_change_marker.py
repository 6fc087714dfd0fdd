"""The data change marker: every committed write to a table an analysis reads gives another one.

A report draft trusts an equal marker instead of extracting and hashing all the data again
(reports.services.release_build_draft), so a write that left the marker as it was would let a
report disagree with its data. Each path that writes field data is tried here: the ORM (one
row, many rows, queryset update and delete), raw SQL, the CSV import (columnar COPY path), the
phone's outbox and OpenRosa. The same module runs on PostgreSQL (statement triggers) through
tests/integration/test_data_change_postgres.py.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from surveys.importing import import_csv
from surveys.models import (
    ANALYSED_TABLES,
    Area,
    AreaPopulation,
    Measurement,
    Observation,
    ProductionSite,
    Resident,
    Station,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import pseudonymize
from surveys.selectors import data_change_marker
from surveys.services import ObservationInput, ResidentRegistration, outbox_visit_submit
from tests.openrosa.odk import blank_form, fill, submit

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 29)


def changes(write: Callable[[], object]) -> bool:
    before = data_change_marker()
    write()
    return data_change_marker() != before


def resident(area: Area, study_id: str = "HW-MARK-1") -> Resident:
    pseudonym = pseudonymize(study_id)
    return Resident.objects.create(
        pseudonym=pseudonym.value,
        key_version=pseudonym.key_version,
        area=area,
        sex="F",
        birth_year=1970,
        enrolled_on=dt.date(2025, 1, 1),
    )


def test_the_migration_triggers_every_table_an_analysis_reads() -> None:
    """The tables extract_all queries are all logged (a new dataset needs its trigger)."""
    from importlib import import_module

    from analytics.extraction import extract_all

    migration = import_module("surveys.migrations.0008_perf_data_change")
    assert set(migration.TABLES) == set(ANALYSED_TABLES)
    with CaptureQueriesContext(connection) as queries:
        extract_all()
    read = {t for q in queries for t in re.findall(r'"?(surveys_[a-z]+)"?', q["sql"])}
    assert read and read <= set(ANALYSED_TABLES)


def test_the_marker_stays_the_same_while_nothing_is_written(area_a: Area) -> None:
    resident(area_a)
    assert data_change_marker() == data_change_marker()
    assert not changes(lambda: list(Resident.objects.all()))


def test_inserting_updating_and_deleting_one_row_each_change_the_marker(area_a: Area) -> None:
    created: list[Resident] = []
    assert changes(lambda: created.append(resident(area_a)))
    person = created[0]
    person.birth_year = 1971
    assert changes(person.save)
    assert changes(person.delete)


def test_bulk_writes_and_queryset_updates_and_deletes_change_the_marker(area_a: Area) -> None:
    assert changes(
        lambda: AreaPopulation.objects.bulk_create(
            [
                AreaPopulation(area=area_a, year=2025, sex=sex, age_band="40-44", population=10)
                for sex in ("F", "M")
            ]
        )
    )
    assert changes(lambda: AreaPopulation.objects.filter(area=area_a).update(population=11))
    assert changes(lambda: AreaPopulation.objects.filter(area=area_a).delete())


def test_every_analysed_model_changes_the_marker(area_a: Area, site: ProductionSite) -> None:
    station = Station.objects.create(
        code="ST-M", name="Marker station", medium="air", latitude=25.0, longitude=110.0
    )
    person = resident(area_a)
    visit = Visit.objects.create(resident=person, visited_on=dt.date(2025, 5, 1))
    cough = VocabularyCode.objects.get(code="symptom.cough")
    pm10 = VocabularyCode.objects.filter(category="pollutant").order_by("code").first()
    assert pm10 is not None
    writes: list[Callable[[], object]] = [
        lambda: ProductionSite.objects.filter(pk=site.pk).update(name="Renamed plant"),
        lambda: Area.objects.filter(pk=area_a.pk).update(name="Area A, renamed"),
        lambda: VocabularyCode.objects.filter(pk=cough.pk).update(label="Cough (any)"),
        lambda: Station.objects.filter(pk=station.pk).update(name="Renamed station"),
        lambda: Visit.objects.filter(pk=visit.pk).update(visited_on=dt.date(2025, 5, 2)),
        lambda: Observation.objects.create(visit=visit, code=cough, value_boolean=True),
        lambda: Measurement.objects.create(
            station=station, pollutant=pm10, sampled_on=dt.date(2025, 5, 1), value=1.0
        ),
    ]
    for write in writes:
        assert changes(write)


def test_raw_sql_changes_the_marker(area_a: Area) -> None:
    person = resident(area_a)

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE surveys_resident SET birth_year = birth_year + 1 WHERE id = %s",
                [person.pk],
            )

    assert changes(raw)


def test_a_write_rolled_back_leaves_the_marker_as_it_was(area_a: Area) -> None:
    before = data_change_marker()
    with pytest.raises(RuntimeError), transaction.atomic():
        resident(area_a)
        raise RuntimeError("rolled back")
    assert data_change_marker() == before


def test_the_csv_import_changes_the_marker_and_a_refused_file_does_not(
    tiny_community: Path,
) -> None:
    """The bulk paths (COPY on PostgreSQL) included: the whole tiny community, kind by kind."""
    for kind in ("sites", "areas", "population", "stations", "measurements", "residents"):
        with (tiny_community / f"{kind}.csv").open("rb") as stream:
            before = data_change_marker()
            report = import_csv(kind=kind, stream=stream, file_name=f"{kind}.csv", user=None)
        assert report.ok and data_change_marker() != before, kind
    content = (tiny_community / "observations.csv").read_bytes()
    before = data_change_marker()
    report = import_csv(
        kind="observations", stream=io.BytesIO(content), file_name="o.csv", user=None
    )
    assert report.ok and report.created and data_change_marker() != before
    refused = content + b"HW-NOBODY,2025-01-01,symptom.cough,true,,,\n"
    before = data_change_marker()
    report = import_csv(
        kind="observations", stream=io.BytesIO(refused), file_name="o.csv", user=None
    )
    assert not report.ok and data_change_marker() == before


def test_a_visit_sent_from_the_phone_s_outbox_changes_the_marker(
    worker_a: User, area_a: Area
) -> None:
    registration = ResidentRegistration(
        study_id="HW-OUT-1", area=area_a, birth_year=1970, sex="F", enrolled_on=dt.date(2025, 3, 1)
    )
    assert changes(
        lambda: outbox_visit_submit(
            user=worker_a,
            registration=registration,
            visited_on=dt.date(2025, 4, 1),
            observations=[ObservationInput("lab.blood_lead", "4.2", unit="µg/dL")],
            submission_key=uuid.uuid4(),
            today=TODAY,
        )
    )


def test_an_openrosa_submission_changes_the_marker(worker_a: User, area_a: Area) -> None:
    from tests.openrosa.test_openrosa_protocol import new_resident_visit

    xml = fill(blank_form(Client(), "worker_a"), new_resident_visit())
    before = data_change_marker()
    assert submit(Client(), "worker_a", xml).status_code == 201
    assert data_change_marker() != before
