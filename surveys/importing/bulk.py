"""The bulk writes of an observations import: visits and observations from numpy arrays.

On PostgreSQL the rows travel as binary COPY built by numpy (no Python object per row):
visits straight into their table with ids taken from its sequence, observations straight into
theirs too, sorted by (visit, code) first so every index but one grows at its right edge (a
temporary table and an INSERT … SELECT … ORDER BY cost a second pass and a sort that spilled to
disk: ~4 s of the 100,000-resident import). Elsewhere (SQLite, the embedded default) the same
rows go through executemany.

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
    """One column of a binary COPY: an array (one value per row), a scalar, or None (NULL).

    ``null``: per row, True where the value is NULL (the row's value is then not sent).
    ``texts``: for pg_type "text", the texts that ``values`` (integers) index.
    """

    pg_type: str
    values: np.ndarray | int | float | bool | None
    null: np.ndarray | None = None
    texts: Sequence[str] = ()


def binary_copy_rows(columns: Sequence[Column], count: int) -> bytes:
    """The tuples of a binary COPY (without its signature and trailer), built by numpy.

    Every row is laid out at its widest in one packed structured array: the field count, then
    per column its length word and its value's slot (a text's slot as long as the longest
    text). When no column has per-row NULLs or texts that is the wire format already; otherwise
    the bytes a row does not send (a NULL's value, a shorter text's padding) are dropped with
    one boolean mask over the whole array, which keeps the rows and fields in order.
    """
    fields: list[tuple[Any, ...]] = [("count", ">i2")]
    texts: list[list[bytes]] = []
    for i, column in enumerate(columns):
        encoded = [text.encode("utf-8") for text in column.texts]
        texts.append(encoded)
        fields.append((f"length{i}", ">i4"))
        if column.values is None:
            continue
        if column.pg_type == "text":
            fields.append((f"value{i}", "u1", (max((len(t) for t in encoded), default=0),)))
        else:
            fields.append((f"value{i}", _WIRE[column.pg_type]))
    dtype = np.dtype(fields)
    rows = np.empty(count, dtype=dtype)
    rows["count"] = len(columns)
    keep: np.ndarray | None = None  # per byte: sent; None while every byte is
    for i, (column, encoded) in enumerate(zip(columns, texts, strict=True)):
        if column.values is None:
            rows[f"length{i}"] = -1
            continue
        offset = dtype.fields[f"value{i}"][1]  # type: ignore[index]
        used: np.ndarray | None = None  # per row and byte of the slot: sent
        if column.pg_type == "text":
            width = dtype.fields[f"value{i}"][0].itemsize  # type: ignore[index]
            index = np.broadcast_to(np.asarray(column.values, dtype=np.int64), (count,))
            if count and (index.min() < 0 or index.max() >= len(encoded)):
                raise ValueError("a text index outside the texts given")
            table = np.zeros((len(encoded), width), dtype=np.uint8)
            for k, text in enumerate(encoded):
                table[k, : len(text)] = np.frombuffer(text, dtype=np.uint8)
            length = np.asarray([len(t) for t in encoded], dtype=np.int64)[index]
            rows[f"value{i}"] = table[index]
            used = np.arange(width) < length[:, None]
        else:
            width = np.dtype(_WIRE[column.pg_type]).itemsize
            rows[f"value{i}"] = column.values
            length = np.full(count, width, dtype=np.int64)
        if column.null is not None:
            length = np.where(column.null, -1, length)
            not_null = ~column.null[:, None]
            used = not_null if used is None else used & not_null
        rows[f"length{i}"] = length
        if used is not None:
            if keep is None:
                keep = np.ones((count, dtype.itemsize), dtype=bool)
            keep[:, offset : offset + width] = used
    if keep is None:
        return rows.tobytes()
    return rows.view(np.uint8).reshape(count, dtype.itemsize)[keep].tobytes()


def _sliced(column: Column, start: int, stop: int) -> Column:
    values = column.values
    return Column(
        column.pg_type,
        values[start:stop] if isinstance(values, np.ndarray) else values,
        None if column.null is None else column.null[start:stop],
        column.texts,
    )


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
            copy.write(binary_copy_rows([_sliced(c, start, stop) for c in columns], stop - start))
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
    # (visit, code) order, as the unique index on them is kept: its pages fill left to right
    order = np.lexsort((rows.code_ids, rows.visit_ids))
    values, booleans, lods = rows.values[order], rows.booleans[order], rows.lods[order]
    _copy_binary(
        Observation._meta.db_table,
        ["visit_id", "code_id", "value", "value_boolean", "entered_unit", "below_lod", "lod"],
        [
            Column("int8", rows.visit_ids[order]),
            Column("int8", rows.code_ids[order]),
            Column("float8", values, null=np.isnan(values)),  # NaN: no number
            Column("bool", booleans == 1, null=booleans < 0),  # -1: no yes/no
            Column("text", rows.unit_index[order], texts=rows.units),
            Column("bool", rows.below_lod[order]),
            Column("float8", lods, null=np.isnan(lods)),
        ],
        count,
    )


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
