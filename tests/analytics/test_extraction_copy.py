"""analytics/extraction.py: reading PostgreSQL's binary COPY of array rows, and joining and
sorting the raw observations (pure: no database; PostgreSQL itself in
tests/integration/test_backend_parity.py)."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from analytics.extraction import (
    OBSERVATION_COLUMNS,
    CopyFormatError,
    _array_rows,
    _observation_order,
    _observations_frame,
)

# PostgreSQL's binary array (array_send): ndim, has-nulls flag, element type oid, then per
# dimension its size and lower bound, then per element its length (-1: NULL) and its bytes.
OID = {"q": 20, "d": 701, "h": 21, "?": 16}


def array(kind: str, values: list[object], *, null_at: int | None = None) -> bytes:
    elements = b"".join(
        struct.pack(">i", -1)
        if k == null_at
        else struct.pack(f">i{kind}", struct.calcsize(kind), v)
        for k, v in enumerate(values)
    )
    has_nulls = int(null_at is not None)
    return struct.pack(">iiiii", 1, has_nulls, OID[kind], len(values), 1) + elements


def field(payload: bytes | None) -> bytes:
    return struct.pack(">i", -1) if payload is None else struct.pack(">i", len(payload)) + payload


def row(*fields: bytes | None) -> bytes:
    return struct.pack(">h", len(fields)) + b"".join(field(f) for f in fields)


END = struct.pack(">h", -1)
FIELDS = {"id": ">i8", "value": ">f8"}


def parse(data: bytes, fields: dict[str, str] = FIELDS) -> tuple[dict[str, list], int, bool]:
    columns: dict[str, list[np.ndarray]] = {name: [] for name in fields}
    at, ended = _array_rows(data, 0, fields, columns)
    joined = {
        name: np.concatenate(parts).tolist() if parts else [] for name, parts in columns.items()
    }
    return joined, at, ended


def test_rows_of_arrays_are_joined_into_one_column_per_field() -> None:
    data = (
        row(array("q", [3, 1]), array("d", [0.5, float("nan")]))
        + row(array("q", [7]), array("d", [-2.25]))
        + END
    )
    columns, at, ended = parse(data)
    assert columns["id"] == [3, 1, 7]
    assert columns["value"][0] == 0.5 and np.isnan(columns["value"][1])
    assert columns["value"][2] == -2.25
    assert (at, ended) == (len(data), True)


def test_smallint_and_boolean_elements_keep_their_values() -> None:
    data = row(array("h", [1, 0, -1]), array("?", [True, False, True])) + END
    columns, _, ended = parse(data, {"flag": ">i2", "below": "?"})
    assert columns == {"flag": [1, 0, -1], "below": [True, False, True]}
    assert ended


def test_a_row_cut_by_the_end_of_a_block_is_left_for_the_next_block() -> None:
    first = row(array("q", [1, 2]), array("d", [1.0, 2.0]))
    second = row(array("q", [3]), array("d", [3.0]))
    data = first + second + END
    for cut in (len(first) + 1, len(first) + 9, len(first) + len(second) - 1):
        columns, at, ended = parse(data[:cut])
        assert (columns["id"], at, ended) == ([1, 2], len(first), False)
        rest, at_rest, ended_rest = parse(data[at:])
        assert rest["id"] == [3] and ended_rest and at_rest == len(data) - at


def test_a_null_aggregate_of_no_rows_is_an_empty_column() -> None:
    empty = struct.pack(">iii", 0, 0, OID["q"])  # array_send of '{}': no dimensions
    columns, _, ended = parse(row(None, None) + row(empty, struct.pack(">iii", 0, 0, 701)) + END)
    assert columns == {"id": [], "value": []} and ended


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (row(array("q", [1, 2], null_at=1), array("d", [1.0, 2.0])), "NULL"),
        (row(array("q", [1, 2]), array("d", [1.0])), "differ in length"),
        (row(array("q", [1])), "1 fields, not 2"),
        (row(array("h", [1]), array("d", [1.0])), "not >i8"),
        (row(array("d", [1.0]), array("d", [1.0])), "type 701, not >i8"),
        (row(struct.pack(">q", 5), array("d", [1.0])), "not an array"),
    ],
    ids=[
        "a NULL element",
        "arrays of two lengths",
        "a missing field",
        "a narrower element",
        "elements of another type of the same width",
        "a number, not an array",
    ],
)
def test_a_stream_of_another_layout_is_refused_with_what_is_wrong(
    data: bytes, message: str
) -> None:
    with pytest.raises(CopyFormatError, match=message):
        parse(data + END)


def raw_observations(rng: np.random.Generator, n: int, farthest: int) -> tuple[dict, dict, dict]:
    """Raw rows as PostgreSQL sends them: visits out of id order, residents 1…39 and
    ``farthest`` (a resident id that far apart leaves no room for a one-key sort), residents
    with two visits on one day, codes whose ids are not in their texts' order."""
    visits = {
        "visit_id": rng.permutation(np.arange(10, 10 + n // 3, dtype=np.int64)),
        "resident_id": rng.choice(np.r_[np.arange(1, 40), farthest], n // 3).astype(np.int64),
        "visited_on": rng.integers(8000, 8030, n // 3).astype(np.int32),  # days from 2000-01-01
    }
    code_text = {5: "symptom.cough", 6: "dx.J06", 9: "lab.blood_lead", 2: "vital.bmi"}
    visit = rng.choice(visits["visit_id"], n)
    code = rng.choice(np.array(list(code_text), dtype=np.int64), n)
    kept = ~pd.DataFrame({"v": visit, "c": code}).duplicated().to_numpy()  # one per visit, code
    flag = rng.integers(-1, 2, n).astype(np.int16)
    raw = {
        "visit_id": visit[kept],
        "code_id": code[kept],
        "value": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n))[kept],
        "value_boolean": flag[kept],
        "below_lod": (rng.random(n) < 0.1)[kept],
        "lod": np.where(rng.random(n) < 0.5, np.nan, rng.random(n))[kept],
    }
    return raw, visits, code_text


def frame_by_pandas(raw: dict, visits: dict, code_text: dict) -> pd.DataFrame:
    """The definition: join with pandas, sort as the ORM query orders them."""
    v = pd.DataFrame(visits)
    v["visited_on"] = pd.Timestamp("2000-01-01") + pd.to_timedelta(v["visited_on"], unit="D")
    joined = pd.DataFrame(raw).merge(v, on="visit_id", how="left", validate="many_to_one")
    joined["code"] = joined["code_id"].map(code_text)
    joined = joined.sort_values(["resident_id", "visited_on", "code", "visit_id"])
    return joined.reset_index(drop=True)


@pytest.mark.parametrize("farthest", [40, 2**61], ids=["one sort key", "four sort keys"])
def test_raw_observations_are_joined_and_sorted_as_the_ordered_query_would(
    farthest: int,
) -> None:
    raw, visits, code_text = raw_observations(np.random.default_rng(3), 3000, farthest)
    expected = frame_by_pandas(raw, visits, code_text)
    frame = _observations_frame(dict(raw), visits, code_text)
    assert list(frame.columns) == list(OBSERVATION_COLUMNS)
    assert len(frame) == len(expected) > 1000
    for column in ("resident_id", "visit_id", "below_lod"):
        assert frame[column].tolist() == expected[column].tolist()
    assert (frame["visited_on"] == expected["visited_on"]).all()
    assert frame["code"].astype(str).tolist() == expected["code"].tolist()
    assert list(frame["code"].cat.categories) == sorted(code_text.values())
    assert np.array_equal(frame["value"], expected["value"], equal_nan=True)
    assert np.array_equal(frame["lod"], expected["lod"], equal_nan=True)
    flags = expected["value_boolean"]
    assert frame["value_boolean"].isna().tolist() == (flags == -1).tolist()
    assert frame["value_boolean"].fillna(False).tolist() == (flags == 1).tolist()


def test_the_one_key_sort_and_the_four_key_sort_agree() -> None:
    rng = np.random.default_rng(11)
    resident, day = rng.integers(0, 50, 5000), rng.integers(0, 30, 5000)
    code, visit = rng.integers(0, 6, 5000), rng.permutation(5000)
    assert (
        _observation_order(resident, day, code, visit).tolist()
        == np.lexsort((visit, code, day, resident)).tolist()
    )


def test_an_observation_of_a_visit_not_read_is_refused() -> None:
    raw, visits, code_text = raw_observations(np.random.default_rng(5), 300, 40)
    raw["visit_id"][0] = 999_999
    with pytest.raises(ValueError, match="visits that were not read"):
        _observations_frame(raw, visits, code_text)


def test_a_visit_without_observations_is_not_read_into_the_frame_whatever_its_date() -> None:
    raw, visits, code_text = raw_observations(np.random.default_rng(9), 300, 40)
    expected = frame_by_pandas(raw, visits, code_text)
    far = {  # year 10000 and later: no datetime64[us] holds it; no observation refers to it
        "visit_id": np.r_[visits["visit_id"], 999_999],
        "resident_id": np.r_[visits["resident_id"], 1],
        "visited_on": np.r_[visits["visited_on"], 3_000_000].astype(np.int32),
    }
    frame = _observations_frame(dict(raw), far, code_text)
    assert frame["visit_id"].tolist() == expected["visit_id"].tolist()
    assert (frame["visited_on"] == expected["visited_on"]).all()
