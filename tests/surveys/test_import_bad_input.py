"""The bad-input corpus: one file per defect, each refused with its own message, nothing written.

Each file in tests/surveys/import_corpus/ named KIND_DEFECT.csv is imported into a small world
(site, area A, station AQ-1, resident T-0001); the test checks the row, column and reason of
every error, that a dump of every surveys table is identical before and after, and that the
valid file of the same kind (valid_KIND.csv) then imports.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from surveys.importing import ImportReport, import_csv
from surveys.models import Area, ImportRecord, ProductionSite, Resident, Station
from surveys.pseudonyms import pseudonymize

CORPUS = Path(__file__).resolve().parent / "import_corpus"

# file → the errors expected, as (row, column, a part of the reason)
EXPECTED: dict[str, list[tuple[int, str, str]]] = {
    "areas_not_utf8.csv": [(3, "", "not UTF-8 text: byte 0xE9 at byte offset 67 (line 3)")],
    "stations_missing_column.csv": [(1, "medium", "missing column 'medium'")],
    "areas_unknown_column.csv": [(1, "population", "unknown column 'population'")],
    "areas_wrong_cell_count.csv": [(2, "", "this row has 3 cells but the header has 4")],
    "observations_unknown_code.csv": [(3, "code", "unknown code 'symptom.sneeze'")],
    "population_unknown_area.csv": [(3, "area_code", "unknown area 'ZZ'")],
    "measurements_unknown_station.csv": [(2, "station_code", "unknown station 'NOPE'")],
    "observations_unknown_resident.csv": [(3, "study_id", "no resident with this study ID")],
    "measurements_unparseable_date.csv": [
        (2, "sampled_on", "'01/03/2024' is not a date in the form YYYY-MM-DD")
    ],
    "observations_future_date.csv": [(2, "observed_on", "2999-01-01 is in the future")],
    "observations_out_of_range.csv": [
        (2, "value", "900 µg/dL is outside the valid range for lab.blood_lead")
    ],
    "population_negative_number.csv": [(2, "population", "-5 is out of range")],
    "observations_unconvertible_unit.csv": [
        (2, "unit", "unit 'mg/kg' cannot be converted to µg/dL")
    ],
    "stations_duplicate_key.csv": [
        (3, "station_code", "duplicate key: the same station_code is also on row 2")
    ],
    "observations_duplicate_key.csv": [
        (4, "study_id", "the same study ID, observed_on and code are also on row 2")
    ],
    "sites_formula_equals.csv": [(2, "name", "begins with '=', which spreadsheets run as a")],
    "sites_formula_plus.csv": [(2, "operator", "begins with '+', which spreadsheets run as a")],
    "sites_formula_minus.csv": [(2, "name", "begins with '-', which spreadsheets run as a")],
    "sites_formula_at.csv": [(2, "operator", "begins with '@', which spreadsheets run as a")],
    "residents_bad_enum.csv": [
        (2, "smoking", "'sometimes' is not one of never, former, current, unknown")
    ],
    "residents_bad_boolean.csv": [
        (2, "sex", "'X' is not one of F, M"),
        (2, "works_at_site", "'perhaps' is not true or false"),
    ],
    "residents_bad_study_id.csv": [(2, "study_id", "Study ID may contain only")],
    "areas_differs_from_stored.csv": [
        (2, "name", "differs from the stored value; corrections go through the edit form")
    ],
    "measurements_below_lod_without_lod.csv": [
        (2, "value", "leave the value empty when the result is below the detection limit"),
        (2, "lod", "needs the limit (lod)"),
    ],
    "measurements_wrong_medium.csv": [
        (2, "pollutant", "fluoride is measured in water, but station AQ-1 samples air")
    ],
}


@pytest.fixture
def world(site: ProductionSite, area_a: Area) -> None:
    Station.objects.create(code="AQ-1", name="Air", medium="air", latitude=25.0, longitude=110.0)
    pseudonym = pseudonymize("T-0001")
    Resident.objects.create(
        pseudonym=pseudonym.value,
        key_version=pseudonym.key_version,
        area=area_a,
        birth_year=1960,
        sex="F",
        enrolled_on=dt.date(2024, 1, 1),
    )


def dump() -> str:
    out = io.StringIO()
    call_command("dumpdata", "surveys", stdout=out)
    return out.getvalue()


def run(path: Path) -> ImportReport:
    kind = path.name.split("_")[0] if not path.name.startswith("valid_") else path.stem[6:]
    with path.open("rb") as stream:
        return import_csv(kind=kind, stream=stream, file_name=path.name, user=None)


def test_the_corpus_has_a_file_for_every_expectation_and_an_expectation_for_every_file() -> None:
    files = {p.name for p in CORPUS.glob("*.csv") if not p.name.startswith("valid_")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bad_file_is_refused_with_its_reason_and_changes_nothing_then_a_valid_file_imports(
    world: None, name: str
) -> None:
    before = dump()
    report = run(CORPUS / name)
    found = [(e.row, e.column) for e in report.errors]
    assert found == [(row, column) for row, column, _ in EXPECTED[name]], report.errors
    for error, (_, _, reason) in zip(report.errors, EXPECTED[name], strict=True):
        assert reason in error.reason
    assert report.error_count == len(EXPECTED[name])
    assert (report.created, report.import_record_id) == (0, None)
    assert dump() == before
    assert ImportRecord.objects.count() == 0
    kind = name.split("_")[0]
    valid = run(CORPUS / f"valid_{kind}.csv")
    assert valid.errors == [] and valid.created >= 1


def test_study_ids_are_never_echoed_in_errors(world: None) -> None:
    for name in ("observations_unknown_resident.csv", "residents_bad_study_id.csv"):
        report = run(CORPUS / name)
        for error in report.errors:
            if error.column == "study_id":
                assert error.value == ""
                assert "NOT-REGISTERED" not in str(error) and "0002" not in str(error)


def test_a_negative_number_in_a_numeric_column_is_a_range_error_not_a_formula(
    world: None,
) -> None:
    report = run(CORPUS / "population_negative_number.csv")
    assert "formula" not in report.errors[0].reason
