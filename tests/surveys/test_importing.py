"""CSV import: the example files, idempotence, formats, scoping, visits, flags, the command."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from surveys.importing import COLUMNS, KINDS, ImportReport, import_csv
from surveys.importing.base import DIFFERS
from surveys.importing.people import NO_RESIDENT
from surveys.models import (
    Area,
    AreaPopulation,
    DataQualityFlag,
    ImportRecord,
    Measurement,
    Observation,
    ProductionSite,
    QualityFlagKind,
    Resident,
    Station,
    Visit,
)
from surveys.pseudonyms import pseudonymize
from surveys.services import AccessDenied
from tests.i18n import rx, t, tn

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
RESIDENTS_HEADER = (
    "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,smoking\n"
)
DATA_MODELS = (ProductionSite, Area, AreaPopulation, Station, Measurement, Resident, Visit,
               Observation, DataQualityFlag)  # fmt: skip


def run(
    kind: str,
    content: str | bytes,
    *,
    user: User | None = None,
    dry_run: bool = False,
) -> ImportReport:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return import_csv(
        kind=kind, stream=io.BytesIO(data), file_name=f"{kind}.csv", user=user, dry_run=dry_run
    )


def run_example(kind: str, user: User | None = None) -> ImportReport:
    with (EXAMPLES / f"{kind}.csv").open("rb") as stream:
        return import_csv(kind=kind, stream=stream, file_name=f"{kind}.csv", user=user)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in DATA_MODELS}


def import_examples(until: str = "observations") -> None:
    for kind in KINDS:
        report = run_example(kind)
        assert report.errors == [], (kind, report.errors)
        if kind == until:
            return


@pytest.fixture
def examples(db: None) -> None:
    import_examples()


def test_every_example_file_imports_in_dependency_order_then_again_without_creating_anything(
    db: None,
) -> None:
    first = {kind: run_example(kind) for kind in KINDS}
    for kind, report in first.items():
        assert report.errors == [], (kind, report.errors)
        assert report.created == report.rows > 0, kind
    second = {kind: run_example(kind) for kind in KINDS}
    for kind, report in second.items():
        assert report.errors == [], (kind, report.errors)
        assert (report.created, report.unchanged) == (0, first[kind].rows), kind


@pytest.mark.parametrize("kind", KINDS)
def test_importing_the_same_file_twice_leaves_every_row_count_unchanged(
    db: None, kind: str
) -> None:
    import_examples(until=kind)
    before = counts()
    report = run_example(kind)
    assert report.errors == [] and report.created == 0
    assert counts() == before
    assert ImportRecord.objects.filter(kind=kind).count() == 2


def test_a_byte_order_mark_crlf_quoted_fields_and_trailing_blank_lines_are_accepted(
    db: None,
) -> None:
    content = (
        b"\xef\xbb\xbfarea_code,name,latitude,longitude\r\n"
        b'A01,"Plant Row, ""north""",25.009,110.004\r\n'
        b'"A02",Kiln Flats,"25.031",109.981\r\n'
        b"\r\n\r\n,,,\r\n"
    )
    report = run("areas", content)
    assert report.errors == []
    assert (report.rows, report.created) == (2, 2)
    assert Area.objects.get(code="A01").name == 'Plant Row, "north"'


def test_columns_may_come_in_any_order_and_header_names_ignore_case_and_spaces(db: None) -> None:
    report = run("areas", " Longitude ,NAME,area_code,latitude\n110.0,Plant Row,A01,25.0\n")
    assert report.errors == []
    assert Area.objects.get(code="A01").longitude == 110.0


def test_a_quoted_cell_spanning_lines_counts_as_one_row_in_error_messages(db: None) -> None:
    content = 'area_code,name,latitude,longitude\nA01,"two\nlines",25,110\nA02,Kiln,95,110\n'
    report = run("areas", content)
    assert [(e.row, e.column) for e in report.errors] == [(3, "latitude")]


def test_a_dry_run_validates_and_counts_but_writes_only_its_import_record(db: None) -> None:
    report = run("areas", (EXAMPLES / "areas.csv").read_text(), dry_run=True)
    assert (report.errors, report.created, report.dry_run) == ([], 3, True)
    assert Area.objects.count() == 0
    record = ImportRecord.objects.get()
    assert (record.dry_run, record.rows, record.created) == (True, 3, 3)
    assert report.import_record_id == record.pk


def test_the_import_record_says_what_was_sent_and_who_sent_it(admin_user: User) -> None:
    content = (EXAMPLES / "sites.csv").read_bytes()
    report = run("sites", content, user=admin_user)
    assert report.import_record_id is not None
    record = ImportRecord.objects.get(pk=report.import_record_id)
    assert record.sha256 == hashlib.sha256(content).hexdigest()
    assert (record.kind, record.file_name, record.imported_by) == ("sites", "sites.csv", admin_user)
    assert (record.rows, record.created, record.unchanged) == (3, 3, 0)
    site = ProductionSite.objects.get(code="SEP-1")
    assert site.history.get().history_user == admin_user  # type: ignore[attr-defined]


def test_a_stored_key_with_different_values_is_refused_and_nothing_is_overwritten(
    examples: None,
) -> None:
    changed = (EXAMPLES / "sites.csv").read_text().replace("Open-pit mine", "Open pit mine")
    report = run("sites", changed)
    assert [(e.row, e.column) for e in report.errors] == [(3, "name")]
    assert report.errors[0].reason == t(DIFFERS)
    assert ProductionSite.objects.get(code="MIN-1").name == "Open-pit mine"


def test_a_changed_observation_value_is_refused_not_overwritten(examples: None) -> None:
    content = "study_id,observed_on,code,value,unit,below_lod,lod\n"
    report = run("observations", content + "EX-0001,2024-02-10,lab.blood_lead,4.2,µg/dL,,\n")
    assert [(e.row, e.column) for e in report.errors] == [(2, "value")]
    assert report.errors[0].reason == t(DIFFERS)


def test_resident_coordinates_become_distance_and_grid_cell_and_are_not_kept(
    examples: None,
) -> None:
    near = Resident.objects.get(pseudonym=pseudonymize("EX-0001").value)
    assert near.nearest_site is not None and near.nearest_site.code == "SEP-1"
    assert near.distance_to_site_km == Decimal("1.2")
    assert (near.grid_latitude, near.grid_longitude) == (Decimal("25.0125"), Decimal("110.0075"))
    no_place = Resident.objects.get(pseudonym=pseudonymize("EX-0003").value)
    assert no_place.distance_to_site_km is None and no_place.grid_latitude is None
    assert no_place.smoking == "unknown"
    field_names = {f.name for f in Resident._meta.get_fields()}
    assert not field_names & {"latitude", "longitude", "study_id"}


def test_observations_join_the_earliest_visit_of_the_day_or_create_one(examples: None) -> None:
    resident = Resident.objects.get(pseudonym=pseudonymize("EX-0001").value)
    assert resident.visits.count() == 1
    visit = resident.visits.get()
    assert visit.import_record is not None and visit.observations.count() == 3
    later = Visit.objects.create(resident=resident, visited_on=visit.visited_on)
    content = "study_id,observed_on,code,value,unit,below_lod,lod\n"
    report = run(
        "observations",
        content
        + "EX-0001,2024-02-10,symptom.headache,true,,,\n"
        + "EX-0001,2024-04-01,symptom.headache,false,,,\n",
    )
    assert report.errors == [] and report.created == 2
    assert visit.observations.count() == 4 and later.observations.count() == 0
    assert resident.visits.filter(visited_on=dt.date(2024, 4, 1)).count() == 1


def test_values_are_stored_in_the_canonical_unit_and_the_entered_unit_is_kept(
    examples: None,
) -> None:
    lead = Observation.objects.get(
        visit__resident__pseudonym=pseudonymize("EX-0002").value, code__code="lab.blood_lead"
    )
    assert lead.entered_unit == "µmol/L"
    assert lead.value == pytest.approx(0.31 * 20.72)
    cadmium = Observation.objects.get(code__code="lab.urine_cadmium")
    assert (cadmium.below_lod, cadmium.value, cadmium.lod) == (True, None, 0.2)
    pm10 = Measurement.objects.get(pollutant__code="pm10")
    assert (pm10.value, pm10.entered_unit) == (pytest.approx(59.2), "mg/m3")
    soil = Measurement.objects.get(pollutant__code="thorium")
    assert soil.status == "preliminary"


def test_a_biomarker_above_ten_times_its_reference_is_queued_for_review(examples: None) -> None:
    content = "study_id,observed_on,code,value,unit,below_lod,lod\n"
    report = run("observations", content + "EX-0004,2024-03-06,lab.blood_lead,51,µg/dL,,\n")
    assert report.errors == []
    flag = DataQualityFlag.objects.get(kind=QualityFlagKind.ABOVE_REFERENCE)
    assert flag.observation is not None and flag.observation.value == 51


def test_every_boolean_spelling_of_the_validation_rules_is_accepted(examples: None) -> None:
    content = "study_id,observed_on,code,value,unit,below_lod,lod\n" + "".join(
        f"EX-0003,2024-03-0{day},symptom.cough,{word},,,\n"
        for day, word in enumerate(["TRUE", "Yes", "y", "1", "false", "No", "0"], start=2)
    )
    report = run("observations", content)
    assert report.errors == []
    values = Observation.objects.filter(
        code__code="symptom.cough", visit__visited_on__gt="2024-03-01"
    )
    stored = [bool(value) for value in values.values_list("value_boolean", flat=True)]
    assert sorted(stored) == [False] * 3 + [True] * 4


def test_a_negative_number_is_a_range_error_and_a_negative_longitude_is_fine(db: None) -> None:
    report = run("areas", "area_code,name,latitude,longitude\nW1,West,-33.9,-18.4\n")
    assert report.errors == []
    run("areas", "area_code,name,latitude,longitude\nA01,Plant Row,25,110\n")
    report = run("population", "area_code,year,sex,age_band,population\nA01,2024,F,0-4,-5\n")
    assert [(e.column, e.value) for e in report.errors] == [("population", "-5")]
    assert report.errors[0].reason == t(
        "%(value)s is out of range for %(what)s (%(low)s to %(high)s).",
        value="-5",
        what="population",
        low=0,
        high=100_000_000,
    )


def test_a_health_worker_imports_residents_only_into_assigned_areas(
    worker_a: User, area_a: Area, area_b: Area
) -> None:
    header = (
        "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,smoking\n"
    )
    report = run("residents", header + "W-1,B,1970,F,2024-01-01,,,,\n", user=worker_a)
    assert [(e.row, e.column) for e in report.errors] == [(2, "area_code")]
    assert report.errors[0].reason == t("you are not assigned to area %(area)s.", area="B")
    report = run("residents", header + "W-1,A,1970,F,2024-01-01,,,,\n", user=worker_a)
    assert report.errors == []
    resident = Resident.objects.get()
    assert resident.created_by == worker_a and resident.import_record is not None


def test_a_health_worker_cannot_reach_residents_of_another_area_by_import(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    header = (
        "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,smoking\n"
    )
    assert run("residents", header + "W-9,A,1970,F,2024-01-01,,,,\n", user=worker_a).ok
    content = "study_id,observed_on,code,value,unit,below_lod,lod\nW-9,2024-02-01,dx.J45,no,,,\n"
    report = run("observations", content, user=worker_b)
    assert [(e.row, e.column, e.value) for e in report.errors] == [(2, "study_id", "")]
    assert report.errors[0].reason == t(NO_RESIDENT)
    report = run("observations", content, user=worker_a)
    assert report.ok and Visit.objects.get().health_worker == worker_a


@pytest.mark.parametrize(
    ("fixture", "kind", "allowed"),
    [
        ("admin_user", "sites", True),
        ("epidemiologist", "sites", False),
        ("worker_a", "areas", False),
        ("worker_a", "stations", True),
        ("community_reviewer", "measurements", False),
        ("community_reviewer", "observations", False),
        ("epidemiologist", "residents", False),
    ],
)
def test_who_may_import_which_kind(
    request: pytest.FixtureRequest, fixture: str, kind: str, allowed: bool
) -> None:
    user = request.getfixturevalue(fixture)
    header = ",".join(COLUMNS[kind]) + "\n"
    if allowed:
        assert run(kind, header, user=user).ok
    else:
        with pytest.raises(AccessDenied):
            run(kind, header, user=user)


def test_a_header_only_file_imports_nothing_and_an_empty_file_is_an_error(db: None) -> None:
    report = run("stations", "station_code,name,medium,latitude,longitude\n")
    assert (report.ok, report.rows, report.created) == (True, 0, 0)
    report = run("stations", "")
    assert [(e.row, e.column) for e in report.errors] == [(1, "")]
    assert report.errors[0].reason == t(
        "the file is empty; the first row must name the columns: %(columns)s.",
        columns="station_code, name, medium, latitude, longitude",
    )


def test_every_error_of_every_row_is_reported_not_only_the_first(db: None) -> None:
    content = (
        "station_code,name,medium,latitude,longitude\n"
        "S1,,mud,95,110\n"
        "S2,Ok,air,25,181\n"
        "S1,Again,air,25,110\n"
    )
    report = run("stations", content)
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "name"),
        (2, "medium"),
        (2, "latitude"),
        (3, "longitude"),
        (4, "station_code"),
    ]
    assert report.errors[-1].reason == t(
        "duplicate key: the same %(what)s is also on row %(row)s; "
        "each key may appear once in a file.",
        what="station_code",
        row=2,
    )
    assert Station.objects.count() == 0


SUMMARY_WRITTEN = (
    "%(kind)s: %(rows)s row read; new: %(created)s, unchanged: %(unchanged)s (written).",
    "%(kind)s: %(rows)s rows read; new: %(created)s, unchanged: %(unchanged)s (written).",
)
SUMMARY_CHECKED = (
    "%(kind)s: %(rows)s row read; new: %(created)s, unchanged: %(unchanged)s "
    "(dry run, nothing written).",
    "%(kind)s: %(rows)s rows read; new: %(created)s, unchanged: %(unchanged)s "
    "(dry run, nothing written).",
)


def test_the_command_prints_a_summary(db: None) -> None:
    out = io.StringIO()
    call_command("import_csv", "sites", str(EXAMPLES / "sites.csv"), stdout=out)
    assert tn(*SUMMARY_WRITTEN, 3, kind="sites", rows=3, created=3, unchanged=0) in out.getvalue()
    call_command("import_csv", "sites", str(EXAMPLES / "sites.csv"), "--dry-run", stdout=out)
    checked = tn(*SUMMARY_CHECKED, 3, kind="sites", rows=3, created=0, unchanged=3)
    assert checked in out.getvalue()


@pytest.mark.parametrize("language", ["fr", "zh-hans"])
def test_the_command_prints_its_summary_in_the_language_of_the_installation(
    db: None, settings: Any, language: str
) -> None:
    from django.utils import translation

    settings.LANGUAGE_CODE = language  # and no language activated, as in a shell
    out = io.StringIO()
    call_command("import_csv", "sites", str(EXAMPLES / "sites.csv"), stdout=out)
    with translation.override(language):
        summary = tn(*SUMMARY_WRITTEN, 3, kind="sites", rows=3, created=3, unchanged=0)
        record = t(
            "%(file)s: %(summary)s Import record #%(record)s.",
            file="sites.csv",
            summary=summary,
            record=ImportRecord.objects.get().pk,
        )
    assert out.getvalue().strip() == record
    assert "created" not in out.getvalue()


def test_the_command_prints_every_error_and_fails(db: None, tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text("station_code,name,medium,latitude,longitude\nS1,One,mud,25,110\n")
    err = io.StringIO()
    refused = tn(
        "%(file)s: %(errors)s error (rows read: %(rows)s); nothing was imported.",
        "%(file)s: %(errors)s errors (rows read: %(rows)s); nothing was imported.",
        1,
        file="stations.csv",
        errors=1,
        rows=1,
    )
    with pytest.raises(CommandError, match=re.escape(refused)):
        call_command("import_csv", "stations", str(path), stderr=err)
    not_one_of = t(
        "'%(value)s' is not one of %(allowed)s.", value="mud", allowed="air, water, soil"
    )
    where = "row %(row)s, column %(column)s, value '%(value)s': %(reason)s"
    said = t(where, row=2, column="medium", value="mud", reason=not_one_of)
    assert said in err.getvalue()


def test_the_command_imports_as_a_named_user(worker_a: User, area_a: Area, tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text("station_code,name,medium,latitude,longitude\nS1,One,air,25,110\n")
    call_command("import_csv", "stations", str(path), "--user", "worker_a", stdout=io.StringIO())
    assert ImportRecord.objects.get().imported_by == worker_a
    with pytest.raises(CommandError, match=rx("You may not import %(kind)s.", kind="areas")):
        call_command("import_csv", "areas", str(path), "--user", "worker_a")
