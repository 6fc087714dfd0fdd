"""The bulk writes of an observations import (surveys.importing.bulk).

binary_copy_rows builds PostgreSQL binary COPY tuples with numpy; they are decoded here with
struct as the COPY protocol defines them (per row: the field count as int16, then per column
an int32 length and the big-endian value, or length -1 and no bytes for NULL). The portable
(SQLite) writes are checked against the database.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any

import numpy as np
import pytest

from surveys.importing import bulk
from surveys.importing.bulk import Column, ObservationRows, binary_copy_rows
from surveys.models import Area, ImportRecord, Observation, Resident, Visit, VocabularyCode
from surveys.pseudonyms import pseudonymize

# The wire format of each type, from the PostgreSQL documentation (not from bulk._WIRE).
WIRE = {
    "int8": ">q",
    "int4": ">i",
    "int2": ">h",
    "float8": ">d",
    "bool": ">B",  # one byte, 0 or 1
    "date": ">i",  # days since 2000-01-01
    "timestamptz": ">q",  # microseconds since 2000-01-01 00:00 UTC
}
PG_EPOCH = dt.date(2000, 1, 1)


def decode(data: bytes, pg_types: list[str], count: int) -> list[list[Any]]:
    """The rows of binary COPY tuples; NULL is None."""
    rows: list[list[Any]] = []
    position = 0
    for _ in range(count):
        (fields,) = struct.unpack_from(">h", data, position)
        position += 2
        assert fields == len(pg_types)
        row: list[Any] = []
        for pg_type in pg_types:
            (length,) = struct.unpack_from(">i", data, position)
            position += 4
            if length == -1:
                row.append(None)
                continue
            if pg_type == "text":  # the UTF-8 bytes, as long as the length says
                row.append(data[position : position + length].decode("utf-8"))
                position += length
                continue
            assert length == struct.calcsize(WIRE[pg_type]), pg_type
            (value,) = struct.unpack_from(WIRE[pg_type], data, position)
            position += length
            row.append(value)
        rows.append(row)
    assert position == len(data), "no bytes before or after the tuples"
    return rows


def test_every_column_type_is_written_big_endian_with_its_length() -> None:
    int8 = np.array([0, -1, 2**40 + 3, 2**63 - 1], dtype=np.int64)
    int4 = np.array([7, -(2**31), 2**31 - 1, 123456], dtype=np.int64)
    int2 = np.array([-1, 0, 32767, -32768], dtype=np.int16)
    float8 = np.array([0.1, -0.0, 1e300, 6.02214076e23], dtype=np.float64)
    booleans = np.array([True, False, False, True])
    days = np.array([0, -1, 8825, 36524], dtype=np.int64)
    micros = np.array([0, -1, 10**15, 2**62], dtype=np.int64)
    pg_types = ["int8", "int4", "int2", "float8", "bool", "date", "timestamptz"]
    arrays: list[np.ndarray] = [int8, int4, int2, float8, booleans, days, micros]
    columns = [Column(t, v) for t, v in zip(pg_types, arrays, strict=True)]
    data = binary_copy_rows(columns, 4)
    assert len(data) == 4 * (2 + 7 * 4 + 8 + 4 + 2 + 8 + 1 + 4 + 8)
    rows = decode(data, pg_types, 4)
    assert [row[0] for row in rows] == int8.tolist()
    assert [row[1] for row in rows] == int4.tolist()
    assert [row[2] for row in rows] == int2.tolist()
    assert [row[3] for row in rows] == float8.tolist()
    assert math.copysign(1.0, rows[1][3]) == -1.0, "the sign of -0.0 is kept"
    assert [row[4] for row in rows] == [1, 0, 0, 1], "booleans are one byte, 0 or 1"
    assert [row[5] for row in rows] == days.tolist()
    assert [row[6] for row in rows] == micros.tolist()


def test_the_first_row_starts_with_the_field_count_and_a_big_endian_length() -> None:
    data = binary_copy_rows([Column("int4", np.array([1], dtype=np.int64))], 1)
    assert data == b"\x00\x01" + b"\x00\x00\x00\x04" + b"\x00\x00\x00\x01"


def test_nan_and_infinities_travel_as_their_ieee_bits() -> None:
    values = np.array([math.nan, math.inf, -math.inf], dtype=np.float64)
    rows = decode(binary_copy_rows([Column("float8", values)], 3), ["float8"], 3)
    assert math.isnan(rows[0][0]) and rows[1][0] == math.inf and rows[2][0] == -math.inf


def test_a_null_column_has_length_minus_one_and_no_bytes_in_every_row() -> None:
    columns = [
        Column("int8", np.array([10, 20, 30], dtype=np.int64)),
        Column("int4", None),
        Column("float8", None),
        Column("int2", np.array([1, 2, 3], dtype=np.int16)),
    ]
    data = binary_copy_rows(columns, 3)
    assert len(data) == 3 * (2 + 4 + 8 + 4 + 4 + 4 + 2)
    assert decode(data, ["int8", "int4", "float8", "int2"], 3) == [
        [10, None, None, 1],
        [20, None, None, 2],
        [30, None, None, 3],
    ]
    assert data[2 + 4 + 8 : 2 + 4 + 8 + 4] == b"\xff\xff\xff\xff"


def test_a_scalar_column_repeats_its_value_in_every_row() -> None:
    columns = [
        Column("int8", np.array([1, 2], dtype=np.int64)),
        Column("int4", 42),
        Column("timestamptz", 765_432_100_000_000),
        Column("bool", True),
        Column("float8", 2.5),
    ]
    rows = decode(
        binary_copy_rows(columns, 2), ["int8", "int4", "timestamptz", "bool", "float8"], 2
    )
    assert rows == [[1, 42, 765_432_100_000_000, 1, 2.5], [2, 42, 765_432_100_000_000, 1, 2.5]]


def test_no_rows_make_no_bytes() -> None:
    assert binary_copy_rows([Column("int8", np.zeros(0, dtype=np.int64))], 0) == b""
    text = Column("text", np.zeros(0, dtype=np.int16), texts=["mg/L"])
    assert binary_copy_rows([text], 0) == b""


def test_rows_with_their_own_nulls_and_texts_are_each_as_long_as_their_fields() -> None:
    values = np.array([1.5, math.nan, -2.0, math.nan, 0.0])
    booleans = np.array([-1, 1, -1, 0, -1], dtype=np.int8)
    units = ["µg/L", "", "%", "µg/dL"]  # "µ" is two bytes in UTF-8
    unit = np.array([0, 1, 2, 3, 0], dtype=np.int16)
    columns = [
        Column("int8", np.array([11, 12, 13, 14, 15], dtype=np.int64)),
        Column("float8", values, null=np.isnan(values)),
        Column("bool", booleans == 1, null=booleans < 0),
        Column("text", unit, texts=units),
        Column("int4", 7),
        Column("float8", None),
    ]
    pg_types = ["int8", "float8", "bool", "text", "int4", "float8"]
    data = binary_copy_rows(columns, 5)
    assert decode(data, pg_types, 5) == [
        [11, 1.5, None, "µg/L", 7, None],
        [12, None, 1, "", 7, None],
        [13, -2.0, None, "%", 7, None],
        [14, None, 0, "µg/dL", 7, None],
        [15, 0.0, None, "µg/L", 7, None],
    ]
    # the first row: count, id, 1.5, NULL, "µg/L" (5 bytes), 7, NULL; the second starts after
    first = 2 + (4 + 8) + (4 + 8) + 4 + (4 + 5) + (4 + 4) + 4
    assert data[first : first + 2 + 4 + 8 + 4] == (
        b"\x00\x06" + struct.pack(">i", 8) + struct.pack(">q", 12) + b"\xff\xff\xff\xff"
    )
    with pytest.raises(ValueError, match="text index"):
        binary_copy_rows([Column("text", np.array([0, 4], dtype=np.int16), texts=units)], 2)


def test_the_copy_signature_and_trailer_are_the_protocols() -> None:
    assert bulk._SIGNATURE == b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    assert bulk._TRAILER == b"\xff\xff"


class _PostgresqlLookalike:
    """The connection as bulk sees it, saying it is PostgreSQL (the writes are captured)."""

    vendor = "postgresql"


def test_visits_for_copy_carry_their_day_as_days_since_2000_and_the_time_in_microseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    captured: list[tuple[str, list[str], list[Column], int]] = []
    monkeypatch.setattr(bulk, "connection", _PostgresqlLookalike())
    monkeypatch.setattr(bulk.timezone, "now", lambda: now)
    monkeypatch.setattr(
        bulk,
        "_ids_from_sequence",
        lambda table, column, count: np.arange(500, 500 + count, dtype=np.int64),
    )
    monkeypatch.setattr(
        bulk,
        "_copy_binary",
        lambda table, names, columns, count: captured.append((table, names, columns, count)),
    )
    days = [dt.date(2000, 1, 1), dt.date(1999, 12, 31), dt.date(2024, 2, 29), dt.date(1970, 1, 1)]
    ids = bulk.insert_visits(
        resident_ids=np.array([11, 12, 13, 14], dtype=np.int64),
        days=np.array([d.toordinal() for d in days], dtype=np.int64),
        health_worker_id=None,
        record=ImportRecord(pk=9),
    )
    assert ids.tolist() == [500, 501, 502, 503]
    ((table, names, columns, count),) = captured
    assert (table, count) == (Visit._meta.db_table, 4)
    assert names == [
        "id",
        "resident_id",
        "visited_on",
        "health_worker_id",
        "created_at",
        "import_record_id",
    ]
    pg_types = [c.pg_type for c in columns]
    assert pg_types == ["int8", "int8", "date", "int4", "timestamptz", "int8"]
    rows = decode(binary_copy_rows(columns, count), pg_types, count)
    since_2000 = now - dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    micros = since_2000.days * 86_400_000_000 + since_2000.seconds * 1_000_000 + 891011
    assert rows == [
        [500, 11, 0, None, micros, 9],
        [501, 12, -1, None, micros, 9],
        [502, 13, (dt.date(2024, 2, 29) - PG_EPOCH).days, None, micros, 9],
        [503, 14, -10957, None, micros, 9],
    ]


# --- the portable writes (SQLite) --------------------------------------------------------


@pytest.fixture
def residents(db: None) -> list[Resident]:
    area = Area.objects.create(code="A", name="Area A", latitude=25.0, longitude=110.0)
    return [
        Resident.objects.create(
            pseudonym=pseudonymize(f"BULK-{i}").value,
            key_version=1,
            area=area,
            birth_year=1970 + i,
            sex="F",
            enrolled_on=dt.date(2020, 1, 1),
        )
        for i in range(3)
    ]


def test_portable_visits_get_ids_in_the_order_they_were_given(residents: list[Resident]) -> None:
    record = ImportRecord.objects.create(kind="observations", file_name="x.csv", sha256="0" * 64)
    wanted = [
        (residents[2].pk, dt.date(2024, 5, 1)),
        (residents[0].pk, dt.date(2023, 1, 2)),
        (residents[1].pk, dt.date(2024, 5, 1)),
    ]
    ids = bulk.insert_visits(
        resident_ids=np.array([r for r, _ in wanted], dtype=np.int64),
        days=np.array([d.toordinal() for _, d in wanted], dtype=np.int64),
        health_worker_id=None,
        record=record,
    )
    assert len(set(ids.tolist())) == 3
    stored = {
        pk: (resident, day, rec)
        for pk, resident, day, rec in Visit.objects.values_list(
            "pk", "resident_id", "visited_on", "import_record_id"
        )
    }
    assert [stored[i] for i in ids.tolist()] == [(r, d, record.pk) for r, d in wanted]


def test_portable_observations_store_none_for_nan_and_minus_one_and_the_units_by_index(
    residents: list[Resident],
) -> None:
    visit = Visit.objects.create(resident=residents[0], visited_on=dt.date(2024, 5, 1))
    codes = {
        c.code: c.pk
        for c in VocabularyCode.objects.filter(
            code__in=["lab.blood_lead", "lab.urine_cadmium", "symptom.cough", "dx.J45", "dx.J06"]
        )
    }
    rows = ObservationRows(
        visit_ids=np.array([visit.pk] * 4, dtype=np.int64),
        code_ids=np.array(
            [
                codes["lab.blood_lead"],
                codes["lab.urine_cadmium"],
                codes["symptom.cough"],
                codes["dx.J45"],
            ],
            dtype=np.int64,
        ),
        values=np.array([0.1 + 0.2, math.nan, math.nan, math.nan]),
        booleans=np.array([-1, -1, 1, 0], dtype=np.int8),
        unit_index=np.array([1, 2, 0, 0], dtype=np.int16),
        units=["", "µmol/L", "ug/L"],
        below_lod=np.array([False, True, False, False]),
        lods=np.array([math.nan, 0.25, math.nan, math.nan]),
    )
    bulk.insert_observations(rows)
    stored = {
        code: (value, boolean, unit, below, lod)
        for code, value, boolean, unit, below, lod in Observation.objects.values_list(
            "code__code", "value", "value_boolean", "entered_unit", "below_lod", "lod"
        )
    }
    assert stored == {
        "lab.blood_lead": (0.1 + 0.2, None, "µmol/L", False, None),
        "lab.urine_cadmium": (None, None, "ug/L", True, 0.25),
        "symptom.cough": (None, True, "", False, None),
        "dx.J45": (None, False, "", False, None),
    }
    found = bulk.observation_ids({(visit.pk, codes["dx.J45"]), (visit.pk, codes["dx.J06"])})
    assert found == {(visit.pk, codes["dx.J45"]): Observation.objects.get(code__code="dx.J45").pk}


def test_no_visits_and_no_observations_write_nothing(residents: list[Resident]) -> None:
    record = ImportRecord.objects.create(kind="observations", file_name="x.csv", sha256="0" * 64)
    empty = np.zeros(0, dtype=np.int64)
    ids = bulk.insert_visits(resident_ids=empty, days=empty, health_worker_id=None, record=record)
    assert ids.tolist() == []
    bulk.insert_observations(
        ObservationRows(
            visit_ids=empty,
            code_ids=empty,
            values=np.zeros(0),
            booleans=np.zeros(0, dtype=np.int8),
            unit_index=np.zeros(0, dtype=np.int16),
            units=[],
            below_lod=np.zeros(0, dtype=bool),
            lods=np.zeros(0),
        )
    )
    assert not Visit.objects.exists() and not Observation.objects.exists()
