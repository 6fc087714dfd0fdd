"""Observations import: the columnar path and the row-by-row path store and report the same.

ObservationsImporter.validate_cells tries the columnar `_validate_clean_chunk` first and falls
back to the row-by-row `validate_chunk` (the reference) for any chunk with something to report
or with stored observations. Every file of the corpus below is imported twice from the same
starting database — once as the importer chooses, once row by row only — and the reports and
the stored visits, observations and quality flags must be the same. Each file also says what
it expects (its errors by row and column, or its counts), worked out here from the file itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction

from healthwatch.roles import Role
from surveys.importing import ImportReport, import_csv
from surveys.importing import reader as reader_module
from surveys.importing.base import DIFFERS
from surveys.importing.people import NO_RESIDENT, ObservationsImporter
from surveys.importing.reader import CsvSource
from surveys.importing.report import ErrorSink
from surveys.models import (
    Area,
    AreaAssignment,
    DataQualityFlag,
    ImportRecord,
    Observation,
    Resident,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import pseudonymize
from tests.conftest import make_user
from tests.i18n import shape, t, tn

TODAY = dt.date(2026, 6, 30)
HEADER = ("study_id", "observed_on", "code", "value", "unit", "below_lod", "lod")
BOM = b"\xef\xbb\xbf"
CHUNK = 7
TRUE_WORDS = {"true", "1", "yes", "y"}
FALSE_WORDS = {"false", "0", "no", "n"}
Cells = list[str]


# --- the world: the tiny community's sites, areas and residents, once per module -------------


@pytest.fixture(scope="module")
def registered_residents(
    tiny_community: Path, django_db_setup: None, django_db_blocker: Any
) -> Iterator[Path]:
    """Sites, areas and residents of the tiny community (no observations), rolled back after
    the module; each test runs in a savepoint of it."""
    with django_db_blocker.unblock(), transaction.atomic():
        for kind in ("sites", "areas", "residents"):
            call_command("import_csv", kind, str(tiny_community / f"{kind}.csv"), verbosity=0)
        yield tiny_community
        transaction.set_rollback(True)


@pytest.fixture
def residents(registered_residents: Path, db: None) -> Path:
    return registered_residents


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks, so that every file spans several of them."""
    monkeypatch.setattr(ObservationsImporter, "chunk_size", CHUNK)


@dataclass
class Corpus:
    base: list[Cells]  # about a hundred valid rows: several residents, days, codes and units
    full: list[Cells]  # every observation of the tiny community
    area_of: dict[str, str]  # study ID → area code
    enrolled_on: dict[str, dt.date]


def _read_rows(path: Path) -> list[Cells]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


@pytest.fixture(scope="module")
def corpus(tiny_community: Path) -> Corpus:
    full = _read_rows(tiny_community / "observations.csv")
    people = _read_rows(tiny_community / "residents.csv")
    area_of = {row[0]: row[1] for row in people}
    enrolled_on = {row[0]: dt.date.fromisoformat(row[4]) for row in people}
    below_lod = [row for row in full if row[5] == "true"][:4]
    # New (resident, day) keys after the community's last year, in other units and spellings.
    extra = [
        ["HW-000003", "2026-01-15", "lab.blood_lead", "0.05", "µmol/L", "false", ""],
        ["HW-000003", "2026-01-15", "lab.urine_thorium", "12", "ng/L", "", ""],
        ["HW-000003", "2026-01-15", "symptom.cough", "Yes", "", "", ""],
        ["HW-000003", "2026-01-15", "lab.urine_cadmium", "", "µg/L", "TRUE", "0.02"],
        ["HW-000003", "2026-01-15", "lab.urine_uranium", "0.3", "ug/L", "no", "0.1"],
        ["HW-000003", "2026-01-15", "vital.bmi", " 22.5 ", "kg/m2", "", ""],
        ["HW-000003", "2026-01-15", "dx.J06", "N", "", "", ""],
        ["HW-000004", "2026-01-16", "lab.blood_lead", "41", "µg/dL", "false", ""],
        ["hw-000005", "2026-01-17", "symptom.headache", "y", "", "", ""],
        ["HW-000005", "2026-01-17", "lab.blood_manganese", "1.2", "µg/dL", "0", ""],
        # the same value cells for codes with other canonical units
        ["HW-000006", "2026-01-18", "lab.urine_cadmium", "5", "ug/L", "", ""],
        ["HW-000006", "2026-01-18", "lab.urine_fluoride", "5", "ug/L", "", ""],
    ]
    base = full[0:50] + below_lod + full[1000::150] + extra
    keys = [(row[0].strip().upper(), row[1], row[2]) for row in base]
    assert len(set(keys)) == len(keys), "the base rows must be a valid file"
    return Corpus(base=base, full=full, area_of=area_of, enrolled_on=enrolled_on)


# --- files and what they should give ------------------------------------------------------


def render(
    rows: list[Cells],
    *,
    header: tuple[str, ...] | list[str] = HEADER,
    newline: str = "\n",
    bom: bool = False,
    quote_all: bool = False,
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(
        out,
        lineterminator=newline,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8")
    return BOM + data if bom else data


def changed(rows: list[Cells], index: int, **cells: str) -> list[Cells]:
    copy = [list(row) for row in rows]
    for column, value in cells.items():
        copy[index][HEADER.index(column)] = value
    return copy


def row_number(index: int) -> int:
    """The file row of base row `index` (the header is row 1)."""
    return index + 2


class Msg(str):
    """The msgid of the expected reason: the reason must be this message in the active language
    (any values in its placeholders). A plain str is a part of the reason (usually all of it,
    as t() words it in the active language)."""


RANGE = Msg(
    "%(value)s %(unit)s is outside the valid range for %(code)s (%(low)s–%(high)s %(unit)s)."
)
NOT_A_DATE = Msg("“%(text)s” is not a date in the form YYYY-MM-DD.")
FUTURE = Msg("%(date)s is in the future.")
VALUE_REQUIRED = Msg("a value is required.")
NOT_A_NUMBER = Msg("“%(text)s” is not a number.")
NOT_FINITE = Msg("“%(text)s” is not a finite number.")
UNCONVERTIBLE = Msg(
    "unit “%(unit)s” cannot be converted to %(canonical)s for %(code)s; "
    "accepted units: %(accepted)s."
)
UNIT_REQUIRED = Msg("a unit is required for %(code)s (canonical: %(unit)s).")
LOD_NEEDED = Msg("a result below the detection limit needs the limit (lod).")
VALUE_WITH_LOD = Msg("leave the value empty when the result is below the detection limit.")
NOT_BOOLEAN = Msg("“%(text)s” is not true or false.")
YES_NO_UNIT = Msg("%(code)s is a yes/no code; leave the unit empty.")
YES_NO_LOD = Msg("%(code)s is a yes/no code; it has no detection limit.")
FORMULA = Msg(
    "“%(text)s” begins with “%(first)s”, which spreadsheets run as a formula; "
    "remove the leading character."
)
# A secret column's value (the study ID) is not repeated in its reason.
SECRET_FORMULA = Msg(
    "begins with '%(first)s', which spreadsheets run as a formula; remove the leading character."
)
UNKNOWN_CODE = Msg("unknown code '%(code)s'; see the vocabulary in docs/data-formats.md.")


def no_resident() -> str:
    return t(NO_RESIDENT)


def duplicate_of(row: int) -> str:
    """The reason of a repeated (study ID, observed_on, code) key first seen on `row`."""
    return t(
        "duplicate key: the same %(what)s and %(last)s are also on row %(row)s; "
        "each key may appear once in a file.",
        what=f"{t('study ID')}, observed_on",
        last="code",
        row=row,
    )


def cell_count(cells: int) -> str:
    return tn(
        "this row has %(cells)s cell but the header has %(header)s; "
        "check for a missing or extra comma.",
        "this row has %(cells)s cells but the header has %(header)s; "
        "check for a missing or extra comma.",
        cells,
        cells=cells,
        header=len(HEADER),
    )


def reason_is(reason: str, expected: str) -> bool:
    if isinstance(expected, Msg):
        return re.search(shape(expected), reason) is not None
    return expected in reason


@dataclass(frozen=True)
class Scenario:
    content: bytes
    # the expected report: (row, column, the reason's Msg or a few of its words) in report order,
    # or counts
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    created: int | None = None
    unchanged: int = 0
    # run before each import, inside the same savepoint; returns the importing user (or None)
    setup: Callable[[], User | None] | None = None
    check: Callable[[Outcome], None] | None = None
    chunk_size: int = CHUNK


def _import_file(content: bytes, user: User | None = None) -> ImportReport:
    return import_csv(
        kind="observations",
        stream=io.BytesIO(content),
        file_name="observations.csv",
        user=user,
        today=TODAY,
    )


def _stored_earlier(rows: list[Cells]) -> Callable[[], User | None]:
    def setup() -> None:
        report = _import_file(render(rows))
        assert report.ok, report.errors

    return setup


def _resident(study_id: str) -> Resident:
    return Resident.objects.get(pseudonym=pseudonymize(study_id).value)


def _worker_of(area_codes: set[str]) -> Callable[[], User | None]:
    def setup() -> User:
        user = make_user("scoped_worker", Role.HEALTH_WORKER)
        for area in Area.objects.filter(code__in=area_codes):
            AreaAssignment.objects.create(user=user, area=area)
        return user

    return setup


CASES: dict[str, Callable[[Corpus], Scenario]] = {}


def case(builder: Callable[[Corpus], Scenario]) -> Callable[[Corpus], Scenario]:
    CASES[builder.__name__] = builder
    return builder


LEAD = 25  # a lab.blood_lead row (µg/dL) in the fourth chunk
SYMPTOM = 17  # a symptom.cough row in the third chunk


@case
def clean(c: Corpus) -> Scenario:
    return Scenario(render(c.base), created=len(c.base))


@case
def clean_with_crlf_line_ends(c: Corpus) -> Scenario:
    return Scenario(render(c.base, newline="\r\n"), created=len(c.base))


@case
def clean_with_a_byte_order_mark(c: Corpus) -> Scenario:
    return Scenario(render(c.base, bom=True), created=len(c.base))


@case
def clean_with_every_cell_quoted(c: Corpus) -> Scenario:
    return Scenario(render(c.base, quote_all=True), created=len(c.base))


@case
def columns_in_another_order_with_bom_and_crlf(c: Corpus) -> Scenario:
    order = ["code", "LOD", " Study_ID ", "unit", "observed_on", "below_lod", "value"]
    positions = [HEADER.index(name.strip().lower()) for name in order]
    rows = [[row[p] for p in positions] for row in c.base]
    return Scenario(
        render(rows, header=order, newline="\r\n", bom=True),
        created=len(c.base),
    )


def _with_blank_lines(rows: list[Cells]) -> bytes:
    lines = render(rows).decode("utf-8").splitlines(keepends=True)
    # after data rows 10 and 20: an empty line, a line of empty cells, a line of spaces
    body = [*lines[:11], "\n", *lines[11:21], ",,,,,,\n", " , ,\n", *lines[21:], "\n", "\n"]
    return "".join(body).encode("utf-8")


@case
def blank_lines_in_the_middle_and_at_the_end(c: Corpus) -> Scenario:
    return Scenario(_with_blank_lines(c.base), created=len(c.base))


@case
def blank_lines_before_a_bad_row_count_in_its_row_number(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="250")
    return Scenario(_with_blank_lines(rows), errors=[(row_number(LEAD) + 3, "value", RANGE)])


@case
def study_ids_in_lower_case_and_with_spaces(c: Corpus) -> Scenario:
    rows = changed(c.base, 3, study_id=" hw-000001 ")
    rows = changed(rows, 40, study_id="hw- 000002")
    return Scenario(render(rows), created=len(c.base))


@case
def an_unknown_study_id(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, study_id="HW-999999")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "study_id", no_resident())])


@case
def an_invalid_study_id(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, study_id="HW*0001")
    return Scenario(
        render(rows),
        errors=[
            (
                row_number(SYMPTOM),
                "study_id",
                t("Study ID may contain only letters, digits and - _ / . (at most 64 characters)."),
            )
        ],
    )


@case
def an_empty_study_id(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, study_id=" ")
    return Scenario(
        render(rows), errors=[(row_number(SYMPTOM), "study_id", t("Study ID is empty."))]
    )


@case
def a_bad_date(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, observed_on="2024-02-30")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "observed_on", NOT_A_DATE)])


@case
def a_future_date(c: Corpus) -> Scenario:
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    rows = changed(c.base, SYMPTOM, observed_on=tomorrow)
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "observed_on", FUTURE)])


@case
def a_date_before_the_residents_enrolment(c: Corpus) -> Scenario:
    before = (c.enrolled_on[c.base[SYMPTOM][0]] - dt.timedelta(days=1)).isoformat()
    rows = changed(c.base, SYMPTOM, observed_on=before)
    return Scenario(
        render(rows),
        errors=[
            (row_number(SYMPTOM), "observed_on", t("is before the resident's enrolment date."))
        ],
    )


@case
def an_unknown_code(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, code="symptom.sneeze")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "code", UNKNOWN_CODE)])


@case
def a_pollutant_code(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, code="pm10", unit="µg/m³")
    return Scenario(
        render(rows),
        errors=[
            (
                row_number(LEAD),
                "code",
                t(
                    "%(code)s is a pollutant; it belongs in a measurements file.",
                    code="pm10",
                ),
            )
        ],
    )


@case
def an_empty_code(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, code="")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "code", VALUE_REQUIRED)])


@case
def an_out_of_range_value(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="250")
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", RANGE)])


@case
def an_out_of_range_value_after_unit_conversion(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="10", unit="µmol/L")  # 207.2 µg/dL > 200
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", RANGE)])


@case
def a_negative_value(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="-3")
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", RANGE)])


@case
def a_value_that_is_not_a_number(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="abc")
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", NOT_A_NUMBER)])


@case
def a_value_that_is_not_finite(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="nan")
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", NOT_FINITE)])


@case
def a_less_than_value(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="<0.5")
    return Scenario(
        render(rows),
        errors=[
            (
                row_number(LEAD),
                "value",
                Msg(
                    "%(message)s For a result below the detection limit write below_lod=true, "
                    "the limit in lod, and leave value empty."
                ),
            )
        ],
    )


@case
def value_cells_valid_for_one_code_and_out_of_range_for_another(c: Corpus) -> Scenario:
    day = "2026-01-19"
    rows = [
        ["HW-000006", day, "lab.urine_cadmium", "150", "ug/L", "", ""],  # ≤ 200 µg/L
        *c.base,
        ["HW-000006", day, "lab.urine_thorium", "150", "ug/L", "", ""],  # > 100 µg/L
    ]
    return Scenario(render(rows), errors=[(row_number(len(rows) - 1), "value", RANGE)])


@case
def a_bad_unit(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, unit="kg")
    return Scenario(render(rows), errors=[(row_number(LEAD), "unit", UNCONVERTIBLE)])


@case
def a_missing_unit(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, unit="")
    return Scenario(render(rows), errors=[(row_number(LEAD), "unit", UNIT_REQUIRED)])


@case
def a_formula_in_the_value(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="=1+2")
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", FORMULA)])


@case
def a_formula_in_the_unit(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, unit="@SUM(A1)")
    return Scenario(render(rows), errors=[(row_number(LEAD), "unit", FORMULA)])


@case
def a_formula_in_the_lod(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, lod="-1+1")
    return Scenario(render(rows), errors=[(row_number(LEAD), "lod", FORMULA)])


@case
def a_formula_in_the_study_id(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, study_id="=HW-000001")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "study_id", SECRET_FORMULA)])


@case
def a_formula_in_the_code(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, code="+symptom.cough")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "code", FORMULA)])


@case
def below_lod_without_a_lod(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="", below_lod="true", lod="")
    return Scenario(render(rows), errors=[(row_number(LEAD), "lod", LOD_NEEDED)])


@case
def below_lod_with_a_value(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, below_lod="yes", lod="0.1")
    return Scenario(render(rows), errors=[(row_number(LEAD), "value", VALUE_WITH_LOD)])


@case
def below_lod_that_is_not_a_boolean(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, below_lod="maybe")
    return Scenario(render(rows), errors=[(row_number(LEAD), "below_lod", NOT_BOOLEAN)])


@case
def a_yes_no_code_with_a_unit(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, unit="µg/L")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "unit", YES_NO_UNIT)])


@case
def a_yes_no_code_with_a_lod(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, lod="0.1")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "below_lod", YES_NO_LOD)])


@case
def a_yes_no_code_with_a_word_that_is_not_a_boolean(c: Corpus) -> Scenario:
    rows = changed(c.base, SYMPTOM, value="maybe")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "value", NOT_BOOLEAN)])


@case
def several_errors_in_one_row(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, observed_on="2024-13-01", value="250")
    r = row_number(LEAD)
    return Scenario(render(rows), errors=[(r, "observed_on", NOT_A_DATE), (r, "value", RANGE)])


@case
def a_formula_hides_the_other_value_cells_errors(c: Corpus) -> Scenario:
    rows = changed(c.base, LEAD, value="250", unit="kg", lod="=0")
    return Scenario(render(rows), errors=[(row_number(LEAD), "lod", FORMULA)])


@case
def errors_in_the_first_a_middle_and_the_last_chunk(c: Corpus) -> Scenario:
    last = len(c.base) - 1
    rows = changed(c.base, 2, code="lab.nothing")
    rows = changed(rows, LEAD, value="250")
    rows = changed(rows, last, observed_on="yesterday")
    return Scenario(
        render(rows),
        errors=[
            (row_number(2), "code", UNKNOWN_CODE),
            (row_number(LEAD), "value", RANGE),
            (row_number(last), "observed_on", NOT_A_DATE),
        ],
    )


@case
def every_row_has_an_unknown_code(c: Corpus) -> Scenario:
    rows = [[*row[:2], "nope", *row[3:]] for row in c.base]
    return Scenario(
        render(rows), errors=[(row_number(i), "code", UNKNOWN_CODE) for i in range(len(rows))]
    )


@case
def a_row_with_one_cell_too_many(c: Corpus) -> Scenario:
    rows = [list(row) for row in c.base]
    rows[SYMPTOM].append("")
    return Scenario(render(rows), errors=[(row_number(SYMPTOM), "", cell_count(8))])


@case
def a_row_with_one_cell_too_few(c: Corpus) -> Scenario:
    rows = [list(row) for row in c.base]
    rows[40] = rows[40][:-1]
    return Scenario(render(rows), errors=[(row_number(40), "", cell_count(6))])


@case
def a_duplicate_key_in_a_later_chunk(c: Corpus) -> Scenario:
    rows = [*c.base, list(c.base[3])]
    return Scenario(
        render(rows), errors=[(row_number(len(c.base)), "study_id", duplicate_of(row_number(3)))]
    )


@case
def a_duplicate_key_spelt_differently_in_a_later_chunk(c: Corpus) -> Scenario:
    copy = [" hw-000001", *c.base[3][1:]]
    copy[3] = "1.5" if copy[4] else copy[3]  # another value does not make it another key
    rows = [*c.base, copy]
    return Scenario(
        render(rows), errors=[(row_number(len(c.base)), "study_id", duplicate_of(row_number(3)))]
    )


@case
def a_duplicate_key_in_the_same_chunk(c: Corpus) -> Scenario:
    rows = [*c.base[:4], list(c.base[3]), *c.base[4:]]
    return Scenario(render(rows), errors=[(row_number(4), "study_id", duplicate_of(row_number(3)))])


@case
def a_key_three_times_in_three_chunks(c: Corpus) -> Scenario:
    rows = [*c.base[:30], list(c.base[3]), *c.base[30:], list(c.base[3])]
    first = row_number(3)
    return Scenario(
        render(rows),
        errors=[
            (row_number(30), "study_id", duplicate_of(first)),
            (row_number(len(rows) - 1), "study_id", duplicate_of(first)),
        ],
    )


@case
def a_health_worker_with_every_area_of_the_file(c: Corpus) -> Scenario:
    areas = {c.area_of[row[0].strip().upper()] for row in c.base}

    def check(outcome: Outcome) -> None:
        new = [v for v in outcome.visits if v not in outcome.visits_before]
        assert new and {v[3] for v in new} == {"scoped_worker"}

    return Scenario(render(c.base), created=len(c.base), setup=_worker_of(areas), check=check)


@case
def a_health_worker_without_one_area_of_the_file(c: Corpus) -> Scenario:
    missing = c.area_of["HW-000002"]
    areas = {c.area_of[row[0].strip().upper()] for row in c.base} - {missing}
    outside = [
        (row_number(i), "study_id", no_resident())
        for i, row in enumerate(c.base)
        if c.area_of[row[0].strip().upper()] == missing
    ]
    assert len(outside) > CHUNK
    return Scenario(render(c.base), errors=outside, setup=_worker_of(areas))


DAY_OF_SECOND_VISIT = dt.date(2022, 12, 12)  # HW-000001's second visit in the base rows


def _stored_visits(*, count: int, with_other_code: bool = False) -> Callable[[], None]:
    def setup() -> None:
        resident = _resident("HW-000001")
        for _ in range(count):
            visit = Visit.objects.create(resident=resident, visited_on=DAY_OF_SECOND_VISIT)
            if with_other_code:
                Observation.objects.create(
                    visit=visit, code=VocabularyCode.objects.get(code="dx.C34"), value_boolean=True
                )

    return setup


def _joins_the_earliest_stored_visit(outcome: Outcome) -> None:
    on_that_day = [
        o for o in outcome.observations if o[0] == "HW-000001" and o[1] == DAY_OF_SECOND_VISIT
    ]
    assert len(on_that_day) >= 12
    assert {o[2] for o in on_that_day} == {0}, "every row joins the earliest visit of the day"
    visits = [v for v in outcome.visits if v[0] == "HW-000001" and v[1] == DAY_OF_SECOND_VISIT]
    assert visits == [v for v in outcome.visits_before if v[:2] == visits[0][:2]]
    assert {v[2] for v in visits} == {None}, "no visit is added to that day"


@case
def a_day_with_a_stored_visit_without_observations(c: Corpus) -> Scenario:
    return Scenario(
        render(c.base),
        created=len(c.base),
        setup=_stored_visits(count=1),
        check=_joins_the_earliest_stored_visit,
    )


@case
def a_day_with_two_stored_visits_without_observations(c: Corpus) -> Scenario:
    return Scenario(
        render(c.base),
        created=len(c.base),
        setup=_stored_visits(count=2),
        check=_joins_the_earliest_stored_visit,
    )


@case
def a_day_whose_stored_visit_has_another_code(c: Corpus) -> Scenario:
    return Scenario(
        render(c.base),
        created=len(c.base),
        setup=_stored_visits(count=1, with_other_code=True),
        check=_joins_the_earliest_stored_visit,
    )


@case
def observations_already_stored_with_the_same_values(c: Corpus) -> Scenario:
    return Scenario(
        render(c.base),
        created=len(c.base) - 10,
        unchanged=10,
        setup=_stored_earlier(c.base[:10]),
    )


@case
def observations_already_stored_in_a_middle_chunk(c: Corpus) -> Scenario:
    return Scenario(
        render(c.base),
        created=len(c.base) - 12,
        unchanged=12,
        setup=_stored_earlier(c.base[38:50]),
    )


@case
def observations_already_stored_with_the_same_value_spelt_differently(c: Corpus) -> Scenario:
    earlier = changed(c.base[:10], 1, study_id="hw-000001", value="0.930")
    earlier = changed(earlier, 5, value="No")
    return Scenario(
        render(c.base),
        created=len(c.base) - 10,
        unchanged=10,
        setup=_stored_earlier(earlier),
    )


@case
def an_observation_already_stored_with_another_value(c: Corpus) -> Scenario:
    earlier = changed(c.base[:10], 1, value="0.95")
    return Scenario(
        render(c.base),
        errors=[(row_number(1), "value", t(DIFFERS))],
        setup=_stored_earlier(earlier),
    )


@case
def an_observation_already_stored_with_the_same_value_in_another_unit(c: Corpus) -> Scenario:
    earlier = changed(c.base[:10], 1, value="9.3", unit="µg/L")  # 0.93 µg/dL
    return Scenario(
        render(c.base),
        errors=[(row_number(1), "unit", t(DIFFERS))],
        setup=_stored_earlier(earlier),
    )


@case
def an_observation_already_stored_as_another_boolean(c: Corpus) -> Scenario:
    earlier = changed(c.base[:10], 6, value="false")
    return Scenario(
        render(c.base),
        errors=[(row_number(6), "value", t(DIFFERS))],
        setup=_stored_earlier(earlier),
    )


def _has_outlier_flags(outcome: Outcome) -> None:
    """The community is large enough (n >= 30 per code and age band) for outlier flags."""
    assert any(flag[0] == "outlier" for flag in outcome.flags)


@case
def the_whole_tiny_community(c: Corpus) -> Scenario:
    # Blood lead is judged on log values: its ordinary upper tail raises no flag, so one value
    # far beyond it (valid, below the code's maximum) is planted to see an outlier on both paths.
    lead = next(i for i, row in enumerate(c.full) if row[HEADER.index("code")] == "lab.blood_lead")
    return Scenario(
        render(changed(c.full, lead, value="150", unit="µg/dL")),
        created=len(c.full),
        chunk_size=500,
        check=_has_outlier_flags,
    )


@case
def the_whole_tiny_community_in_chunks_of_seven(c: Corpus) -> Scenario:
    return Scenario(render(c.full, newline="\r\n", bom=True), created=len(c.full))


@case
def the_whole_tiny_community_with_one_bad_row_near_the_end(c: Corpus) -> Scenario:
    index = len(c.full) - 3
    rows = changed(c.full, index, observed_on="2024-00-01")
    return Scenario(
        render(rows), errors=[(row_number(index), "observed_on", NOT_A_DATE)], chunk_size=500
    )


# --- importing a scenario and capturing what it did ------------------------------------------


Visits = list[tuple[Any, ...]]


@dataclass
class Outcome:
    report: dict[str, Any]
    visits_before: Visits
    visits: Visits  # (study ID, visited_on, import kind, health worker, rank in its day)
    observations: list[tuple[Any, ...]]  # (study ID, day, visit rank, code, the five fields)
    observations_before: int
    flags: list[tuple[Any, ...]]  # (kind, detail, subject)
    import_records: int


@functools.cache
def _study_ids() -> dict[str, str]:
    """pseudonym → study ID of the tiny community's residents (for readable failures)."""
    return {pseudonymize(f"HW-{i:06d}").value: f"HW-{i:06d}" for i in range(1, 200)}


def _visits() -> tuple[Visits, dict[int, tuple[str, dt.date, int]]]:
    names = _study_ids()
    rank: Counter[tuple[str, dt.date]] = Counter()
    keys: dict[int, tuple[str, dt.date, int]] = {}
    visits: Visits = []
    for pk, pseudonym, day, kind, worker in Visit.objects.order_by("pk").values_list(
        "pk", "resident__pseudonym", "visited_on", "import_record__kind", "health_worker__username"
    ):
        who = names.get(pseudonym, pseudonym)
        keys[pk] = (who, day, rank[(who, day)])
        visits.append((who, day, kind, worker, rank[(who, day)]))
        rank[(who, day)] += 1
    return sorted(visits, key=repr), keys


def _capture(report: ImportReport, visits_before: Visits, observations_before: int) -> Outcome:
    visits, keys = _visits()
    observations = sorted(
        (
            (*keys[visit], code, value, boolean, unit, below, lod)
            for visit, code, value, boolean, unit, below, lod in Observation.objects.values_list(
                "visit_id",
                "code__code",
                "value",
                "value_boolean",
                "entered_unit",
                "below_lod",
                "lod",
            )
        ),
        key=repr,
    )
    observation_keys = {
        pk: (*keys[visit], code)
        for pk, visit, code in Observation.objects.values_list("pk", "visit_id", "code__code")
    }
    flags = sorted(
        (
            (
                kind,
                detail,
                observation_keys[observation] if observation else (*keys[visit], None),
            )
            for kind, detail, observation, visit in DataQualityFlag.objects.values_list(
                "kind", "detail", "observation_id", "visit_id"
            )
        ),
        key=repr,
    )
    return Outcome(
        report={
            "ok": report.ok,
            "rows": report.rows,
            "created": report.created,
            "unchanged": report.unchanged,
            "errors": [(e.row, e.column, e.value, e.reason) for e in report.errors],
            "error_count": report.error_count,
        },
        visits_before=visits_before,
        visits=visits,
        observations=observations,
        observations_before=observations_before,
        flags=flags,
        import_records=ImportRecord.objects.count(),
    )


def outcome_of(scenario: Scenario, *, row_path_only: bool) -> Outcome:
    """Import the scenario's file in a savepoint that is rolled back: both paths start from the
    same database."""
    with transaction.atomic():
        user = scenario.setup() if scenario.setup else None
        visits_before, _ = _visits()
        observations_before = Observation.objects.count()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ObservationsImporter, "chunk_size", scenario.chunk_size)
            if row_path_only:
                patch.setattr(
                    ObservationsImporter, "_validate_clean_chunk", lambda self, chunk: False
                )
            report = _import_file(scenario.content, user)
        result = _capture(report, visits_before, observations_before)
        transaction.set_rollback(True)
    return result


# --- what a valid file should store, worked out from the file alone --------------------------


def _file_rows(content: bytes) -> list[dict[str, str]]:
    text = content.decode("utf-8-sig")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = [name.strip().lower() for name in records[0]]
    return [
        dict(zip(header, cells, strict=True))
        for cells in records[1:]
        if any(cell.strip() for cell in cells)
    ]


def _data_row_count(content: bytes) -> int:
    records = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    return sum(1 for cells in records[1:] if any(cell.strip() for cell in cells))


def _expected_observations(content: bytes) -> list[tuple[Any, ...]]:
    """(study ID, day, code, value, value_boolean, entered_unit, below_lod, lod) of each row."""
    codes = {c.code: c for c in VocabularyCode.objects.all()}
    expected: list[tuple[Any, ...]] = []
    for row in _file_rows(content):
        code = codes[row["code"].strip()]
        study_id = "".join(row["study_id"].split()).upper()
        day = dt.date.fromisoformat(row["observed_on"].strip())
        if not code.is_numeric:
            word = row["value"].strip().lower()
            assert word in TRUE_WORDS | FALSE_WORDS
            expected.append((study_id, day, code.code, None, word in TRUE_WORDS, "", False, None))
            continue
        unit = row["unit"].strip()
        factor = float(code.accepted_units[unit])
        below = row["below_lod"].strip().lower() in TRUE_WORDS
        value = None if below else float(row["value"]) * factor
        lod = float(row["lod"]) * factor if row["lod"].strip() else None
        expected.append((study_id, day, code.code, value, None, unit, below, lod))
    return expected


def _check_against_the_file(scenario: Scenario, outcome: Outcome) -> None:
    assert outcome.report["ok"], outcome.report["errors"][:5]
    assert outcome.report["created"] == scenario.created
    assert outcome.report["unchanged"] == scenario.unchanged
    assert len(outcome.observations) - outcome.observations_before == scenario.created
    stored: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for o in outcome.observations:
        stored.setdefault((o[0], o[1], o[3]), []).append(o[4:])
    for expected in _expected_observations(scenario.content):
        value, boolean, unit, below, lod = expected[3:]
        assert any(
            (got[0] == value if value is None else got[0] == pytest.approx(value, rel=1e-12))
            and got[1:4] == (boolean, unit, below)
            and (got[4] == lod if lod is None else got[4] == pytest.approx(lod, rel=1e-12))
            for got in stored.get(expected[:3], [])
        ), f"{expected} is not stored: {stored.get(expected[:3])}"
    # one visit per (resident, day) of the file, unless that day already had one
    days = {(o[0], o[1]) for o in _expected_observations(scenario.content)}
    had_visit = {(v[0], v[1]) for v in outcome.visits_before}
    new_visits = Counter(outcome.visits) - Counter(outcome.visits_before)
    assert sorted((v[0], v[1]) for v in new_visits.elements()) == sorted(days - had_visit)
    assert {v[2] for v in new_visits.elements()} <= {"observations"}


@pytest.mark.parametrize("name", list(CASES))
def test_both_validation_paths_store_and_report_the_same_for_every_file_of_the_corpus(
    residents: Path, corpus: Corpus, name: str
) -> None:
    scenario = CASES[name](corpus)
    as_chosen = outcome_of(scenario, row_path_only=False)
    row_by_row = outcome_of(scenario, row_path_only=True)

    assert as_chosen.report == row_by_row.report
    assert as_chosen.visits == row_by_row.visits
    assert as_chosen.observations == row_by_row.observations
    assert as_chosen.flags == row_by_row.flags
    assert as_chosen.import_records == row_by_row.import_records
    assert as_chosen.report["rows"] == _data_row_count(scenario.content)

    if scenario.errors:
        errors = as_chosen.report["errors"]
        assert [(row, column) for row, column, _, _ in errors] == [
            (row, column) for row, column, _ in scenario.errors
        ]
        for (_, _, _, reason), (_, _, words) in zip(errors, scenario.errors, strict=True):
            assert reason_is(reason, words), (reason, words)
        assert as_chosen.report["error_count"] == len(scenario.errors)
        assert not as_chosen.report["ok"] and as_chosen.report["created"] == 0
        assert as_chosen.visits == as_chosen.visits_before, "a refused file writes nothing"
        assert len(as_chosen.observations) == as_chosen.observations_before
    else:
        _check_against_the_file(scenario, as_chosen)
    if scenario.check:
        scenario.check(as_chosen)


def test_an_above_reference_value_in_the_corpus_is_flagged_on_both_paths(
    residents: Path, corpus: Corpus
) -> None:
    scenario = CASES["clean"](corpus)
    flags = outcome_of(scenario, row_path_only=False).flags
    assert (
        "above_reference",
        "Blood lead = 41 µg/dL, more than 10× the reference level 3.5.",
        ("HW-000004", dt.date(2026, 1, 16), 0, "lab.blood_lead"),
    ) in flags
    assert flags == outcome_of(scenario, row_path_only=True).flags


# --- which path a chunk takes -------------------------------------------------------------


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[list[int], Any]]:
    """Record each call of an ObservationsImporter method: the chunk's row numbers, result."""
    original = getattr(ObservationsImporter, name)
    calls: list[tuple[list[int], Any]] = []

    def wrapper(self: ObservationsImporter, chunk: list[Any]) -> Any:
        numbers = [item.rownum if hasattr(item, "rownum") else item[0] for item in chunk]
        result = original(self, chunk)
        calls.append((numbers, result))
        return result

    monkeypatch.setattr(ObservationsImporter, name, wrapper)
    return calls


def _chunks_of(count: int) -> list[list[int]]:
    numbers = [row_number(i) for i in range(count)]
    return [numbers[start : start + CHUNK] for start in range(0, count, CHUNK)]


def test_a_clean_file_takes_the_columnar_path_for_every_chunk(
    residents: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_path = _spy(monkeypatch, "validate_chunk")
    columnar = _spy(monkeypatch, "_validate_clean_chunk")
    report = _import_file(render(corpus.base))
    assert report.ok and report.created == len(corpus.base)
    assert row_path == []
    assert columnar == [(chunk, True) for chunk in _chunks_of(len(corpus.base))]


def test_a_file_with_one_bad_row_goes_row_by_row_only_for_that_rows_chunk(
    residents: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_path = _spy(monkeypatch, "validate_chunk")
    columnar = _spy(monkeypatch, "_validate_clean_chunk")
    report = _import_file(render(changed(corpus.base, LEAD, unit="kg")))
    assert [(e.row, e.column, e.value) for e in report.errors] == [(row_number(LEAD), "unit", "kg")]
    assert report.error_count == 1
    chunks = _chunks_of(len(corpus.base))
    bad = LEAD // CHUNK
    assert numbers_of(row_path) == [chunks[bad]]
    assert columnar == [(chunk, i != bad) for i, chunk in enumerate(chunks)]
    assert not ImportRecord.objects.filter(kind="observations").exists()


def numbers_of(calls: list[tuple[list[int], Any]]) -> list[list[int]]:
    return [numbers for numbers, _ in calls]


def test_a_chunk_touching_stored_observations_with_the_same_values_stays_columnar(
    residents: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged rows are recognised in bulk (a re-import of a file does not go row by row)."""
    assert _import_file(render(corpus.base[:3])).ok  # the first visit's first three rows
    row_path = _spy(monkeypatch, "validate_chunk")
    report = _import_file(render(corpus.base))
    assert (report.created, report.unchanged) == (len(corpus.base) - 3, 3)
    assert row_path == []


def test_a_chunk_touching_a_stored_observation_with_another_value_goes_row_by_row(
    residents: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _import_file(render(corpus.base[:3])).ok
    changed = [list(row) for row in corpus.base]
    i = next(i for i in range(3) if changed[i][3] and changed[i][4])  # a measured value
    changed[i][3] = f"{float(changed[i][3]) * 1.5:g}"
    row_path = _spy(monkeypatch, "validate_chunk")
    report = _import_file(render(changed))
    assert not report.ok and [(e.row, e.reason) for e in report.errors] == [
        (row_number(i), t(DIFFERS))
    ]
    # the first chunk holds the changed row; the second touches only unchanged stored rows
    assert numbers_of(row_path) == _chunks_of(len(corpus.base))[:1]


def test_a_chunk_touching_a_stored_visit_without_observations_stays_columnar(
    residents: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stored_visits(count=1)()
    row_path = _spy(monkeypatch, "validate_chunk")
    report = _import_file(render(corpus.base))
    assert report.ok and report.created == len(corpus.base)
    assert row_path == []
    stored = Visit.objects.get(resident=_resident("HW-000001"), visited_on=DAY_OF_SECOND_VISIT)
    assert stored.import_record is None and stored.observations.count() == 12


# --- the reader: blocks, line ends and bad bytes ---------------------------------------------


def _read_all(
    content: bytes, columns: tuple[str, ...]
) -> tuple[list[tuple[int, Cells]], ErrorSink]:
    sink = ErrorSink()
    source = CsvSource(io.BytesIO(content), columns, sink)
    rows = [(number, list(cells)) for number, cells in source.rows()]
    source.drain()
    return rows, sink


def _reference_rows(content: bytes, columns: tuple[str, ...]) -> list[tuple[int, Cells]]:
    """The rows as the csv module reads the decoded text, in contract order, blanks skipped."""
    records = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), strict=True))
    header = [name.strip().lower() for name in records[0]]
    positions = [header.index(column) for column in columns]
    return [
        (number, [cells[p] for p in positions])
        for number, cells in enumerate(records[1:], start=2)
        if any(cell.strip() for cell in cells)
    ]


TRICKY = (
    BOM
    + b"code,value,note\r\n"
    + 'µ1,"two\r\nlines",plain\r\n'.encode()
    + 'µ2,"a\rcarriage return",x\n'.encode()
    + 'µ3,"next line\u0085inside",x\n'.encode()
    + 'µ4,"line separator\u2028inside",x\n'.encode()
    + 'µ5,"form\x0cfeed and \x1c",x\n'.encode()
    + b"\n,,\n"
    # other line-break characters outside quotes are ordinary characters of a cell
    + "µ6,next\x85line,x\n".encode()
    + "µ7,line\u2028separator,v\x0bt f\x0cf f\x1cs g\x1ds r\x1es\r\n".encode()
    + "µ8,ünïcödé,last".encode()
)


@pytest.mark.parametrize("block_size", [1, 2, 3, 4, 5, 7, 16, 64, 1 << 16])
def test_rows_are_the_same_whatever_the_block_size_and_line_break_characters(
    monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    monkeypatch.setattr(reader_module, "BLOCK_SIZE", block_size)
    columns = ("note", "code", "value")
    rows, sink = _read_all(TRICKY, columns)
    assert not sink, sink.errors
    assert rows == _reference_rows(TRICKY, columns)
    assert [cells[1] for _, cells in rows] == [f"µ{i}" for i in range(1, 9)]
    assert rows[5][1] == ["x", "µ6", "next\x85line"]


@pytest.mark.parametrize("block_size", [1, 3, 64, 1 << 16])
def test_rows_in_contract_order_come_through_unchanged_in_any_block_size(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    monkeypatch.setattr(reader_module, "BLOCK_SIZE", block_size)
    content = _with_blank_lines(corpus.base)
    rows, sink = _read_all(content, HEADER)
    assert not sink
    assert rows == _reference_rows(content, HEADER)
    assert [cells for _, cells in rows] == corpus.base


@pytest.mark.parametrize("block_size", [1, 5, 4096, 1 << 16])
@pytest.mark.parametrize("bom", [False, True])
def test_a_bad_byte_is_reported_with_its_file_offset_and_line_in_any_block(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, block_size: int, bom: bool
) -> None:
    monkeypatch.setattr(reader_module, "BLOCK_SIZE", block_size)
    rows = corpus.full[:3000]  # more than one 64 KiB block
    content = bytearray(render(rows, bom=bom))
    lines = bytes(content).split(b"\n")
    bad_line = 2500  # 1-based line of the file
    offset = sum(len(line) + 1 for line in lines[: bad_line - 1]) + 10
    assert offset > 1 << 16
    content[offset] = 0xFF
    _, sink = _read_all(bytes(content), HEADER)
    errors = sink.finish()
    assert [(e.row, e.column) for e in errors] == [(bad_line, "")]
    assert errors[0].reason == t(
        "the file is not UTF-8 text: byte %(byte)s at byte offset %(offset)s (line %(line)s); "
        "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and import it again.",
        byte="0xFF",
        offset=offset,
        line=bad_line,
    )
