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
from typing import NamedTuple

import pytest
from django.core.management import call_command
from django.utils.formats import date_format

from surveys.importing import ImportReport, import_csv
from surveys.models import Area, ImportRecord, ProductionSite, Resident, Station
from surveys.pseudonyms import pseudonymize
from tests.i18n import t, tn

CORPUS = Path(__file__).resolve().parent / "import_corpus"

FORMULA = (
    "“%(text)s” begins with “%(first)s”, which spreadsheets run as a formula; "
    "remove the leading character."
)
NOT_ONE_OF = "'%(value)s' is not one of %(allowed)s."


# The reason expected in a row: a message through the catalogue (msgid and its parameters, the
# whole message compared in the active language), or a literal part of a reason.
class Plural(NamedTuple):
    """A message with a count: both msgids, the number that picks the form, its parameters."""

    singular: str
    plural: str
    number: int
    params: dict[str, object]


Reason = str | tuple[str, dict[str, object]] | Plural


def msg(msgid: str, **params: object) -> Reason:
    return (msgid, params)


def reason_text(reason: Reason) -> str:
    if isinstance(reason, str):
        return reason
    if isinstance(reason, Plural):
        return tn(reason.singular, reason.plural, reason.number, **reason.params)
    return t(reason[0], **reason[1])


# file → the errors expected, as (row, column, the reason or a part of it)
EXPECTED: dict[str, list[tuple[int, str, Reason]]] = {
    "areas_not_utf8.csv": [
        (
            3,
            "",
            msg(
                "the file is not UTF-8 text: byte %(byte)s at byte offset %(offset)s "
                "(line %(line)s); save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and "
                "import it again.",
                byte="0xE9",
                offset=67,
                line=3,
            ),
        )
    ],
    "stations_missing_column.csv": [
        (1, "medium", msg("missing column '%(column)s'.", column="medium"))
    ],
    "areas_unknown_column.csv": [
        (
            1,
            "population",
            msg(
                "unknown column '%(column)s'; the columns are: %(columns)s.",
                column="population",
                columns="area_code, name, latitude, longitude",
            ),
        )
    ],
    "areas_wrong_cell_count.csv": [
        (
            2,
            "",
            Plural(
                "this row has %(cells)s cell but the header has %(header)s; "
                "check for a missing or extra comma.",
                "this row has %(cells)s cells but the header has %(header)s; "
                "check for a missing or extra comma.",
                3,
                {"cells": 3, "header": 4},
            ),
        )
    ],
    "observations_unknown_code.csv": [
        (
            3,
            "code",
            msg(
                "unknown code '%(code)s'; see the vocabulary in docs/data-formats.md.",
                code="symptom.sneeze",
            ),
        )
    ],
    "population_unknown_area.csv": [
        (3, "area_code", msg("unknown area '%(area)s'; import it with an areas file.", area="ZZ"))
    ],
    "measurements_unknown_station.csv": [
        (
            2,
            "station_code",
            msg("unknown station '%(station)s'; import it with a stations file.", station="NOPE"),
        )
    ],
    "observations_unknown_resident.csv": [
        (
            3,
            "study_id",
            msg(
                "no resident with this study ID (register the resident first, with a residents "
                "file or the form)."
            ),
        )
    ],
    "measurements_unparseable_date.csv": [
        (
            2,
            "sampled_on",
            msg("“%(text)s” is not a date in the form YYYY-MM-DD.", text="01/03/2024"),
        )
    ],
    "observations_future_date.csv": [
        (
            2,
            "observed_on",
            msg(
                "%(date)s is in the future.",
                date=date_format(dt.date(2999, 1, 1), "SHORT_DATE_FORMAT"),
            ),
        )
    ],
    "observations_out_of_range.csv": [
        (
            2,
            "value",
            msg(
                "%(value)s %(unit)s is outside the valid range for %(code)s "
                "(%(low)s–%(high)s %(unit)s).",
                value="900",
                unit="µg/dL",
                code="lab.blood_lead",
                low="0",
                high="200",
            ),
        )
    ],
    "population_negative_number.csv": [
        (
            2,
            "population",
            msg(
                "%(value)s is out of range for %(what)s (%(low)s to %(high)s).",
                value="-5",
                what="population",
                low=0,
                high=100_000_000,
            ),
        )
    ],
    "observations_unconvertible_unit.csv": [
        (
            2,
            "unit",
            msg(
                "unit “%(unit)s” cannot be converted to %(canonical)s for %(code)s; "
                "accepted units: %(accepted)s.",
                unit="mg/kg",
                canonical="µg/dL",
                code="lab.blood_lead",
                accepted="ug/L, ug/dL, umol/L, µg/L, µg/dL, µmol/L",
            ),
        )
    ],
    "stations_duplicate_key.csv": [
        (
            3,
            "station_code",
            msg(
                "duplicate key: the same %(what)s is also on row %(row)s; "
                "each key may appear once in a file.",
                what="station_code",
                row=2,
            ),
        )
    ],
    "observations_duplicate_key.csv": [
        (
            4,
            "study_id",
            msg(
                "duplicate key: the same %(what)s and %(last)s are also on row %(row)s; "
                "each key may appear once in a file.",
                what=f"{t('study ID')}, observed_on",
                last="code",
                row=2,
            ),
        )
    ],
    "sites_formula_equals.csv": [
        (
            2,
            "name",
            msg(FORMULA, text='=HYPERLINK("http://x.example","mine")', first="="),
        )
    ],
    "sites_formula_plus.csv": [(2, "operator", msg(FORMULA, text="+cmd|' /C calc'!A0", first="+"))],
    "sites_formula_minus.csv": [(2, "name", msg(FORMULA, text="-2+3", first="-"))],
    "sites_formula_at.csv": [(2, "operator", msg(FORMULA, text="@SUM(1+1)", first="@"))],
    "residents_bad_enum.csv": [
        (
            2,
            "smoking",
            msg(NOT_ONE_OF, value="sometimes", allowed="never, former, current, unknown"),
        )
    ],
    "residents_bad_boolean.csv": [
        (2, "sex", msg(NOT_ONE_OF, value="X", allowed="F, M")),
        (2, "works_at_site", msg("“%(text)s” is not true or false.", text="perhaps")),
    ],
    "residents_bad_study_id.csv": [
        (
            2,
            "study_id",
            msg("Study ID may contain only letters, digits and - _ / . (at most 64 characters)."),
        )
    ],
    "areas_differs_from_stored.csv": [
        (
            2,
            "name",
            msg(
                "differs from the stored value; corrections go through the edit form with a reason."
            ),
        )
    ],
    "measurements_below_lod_without_lod.csv": [
        (
            2,
            "value",
            msg("leave the value empty when the result is below the detection limit."),
        ),
        (2, "lod", msg("a result below the detection limit needs the limit (lod).")),
    ],
    "measurements_wrong_medium.csv": [
        (
            2,
            "pollutant",
            msg(
                "%(pollutant)s is measured in %(medium)s, but station %(station)s "
                "samples %(station_medium)s.",
                pollutant="fluoride",
                medium="water",
                station="AQ-1",
                station_medium="air",
            ),
        )
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
        assert reason_text(reason) in error.reason
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
    (_, _, range_error), *_ = EXPECTED["population_negative_number.csv"]
    assert report.errors[0].reason == reason_text(range_error)
    assert reason_text(msg(FORMULA, text="-5", first="-")) not in report.errors[0].reason
