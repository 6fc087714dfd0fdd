"""The bulk writes of an observations import: visits and observations from numpy arrays.

On PostgreSQL the rows travel as binary COPY built in one numpy step (no Python object per
row): visits straight into their table with ids taken from its sequence, observations into a
temporary table and from there into theirs with one INSERT … SELECT, sorted by (visit, code)
so every index but one grows at its right edge. Elsewhere (SQLite, the embedded default) the
same rows go through executemany.

What stays, and is the floor of any importer (bench/results.md measures it): PostgreSQL
maintains four indexes per observation and checks both of its foreign keys row by row at
COMMIT; those two costs are larger than everything else the import does.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any, NamedTuple

import numpy as np
from django.db import connection
from django.utils import timezone

from surveys.models import ImportRecord, Observation, Visit

#: Rows per COPY message batch (about 30 MB of observations) and per executemany call.
CHUNK_ROWS = 500_000
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_PG_EPOCH_ORDINAL = _PG_EPOCH.date().toordinal()
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
# The binary wire format of each PostgreSQL type used here (big-endian, fixed width).
_WIRE = {
    "int8": ">i8",
    "int4": ">i4",
    "int2": ">i2",
    "float8": ">f8",
    "bool": "?",
    "date": ">i4",  # days since 2000-01-01
    "timestamptz": ">i8",  # microseconds since 2000-01-01 UTC
}


class Column(NamedTuple):
    """One column of a binary COPY: an array (one value per row), a scalar, or None (NULL)."""

    pg_type: str
    values: np.ndarray | int | float | bool | None


def binary_copy_rows(columns: Sequence[Column], count: int) -> bytes:
    """The tuples of a binary COPY (without its signature and trailer), in one numpy step.

    Every row has the same layout — a NULL column is NULL in every row — so the rows are one
    packed structured array: field count, then (length, value) per column.
    """
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, column in enumerate(columns):
        fields.append((f"length{i}", ">i4"))
        if column.values is not None:
            fields.append((f"value{i}", _WIRE[column.pg_type]))
    rows = np.empty(count, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for i, column in enumerate(columns):
        if column.values is None:
            rows[f"length{i}"] = -1
        else:
            rows[f"length{i}"] = np.dtype(_WIRE[column.pg_type]).itemsize
            rows[f"value{i}"] = column.values
    return rows.tobytes()


def _copy_binary(table: str, names: Sequence[str], columns: Sequence[Column], count: int) -> None:
    quote = connection.ops.quote_name
    with (
        connection.cursor() as cursor,
        cursor.copy(  # type: ignore[attr-defined]
            f"COPY {quote(table)} ({', '.join(map(quote, names))}) FROM STDIN (FORMAT binary)"
        ) as copy,
    ):
        copy.write(_SIGNATURE)
        for start in range(0, count, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, count)
            copy.write(
                binary_copy_rows(
                    [
                        Column(c.pg_type, c.values[start:stop])
                        if isinstance(c.values, np.ndarray)
                        else c
                        for c in columns
                    ],
                    stop - start,
                )
            )
        copy.write(_TRAILER)


def _ids_from_sequence(table: str, column: str, count: int) -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64, count=count)


def insert_visits(
    *,
    resident_ids: np.ndarray,
    days: np.ndarray,
    health_worker_id: int | None,
    record: ImportRecord,
) -> np.ndarray:
    """Create one visit per (resident, day ordinal); returns their ids in the same order."""
    count = len(resident_ids)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    now = timezone.now()
    if connection.vendor != "postgresql":
        visits = Visit.objects.bulk_create(
            [
                Visit(
                    resident_id=resident,
                    visited_on=dt.date.fromordinal(day),
                    health_worker_id=health_worker_id,
                    import_record=record,
                )
                for resident, day in zip(resident_ids.tolist(), days.tolist(), strict=True)
            ],
            batch_size=2000,
        )
        return np.array([v.pk for v in visits], dtype=np.int64)
    meta = Visit._meta
    ids = _ids_from_sequence(meta.db_table, meta.pk.column, count)
    microseconds = (now - _PG_EPOCH) // dt.timedelta(microseconds=1)
    _copy_binary(
        meta.db_table,
        ["id", "resident_id", "visited_on", "health_worker_id", "created_at", "import_record_id"],
        [
            Column("int8", ids),
            Column("int8", resident_ids),
            Column("date", np.asarray(days, dtype=np.int64) - _PG_EPOCH_ORDINAL),
            Column("int4", health_worker_id),
            Column("timestamptz", microseconds),
            Column("int8", record.pk),
        ],
        count,
    )
    return ids


class ObservationRows(NamedTuple):
    """New observations as parallel arrays (NaN: no number; -1: no boolean)."""

    visit_ids: np.ndarray  # int64
    code_ids: np.ndarray  # int64
    values: np.ndarray  # float64, canonical unit
    booleans: np.ndarray  # int8: -1, 0, 1
    unit_index: np.ndarray  # int16, into units
    units: list[str]
    below_lod: np.ndarray  # bool
    lods: np.ndarray  # float64


def insert_observations(rows: ObservationRows) -> None:
    """Store the observations (ids from the table's default)."""
    count = len(rows.visit_ids)
    if count == 0:
        return
    if connection.vendor != "postgresql":
        _insert_observations_portably(rows)
        return
    stage = "import_observation_rows"
    quote = connection.ops.quote_name
    table = quote(Observation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (visit_id bigint, code_id integer, value float8, "
            "value_boolean smallint, unit smallint, below_lod boolean, lod float8) "
            "ON COMMIT DROP"
        )
    _copy_binary(
        stage,
        ["visit_id", "code_id", "value", "value_boolean", "unit", "below_lod", "lod"],
        [
            Column("int8", rows.visit_ids),
            Column("int4", rows.code_ids),
            Column("float8", rows.values),
            Column("int2", rows.booleans),
            Column("int2", rows.unit_index),
            Column("bool", rows.below_lod),
            Column("float8", rows.lods),
        ],
        count,
    )
    with connection.cursor() as cursor:
        # PostgreSQL compares NaN equal to NaN, so NULLIF turns the "no value" marker to NULL.
        cursor.execute(
            f"INSERT INTO {table} (visit_id, code_id, value, value_boolean, entered_unit, "  # noqa: S608
            "below_lod, lod) "
            "SELECT visit_id, code_id, NULLIF(value, 'NaN'), "
            "CASE value_boolean WHEN -1 THEN NULL ELSE value_boolean = 1 END, "
            "(%s::text[])[unit + 1], below_lod, NULLIF(lod, 'NaN') "
            f"FROM {stage} ORDER BY visit_id, code_id",
            [rows.units],
        )
        cursor.execute(f"DROP TABLE {stage}")


def _portable_rows(rows: ObservationRows) -> Iterator[tuple[Any, ...]]:
    for visit, code, value, boolean, unit, below, lod in zip(
        rows.visit_ids.tolist(),
        rows.code_ids.tolist(),
        rows.values.tolist(),
        rows.booleans.tolist(),
        rows.unit_index.tolist(),
        rows.below_lod.tolist(),
        rows.lods.tolist(),
        strict=True,
    ):
        yield (
            visit,
            code,
            None if value != value else value,  # NaN → None
            None if boolean < 0 else bool(boolean),
            rows.units[unit],
            below,
            None if lod != lod else lod,
        )


def _insert_observations_portably(rows: ObservationRows) -> None:
    quote = connection.ops.quote_name
    names = ["visit_id", "code_id", "value", "value_boolean", "entered_unit", "below_lod", "lod"]
    sql = (
        f"INSERT INTO {quote(Observation._meta.db_table)} ({', '.join(map(quote, names))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(names))})"
    )
    generated = _portable_rows(rows)
    with connection.cursor() as cursor:
        while batch := list(islice(generated, CHUNK_ROWS // 10)):
            cursor.executemany(sql, batch)


def refresh_planner_statistics() -> None:
    """ANALYZE visits and observations after a bulk insert, inside the import's transaction.

    PostgreSQL's planner still believes the tables hold what they held before (autovacuum
    has not run), and plans the import's follow-up queries (quality flags) for a small
    table: sequential scans of millions of rows. ANALYZE samples, so it costs about a second
    at any size; for a role that does not own the tables PostgreSQL only warns and skips.
    """
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"ANALYZE {quote(Visit._meta.db_table)}, {quote(Observation._meta.db_table)}"
        )


def observation_ids(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(visit id, code id) → observation id, for a few thousand stored observations."""
    found: dict[tuple[int, int], int] = {}
    visits = sorted({visit for visit, _ in pairs})
    for start in range(0, len(visits), 500):
        for visit, code, pk in Observation.objects.filter(
            visit_id__in=visits[start : start + 500]
        ).values_list("visit_id", "code_id", "pk"):
            if (visit, code) in pairs:
                found[(visit, code)] = pk
    return found
