"""The observations import on PostgreSQL: binary COPY stores what the portable writes store.

surveys.importing.bulk writes visits and observations by binary COPY on PostgreSQL and by
bulk_create/executemany elsewhere. Here both run on PostgreSQL (the portable branch is chosen
by showing bulk a connection that does not say it is PostgreSQL) and must store the same
visits, observations and flags, compared by natural keys; the COPY import is committed for
real, so the foreign keys PostgreSQL checks at COMMIT are checked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from surveys.importing import ImportReport, bulk, import_csv
from surveys.models import (
    DataQualityFlag,
    ImportRecord,
    Observation,
    Resident,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import pseudonymize

pytestmark = pytest.mark.django_db(transaction=True)
TODAY = dt.date(2026, 6, 30)
TRUE_WORDS = {"true", "1", "yes", "y"}


def import_file(content: bytes, user: User | None = None) -> ImportReport:
    return import_csv(
        kind="observations",
        stream=io.BytesIO(content),
        file_name="observations.csv",
        user=user,
        today=TODAY,
    )


def rows_of(folder: Path) -> tuple[list[str], list[list[str]]]:
    with (folder / "observations.csv").open(encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def render(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode("utf-8")


class _NotPostgresql:
    """django.db.connection for everything, except that it does not say it is PostgreSQL."""

    vendor = "portable"

    def __getattr__(self, name: str) -> Any:
        return getattr(connection, name)


def spy_on_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tables: list[str] = []
    original = bulk._copy_binary

    def copy(table: str, *args: Any) -> None:
        tables.append(table)
        original(table, *args)

    monkeypatch.setattr(bulk, "_copy_binary", copy)
    return tables


# --- what is stored, by natural keys -----------------------------------------------------------


def stored() -> dict[str, Any]:
    visits = Counter(
        Visit.objects.values_list(
            "resident__pseudonym", "visited_on", "import_record__kind", "health_worker__username"
        )
    )
    observations = Counter(
        Observation.objects.values_list(
            "visit__resident__pseudonym",
            "visit__visited_on",
            "code__code",
            "value",
            "value_boolean",
            "entered_unit",
            "below_lod",
            "lod",
        )
    )
    flags = Counter(
        DataQualityFlag.objects.values_list(
            "kind",
            "detail",
            "observation__visit__resident__pseudonym",
            "observation__visit__visited_on",
            "observation__code__code",
            "visit__resident__pseudonym",
            "visit__visited_on",
        )
    )
    return {"visits": visits, "observations": observations, "flags": flags}


def counts() -> tuple[int, int, int, int]:
    return (
        Visit.objects.count(),
        Observation.objects.count(),
        DataQualityFlag.objects.count(),
        ImportRecord.objects.filter(kind="observations").count(),
    )


def report_fields(report: ImportReport) -> tuple[Any, ...]:
    return (
        report.ok,
        report.rows,
        report.created,
        report.unchanged,
        [(e.row, e.column, e.value, e.reason) for e in report.errors],
        report.error_count,
    )


def expected_observations(rows: list[list[str]]) -> Counter[tuple[Any, ...]]:
    """What each row should store, worked out from the file and the vocabulary alone."""
    codes = {c.code: c for c in VocabularyCode.objects.all()}
    expected: Counter[tuple[Any, ...]] = Counter()
    for study_id, day, code_text, value, unit, below_lod, lod in rows:
        code = codes[code_text]
        key = (pseudonymize(study_id).value, dt.date.fromisoformat(day), code.code)
        if not code.is_numeric:
            expected[(*key, None, value.strip().lower() in TRUE_WORDS, "", False, None)] += 1
            continue
        factor = float(code.accepted_units[unit])
        below = below_lod.strip().lower() in TRUE_WORDS
        expected[
            (
                *key,
                None if below else float(value) * factor,
                None,
                unit,
                below,
                float(lod) * factor if lod else None,
            )
        ] += 1
    return expected


# --- the tests -----------------------------------------------------------------------------


def test_the_copy_path_and_the_portable_path_store_the_same_tiny_community(
    residents: Path, admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert connection.vendor == "postgresql"
    header, rows = rows_of(residents)
    # Blood lead is judged on log values, so its ordinary upper tail raises no flag: one value
    # far beyond it (valid, below the code's maximum) is planted to compare flags on both paths.
    lead = next(row for row in rows if row[header.index("code")] == "lab.blood_lead")
    lead[header.index("value")], lead[header.index("unit")] = "150", "µg/dL"
    content = render(header, rows)
    before = counts()

    # the portable writes on PostgreSQL, in a transaction that is rolled back …
    copies = spy_on_copies(monkeypatch)
    with transaction.atomic():
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "connection", _NotPostgresql())
            portable_report = import_file(content, admin_user)
        portable = stored()
        transaction.set_rollback(True)
    assert copies == [], "the portable branch writes without COPY"
    assert counts() == before

    # … then the COPY writes, committed
    copy_report = import_file(content, admin_user)
    assert copies == [Visit._meta.db_table, Observation._meta.db_table]  # no staging table
    by_copy = stored()

    assert report_fields(copy_report) == report_fields(portable_report)
    assert copy_report.ok and copy_report.created == copy_report.rows > 6000
    assert by_copy["visits"] == portable["visits"]
    assert by_copy["observations"] == portable["observations"]
    assert by_copy["flags"] == portable["flags"]
    assert any(flag[0] == "outlier" for flag in by_copy["flags"]), "a planted outlier is flagged"


def test_copied_observations_hold_exactly_the_values_of_the_file(
    residents: Path, admin_user: User
) -> None:
    header, rows = rows_of(residents)
    started = timezone.now()
    report = import_file(render(header, rows), admin_user)
    finished = timezone.now()
    assert report.ok and report.created == len(rows)

    # exact float equality: the canonical value is the entered value × the unit's factor
    assert stored()["observations"] == expected_observations(rows)
    assert any(row[5] == "true" for row in rows) and any(row[4] == "µg/dL" for row in rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {Observation._meta.db_table} "  # noqa: S608
            "WHERE value = 'NaN'::float8 OR lod = 'NaN'::float8"
        )
        assert cursor.fetchone() == (0,), "no NaN is stored: no value is NULL"

    # one visit per resident and day, with its import record, health worker and time
    days = {(pseudonymize(row[0]).value, dt.date.fromisoformat(row[1])) for row in rows}
    visits = list(
        Visit.objects.values_list(
            "resident__pseudonym", "visited_on", "import_record_id", "health_worker", "created_at"
        )
    )
    assert sorted((p, d) for p, d, *_ in visits) == sorted(days)
    assert {(record, worker) for _, _, record, worker, _ in visits} == {
        (report.import_record_id, admin_user.pk)
    }
    assert all(started <= created <= finished for *_, created in visits)


def test_ids_taken_from_the_sequences_leave_them_ready_for_the_next_insert(
    residents: Path, admin_user: User
) -> None:
    header, rows = rows_of(residents)
    assert import_file(render(header, rows[:500])).ok
    highest_visit = max(Visit.objects.values_list("pk", flat=True))
    highest_observation = max(Observation.objects.values_list("pk", flat=True))
    resident = Resident.objects.get(pseudonym=pseudonymize(rows[0][0]).value)
    visit = Visit.objects.create(resident=resident, visited_on=TODAY)
    observation = Observation.objects.create(
        visit=visit, code=VocabularyCode.objects.get(code="symptom.cough"), value_boolean=True
    )
    assert visit.pk > highest_visit and observation.pk > highest_observation
    later = import_file(render(header, rows[500:1000]))  # and a COPY after them
    assert later.ok
    copied = Visit.objects.filter(import_record_id=later.import_record_id)
    assert min(copied.values_list("pk", flat=True)) > visit.pk


def test_an_import_without_a_user_leaves_the_health_worker_empty(residents: Path) -> None:
    header, rows = rows_of(residents)
    report = import_file(render(header, rows[:200]))
    assert report.ok
    assert set(Visit.objects.values_list("health_worker", "import_record_id")) == {
        (None, report.import_record_id)
    }


def test_a_second_import_of_the_same_file_creates_nothing_and_counts_every_row_unchanged(
    residents: Path, admin_user: User
) -> None:
    header, rows = rows_of(residents)
    content = render(header, rows)
    first = import_file(content, admin_user)
    assert first.ok
    before, contents = counts(), stored()
    second = import_file(content, admin_user)
    assert (second.ok, second.created, second.unchanged) == (True, 0, len(rows))
    assert counts() == (before[0], before[1], before[2], before[3] + 1)
    assert stored() == contents


def test_importing_in_two_parts_stores_what_one_import_stores(residents: Path) -> None:
    header, rows = rows_of(residents)
    with transaction.atomic():
        assert import_file(render(header, rows)).ok
        at_once = stored()
        transaction.set_rollback(True)
    half = len(rows) // 2
    assert import_file(render(header, rows[:half])).ok
    second = import_file(render(header, rows))  # the first half is stored already
    assert (second.created, second.unchanged) == (len(rows) - half, half)
    in_parts = stored()
    assert in_parts["observations"] == at_once["observations"]
    assert in_parts["visits"] == at_once["visits"]
    # (outlier flags may differ: the first part was judged against fewer stored values)


RefusedFile = Callable[[list[str], list[list[str]]], bytes]


@pytest.mark.parametrize(
    "refused",
    [
        lambda header, rows: render(header, [*rows, ["HW-999999", *rows[0][1:]]]),
        lambda header, rows: render(header, [*rows, rows[10]]),
        lambda header, rows: render(header, [*rows[:-1], [*rows[-1][:3], "=1", *rows[-1][4:]]]),
    ],
    ids=["an unknown study ID", "a duplicate key", "a formula"],
)
def test_a_refused_file_writes_nothing(
    residents: Path, admin_user: User, refused: RefusedFile
) -> None:
    header, rows = rows_of(residents)
    assert import_file(render(header, rows[:100])).ok
    before, contents = counts(), stored()
    report = import_file(refused(header, rows), admin_user)
    assert not report.ok and report.error_count == 1 and report.created == 0
    assert counts() == before
    assert stored() == contents
