"""Extraction: set-based reads of each dataset into a compact pandas DataFrame.

No per-row ORM: each small dataset is one SELECT (COPY on PostgreSQL, fetchmany on SQLite)
into column arrays; on PostgreSQL the observations come as arrays of raw table rows and are
joined to their visits and codes and sorted in numpy (_observations_by_copy).
Values are normalized (dates → datetime64, booleans → bool, decimals → float, text →
category) so that SQLite and PostgreSQL give identical frames, and so identical fingerprints.
Invalid measurements are excluded here, once, for every analysis.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import struct
import tempfile
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd
import psycopg
from django.db import connection, connections, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_noop
from pandas.api.types import union_categoricals
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.generators import fetch_many
from psycopg.waiting import Wait

from surveys.models import (
    Area,
    AreaPopulation,
    Measurement,
    MeasurementStatus,
    Observation,
    ProductionSite,
    Resident,
    Station,
    VocabularyCode,
)

FETCH_ROWS = 50_000
_T = TypeVar("_T")

# Outcomes made of several codes (an event: a positive observation of any of them), counted
# with the resident-year index. analytics.suite's definitions (docs/methods.md).
ACUTE_RESPIRATORY = "acute_respiratory"
#: The derived outcome's one name, wherever a person reads it (it has no vocabulary row: its
#: codes' labels are the vocabulary's); translated through the catalogues.
ACUTE_RESPIRATORY_LABEL = gettext_noop("Acute respiratory infection (new J06 or J20 diagnosis)")
ACUTE_CODES = ("dx.J06", "dx.J20")
DERIVED_OUTCOMES: dict[str, tuple[str, ...]] = {ACUTE_RESPIRATORY: ACUTE_CODES}


def _frame(queryset: QuerySet[Any, Any], columns: dict[str, str]) -> pd.DataFrame:
    """Run the queryset's SQL once; `columns` maps output name → kind (int, float, str, …).

    Rows are converted chunk by chunk, so only FETCH_ROWS Python tuples exist at a time.
    """
    if connection.vendor == "postgresql":
        return _frame_by_copy(queryset, columns)
    sql, params = queryset.query.sql_with_params()
    names = list(columns)
    parts: dict[str, list[Any]] = {name: [] for name in names}
    # A server-side cursor on PostgreSQL: rows arrive FETCH_ROWS at a time instead of the driver
    # holding the whole result (millions of observations) before the first fetch.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(FETCH_ROWS)
            if not rows:
                break
            for index, name in enumerate(names):
                parts[name].append(_convert([row[index] for row in rows], columns[name]))
    data = {name: _join(parts[name], columns[name]) for name in names}
    return pd.DataFrame(data, columns=names)


# How pandas reads each kind of column from PostgreSQL's CSV; text-like kinds are read as
# categories (a few distinct values per column, so no Python string per row) and converted below.
_CSV_DTYPES = {"int": "int64", "int32": "int32", "float": "float64"}


def _frame_by_copy(queryset: QuerySet[Any, Any], columns: dict[str, str]) -> pd.DataFrame:
    """PostgreSQL: the same frame as _frame, through COPY … TO STDOUT and pandas' CSV parser.

    Converting rows from Python tuples is slow; the server writes CSV and pandas parses it in
    C. The CSV goes through a temporary file, so memory holds the parsed columns, not the text.
    """
    names = list(columns)
    with _copy_to_file(queryset) as buffer:
        raw = pd.read_csv(
            buffer,
            header=None,
            names=names,
            dtype={n: _CSV_DTYPES.get(kind, "category") for n, kind in columns.items()},
            keep_default_na=False,
            na_values={n: ["\\N"] for n in names},  # NULL; an empty text stays ""
        )
    return pd.DataFrame(
        {name: _from_csv(raw[name], kind) for name, kind in columns.items()}, columns=names
    )


def _copy_to_file(queryset: QuerySet[Any, Any]) -> IO[bytes]:
    """The queryset's rows as CSV in a temporary file, at its start (the caller closes it)."""
    sql, params = queryset.query.sql_with_params()
    buffer = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, the caller closes it
    try:
        with connection.cursor() as cursor:
            statement = cursor.mogrify(sql, params)  # type: ignore[attr-defined]
            with cursor.copy(  # type: ignore[attr-defined]
                f"COPY ({statement}) TO STDOUT (FORMAT csv, NULL '\\N')"
            ) as copy:
                for block in _copy_blocks(copy):
                    buffer.write(block)
    except BaseException:
        buffer.close()
        raise
    buffer.seek(0)
    return buffer


_PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PGCOPY_END = -1  # the field count that ends a binary COPY


# The PostgreSQL types (pg_type oids) each element kind of _column_arrays reads.
_ARRAY_ELEMENT_TYPES = {
    ">i8": {20},  # bigint
    ">i4": {23, 1082},  # integer, date
    ">i2": {21},  # smallint
    ">f8": {701},  # double precision
    "?": {16},  # boolean
}


class CopyFormatError(ValueError):
    """A binary COPY stream is not the layout its reader expects."""


def _column_arrays(sql: str, fields: dict[str, str]) -> dict[str, np.ndarray]:
    """The columns of a binary COPY whose rows each hold one array per field, every row's
    arrays of one length (``array_agg`` over the same rows): the rows' arrays joined, one numpy
    array (native byte order) per field.

    ``fields`` maps each field's name to the numpy type of its elements' binary form (">i8"
    bigint, ">i4" integer or date, ">i2" smallint, ">f8" double precision, "?" boolean). The
    elements must not be NULL (coalesce them): each is then a 4-byte length and a value of
    one width, and an array is one numpy view. A NULL field (``array_agg`` of no rows) is an
    empty array.

    Raises:
        CopyFormatError: the stream is not that layout.
    """
    columns: dict[str, list[np.ndarray]] = {name: [] for name in fields}
    rest = b""
    header = True
    ended = False
    with connection.cursor() as cursor:
        copy_sql = f"COPY ({sql}) TO STDOUT (FORMAT binary)"
        with cursor.copy(copy_sql) as copy:  # type: ignore[attr-defined]
            for block in _copy_blocks(copy):
                data = rest + bytes(block) if rest else bytes(block)
                at = 0
                if header:
                    if len(data) < 19 or len(data) < 19 + int.from_bytes(data[15:19], "big"):
                        rest = data  # the header goes on in the next block
                        continue
                    if data[:11] != _PGCOPY_SIGNATURE or int.from_bytes(data[11:15], "big"):
                        raise CopyFormatError("not a binary COPY stream without OIDs")
                    at = 19 + int.from_bytes(data[15:19], "big")
                    header = False
                at, ended = _array_rows(data, at, fields, columns)
                rest = data[at:]
    if not ended or rest:
        raise CopyFormatError("the binary COPY stream ended inside a row")
    return {
        name: (
            np.concatenate(parts)
            if parts
            else np.empty(0, np.dtype(fields[name]).newbyteorder("="))
        )
        for name, parts in columns.items()
    }


def _array_rows(
    data: bytes, at: int, fields: dict[str, str], columns: dict[str, list[np.ndarray]]
) -> tuple[int, bool]:
    """Parse the whole rows in ``data`` from ``at`` into ``columns``; (where the first row
    not whole begins, whether the end of the COPY was read)."""
    while at + 2 <= len(data):
        count = int.from_bytes(data[at : at + 2], "big", signed=True)
        if count == _PGCOPY_END:
            return at + 2, True
        if count != len(fields):
            raise CopyFormatError(f"a row of {count} fields, not {len(fields)}")
        row: dict[str, np.ndarray] = {}
        position = at + 2
        for name, kind in fields.items():
            parsed = _array_field(data, position, kind)
            if parsed is None:
                return at, False  # the row goes on in the next block
            row[name], position = parsed
        if len({len(values) for values in row.values()}) > 1:
            raise CopyFormatError("the arrays of a row differ in length")
        for name, values in row.items():
            columns[name].append(values)
        at = position
    return at, False


def _array_field(data: bytes, at: int, kind: str) -> tuple[np.ndarray, int] | None:
    """One field holding a one-dimensional array without NULLs: (its values, the offset after
    it), or None if ``data`` ends before it does."""
    if at + 4 > len(data):
        return None
    length = int.from_bytes(data[at : at + 4], "big", signed=True)
    native = np.dtype(kind).newbyteorder("=")
    if length == -1:  # NULL: array_agg of no rows
        return np.empty(0, native), at + 4
    if length < 12:
        raise CopyFormatError(f"a field of {length} bytes is not an array")
    end = at + 4 + length
    if end > len(data):
        return None
    dimensions, has_nulls, element_type = struct.unpack_from(">iii", data, at + 4)
    if element_type not in _ARRAY_ELEMENT_TYPES[kind]:
        raise CopyFormatError(f"array elements of type {element_type}, not {kind}")
    if dimensions == 0:
        return np.empty(0, native), end
    if dimensions != 1 or has_nulls or length < 20:
        raise CopyFormatError("an array field that is not one-dimensional without NULLs")
    size = struct.unpack_from(">i", data, at + 16)[0]
    element = np.dtype([("length", ">i4"), ("value", kind)])
    if length != 20 + size * element.itemsize:
        raise CopyFormatError(f"array elements of another width than {kind}")
    elements = np.frombuffer(data, dtype=element, count=size, offset=at + 24)
    if (elements["length"] != np.dtype(kind).itemsize).any():
        raise CopyFormatError(f"array elements of another width than {kind}")
    return elements["value"].astype(native), end


COPY_BLOCK_ROWS = 100_000


def _copy_blocks(copy: Any) -> Iterator[Buffer]:
    """The rows of a COPY … TO STDOUT, many at a time.

    psycopg's Copy yields one row per call, and each call waits on the socket through a
    generator (at 100,000 residents, 4.7 million waits: seconds of the extraction). Here every
    row already received is taken in one loop of libpq calls and joined into one block; the
    end of the COPY is then read as psycopg's own Copy.read() does. Falls back to psycopg's
    iteration when its internals differ from the ones this was written against.
    """
    if not all(hasattr(copy, name) for name in ("_pgconn", "_finished", "connection", "cursor")):
        yield from copy
        return
    pgconn = copy._pgconn

    def drain() -> Generator[Any, Any, tuple[list[Buffer], bool]]:
        rows: list[Buffer] = []
        while len(rows) < COPY_BLOCK_ROWS:
            nbytes, data = pgconn.get_copy_data(1)
            if nbytes > 0:
                rows.append(data)
            elif nbytes < 0:
                return rows, True
            elif rows:
                break
            else:  # nothing received yet: wait for the socket, as psycopg's copy_from does
                while not (yield Wait.R):
                    continue
                pgconn.consume_input()
        return rows, False

    while not copy._finished:
        rows, ended = copy.connection.wait(drain())
        if rows:
            yield b"".join(rows)
        if ended:
            results = copy.connection.wait(fetch_many(pgconn))
            if len(results) != 1:
                raise psycopg.ProgrammingError("you cannot mix COPY with other operations")
            if results[0].status != pq.ExecStatus.COMMAND_OK:
                raise psycopg.errors.error_from_result(results[0], encoding=pgconn._encoding)
            copy._finished = True
            rowcount = results[0].command_tuples
            copy.cursor._rowcount = rowcount if rowcount is not None else -1


def _from_csv(column: pd.Series, kind: str) -> Any:
    """One column read by _frame_by_copy, as _convert + _join would have built it."""
    if kind in _CSV_DTYPES:
        return column.to_numpy(dtype=_CSV_DTYPES[kind])
    categorical = column.array
    if len(column) == 0:
        return _convert([], kind)
    # the distinct texts, converted once, then spread over the rows by category code
    texts = [str(text) for text in categorical.categories]
    codes = categorical.codes
    if (codes == -1).any() and kind != "optional_bool":
        # NULL: the row-by-row path converts it with str() too ("None"; a date then fails)
        texts.append("None")
        codes = np.where(codes == -1, len(texts) - 1, codes)
    if kind == "bool":
        return np.asarray([text == "t" for text in texts], dtype=bool)[codes]
    if kind == "optional_bool":
        values = np.asarray([text == "t" for text in texts] + [False], dtype=bool)[codes]
        return pd.arrays.BooleanArray(values, codes == -1)
    if kind == "date":
        return pd.Series(_convert(texts, "date").to_numpy()[codes])
    if kind == "category":
        return union_categoricals(
            [pd.Categorical.from_codes(codes, categories=texts)], sort_categories=True
        )
    if kind == "str":
        return pd.array(np.asarray(texts, dtype=object)[codes], dtype="string")
    raise ValueError(f"unknown column kind {kind!r}")


def _join(chunks: list[Any], kind: str) -> Any:
    if not chunks:
        return _convert([], kind)
    if kind == "category":
        # Sorted categories: the same data gives the same codes on every backend.
        return union_categoricals(chunks, sort_categories=True)
    if kind in ("date", "optional_bool", "str"):
        return pd.concat([pd.Series(c) for c in chunks], ignore_index=True)
    return np.concatenate(chunks)


def _convert(values: list[Any], kind: str) -> Any:
    if kind == "int":
        return np.asarray(values, dtype=np.int64)
    if kind == "int32":
        return np.asarray(values, dtype=np.int32)
    if kind == "float":
        return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if kind == "bool":
        return np.asarray([bool(v) for v in values], dtype=bool)
    if kind == "optional_bool":
        return pd.array([None if v is None else bool(v) for v in values], dtype="boolean")
    if kind == "date":
        return pd.to_datetime(
            pd.Series([str(v) for v in values], dtype="string"), format="%Y-%m-%d"
        )
    if kind == "category":
        return pd.Categorical([str(v) for v in values])  # joined with sorted categories
    if kind == "str":
        return pd.array([str(v) for v in values], dtype="string")
    raise ValueError(f"unknown column kind {kind!r}")


@dataclass(frozen=True)
class ResidentYearIndex:
    """The resident-years of the observations (a resident with a visit in a calendar year) and
    the codes each had a positive yes/no observation for, as arrays: grouped once per
    extraction, so that the suite's parts do arithmetic on small aggregates (issue #20) instead
    of each regrouping millions of observations.

    Attributes:
        resident_id, year: one entry per resident-year, sorted by resident then year.
        resident_row: the row of ``Datasets.residents`` of each resident-year.
        codes: the observation codes that have a positive observation, sorted.
        positive_ry, positive_code: one entry per (resident-year, code) with at least one
            positive observation: the resident-year's position and the code's in ``codes``;
            sorted by resident-year, then code.
        derived: per outcome of DERIVED_OUTCOMES, the resident-years with a positive
            observation of any of its codes (sorted).
        years: the distinct calendar years, sorted; ``year_person_years`` the resident-years
            of each and ``year_events[code]`` (codes and derived outcomes) the resident-years
            of each with an event.
        last_visit: the latest visit date (None without observations).
        observations_sorted: the observations came sorted by resident and visit date (as
            extract_observations sorts them), so the resident-years are in their order.
    """

    resident_id: np.ndarray
    year: np.ndarray
    resident_row: np.ndarray
    codes: list[str]
    positive_ry: np.ndarray
    positive_code: np.ndarray
    derived: dict[str, np.ndarray]
    years: list[int]
    year_person_years: np.ndarray
    year_events: dict[str, np.ndarray]
    last_visit: dt.date | None
    observations_sorted: bool = True


def resident_year_index(observations: pd.DataFrame, residents: pd.DataFrame) -> ResidentYearIndex:
    """Build the ResidentYearIndex of ``observations`` (any order) over ``residents``.

    Raises:
        KeyError: an observation of a resident that ``residents`` does not have.
    """
    resident = observations["resident_id"].to_numpy(dtype=np.int64)
    visited = observations["visited_on"].to_numpy(dtype="datetime64[ns]")
    year = visited.astype("datetime64[Y]").astype(np.int64) + 1970
    observations_sorted = len(resident) < 2 or bool(
        (np.diff(resident) >= 0).all()
        and ((np.diff(year) >= 0) | (resident[1:] != resident[:-1])).all()
    )
    if not observations_sorted:
        order = np.lexsort((year, resident))  # extraction sorts already; other callers may not
        observations = observations.iloc[order]
        resident, year = resident[order], year[order]
    starts = np.ones(len(resident), dtype=bool)
    starts[1:] = (resident[1:] != resident[:-1]) | (year[1:] != year[:-1])
    ry_of = np.cumsum(starts) - 1
    codes_column = observations["code"]
    if isinstance(codes_column.dtype, pd.CategoricalDtype):
        code_of, labels = codes_column.cat.codes.to_numpy(), codes_column.cat.categories
    else:
        code_of, labels = pd.factorize(codes_column)
    labels = np.asarray([str(label) for label in labels], dtype=object)
    positive = observations["value_boolean"].to_numpy(dtype=bool, na_value=False) & (code_of >= 0)
    present = np.unique(code_of[positive])
    order = np.argsort(labels[present], kind="stable")  # codes sorted by their text
    rank = np.full(len(labels), -1, dtype=np.intp)
    rank[present[order]] = np.arange(len(present))
    pairs = np.unique(ry_of[positive] * max(len(present), 1) + rank[code_of[positive]])
    width = max(len(present), 1)
    rows = pd.Index(residents["resident_id"].to_numpy()).get_indexer(resident[starts])
    if (rows < 0).any():
        missing = np.unique(resident[starts][rows < 0])[:5].tolist()
        raise KeyError(f"observations of residents not in the residents dataset: {missing}")
    codes = [str(label) for label in labels[present[order]]]
    positive_ry, positive_code = (pairs // width).astype(np.intp), (pairs % width).astype(np.intp)
    derived = {}
    for name, members in DERIVED_OUTCOMES.items():
        of_member = np.isin(positive_code, [codes.index(c) for c in members if c in codes])
        ry = positive_ry[of_member]  # sorted: one entry per resident-year
        derived[name] = ry[np.r_[True, ry[1:] != ry[:-1]]] if len(ry) else ry
    ry_year = year[starts].astype(np.int32)
    years, year_of = np.unique(ry_year, return_inverse=True)
    year_of = year_of.reshape(-1)
    events = np.bincount(
        positive_code * len(years) + year_of[positive_ry], minlength=len(codes) * len(years)
    ).reshape(len(codes), len(years))
    year_events = {code: events[k] for k, code in enumerate(codes)}
    for name, ry in derived.items():
        year_events[name] = np.bincount(year_of[ry], minlength=len(years))
    last = observations["visited_on"].max() if len(observations) else None
    return ResidentYearIndex(
        resident_id=resident[starts],
        year=ry_year,
        resident_row=rows,
        codes=codes,
        positive_ry=positive_ry,
        positive_code=positive_code,
        derived=derived,
        years=[int(y) for y in years],
        year_person_years=np.bincount(year_of, minlength=len(years)),
        year_events=year_events,
        last_visit=None if last is None or pd.isna(last) else pd.Timestamp(last).date(),
        observations_sorted=observations_sorted,
    )


# The key of the index in a Datasets' __dict__: a new version when ResidentYearIndex changes.
_INDEX_KEY = "_resident_year_index_2"


@dataclass
class Datasets:
    """Everything an analysis of the recorded data needs, as DataFrames."""

    codes: pd.DataFrame
    sites: pd.DataFrame
    areas: pd.DataFrame
    population: pd.DataFrame
    residents: pd.DataFrame
    observations: pd.DataFrame
    stations: pd.DataFrame
    measurements: pd.DataFrame

    def resident_year_index(self) -> ResidentYearIndex:
        """The observations' ResidentYearIndex, built on first use and kept with the datasets
        (extract_all builds it, so the analysis cache pickles it for every part). Not part of
        the fingerprint: it is derived from the observations and residents."""
        index = self.__dict__.get(_INDEX_KEY)
        if index is None:  # (an analysis cache pickled by an older version has another key)
            index = resident_year_index(self.observations, self.residents)
            self.__dict__[_INDEX_KEY] = index
        return index

    def fingerprint(self) -> str:
        """SHA-256 over every dataset's names, dtypes and values.

        Surrogate keys (resident_id, visit_id) enter by rank, not value: the same data imported
        into another database (other sequences, SQLite or PostgreSQL) has the same fingerprint.
        """
        digest = hashlib.sha256()
        for item in fields(self):
            frame: pd.DataFrame = _ranked_ids(getattr(self, item.name))
            digest.update(item.name.encode())
            digest.update(",".join(f"{c}:{frame[c].dtype}" for c in frame.columns).encode())
            digest.update(str(len(frame)).encode())
            if len(frame):
                hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
                digest.update(hashed.tobytes())
        return digest.hexdigest()


def _ranked_ids(frame: pd.DataFrame) -> pd.DataFrame:
    ids = [c for c in ("resident_id", "visit_id") if c in frame.columns]
    if not ids or frame.empty:
        return frame
    ranked = frame.copy()
    for column in ids:
        ranked[column] = _dense_rank(ranked[column].to_numpy())
    return ranked


def _dense_rank(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values (0, 1, …), as int64. The extraction reads
    ids in order, so the sorted case is one pass (a fifth of the 100k fingerprint's time went to
    sorting ids that were already sorted); any other order is sorted first."""
    if len(values) and bool(np.all(values[1:] >= values[:-1])):
        steps = np.empty(len(values), dtype=np.int64)
        steps[0] = 0
        np.not_equal(values[1:], values[:-1], out=steps[1:])
        return np.cumsum(steps)
    return np.searchsorted(np.unique(values), values).astype(np.int64)


def extract_sites() -> pd.DataFrame:
    qs = ProductionSite.objects.order_by("code").values_list(
        "code", "kind", "latitude", "longitude"
    )
    return _frame(
        qs, {"site_code": "str", "kind": "category", "latitude": "float", "longitude": "float"}
    )


def extract_areas() -> pd.DataFrame:
    qs = Area.objects.order_by("code").values_list("code", "name", "latitude", "longitude")
    return _frame(
        qs, {"area_code": "str", "name": "str", "latitude": "float", "longitude": "float"}
    )


def extract_population() -> pd.DataFrame:
    qs = AreaPopulation.objects.order_by("area__code", "year", "sex", "age_band").values_list(
        "area__code", "year", "sex", "age_band", "population"
    )
    return _frame(
        qs,
        {
            "area_code": "category",
            "year": "int32",
            "sex": "category",
            "age_band": "category",
            "population": "int",
        },
    )


def extract_residents() -> pd.DataFrame:
    qs = Resident.objects.order_by("id").values_list(
        "id",
        "area__code",
        "sex",
        "birth_year",
        "enrolled_on",
        "distance_to_site_km",
        "grid_latitude",
        "grid_longitude",
        "smoking",
        "works_at_site",
    )
    return _frame(
        qs,
        {
            "resident_id": "int",
            "area_code": "category",
            "sex": "category",
            "birth_year": "int32",
            "enrolled_on": "date",
            "distance_km": "float",
            "grid_latitude": "float",
            "grid_longitude": "float",
            "smoking": "category",
            "works_at_site": "bool",
        },
    )


def extract_observations(*, side: SideBySide | None = None) -> pd.DataFrame:
    """The observations, sorted by resident, visit date, code and visit (a total order: a
    visit has one observation per code). On PostgreSQL, with ``side``, the table's second
    half is read on another connection at the same time."""
    if connection.vendor != "postgresql":
        return _frame(_observation_rows(Observation.objects.all()), OBSERVATION_COLUMNS)
    return _observations_by_copy(side)


def _observation_rows(observations: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
    return observations.order_by(
        "visit__resident_id", "visit__visited_on", "code__code", "visit_id"
    ).values_list(
        "visit__resident_id",
        "visit_id",
        "visit__visited_on",
        "code__code",
        "value",
        "value_boolean",
        "below_lod",
        "lod",
    )


# PostgreSQL: the observations are read as the table stores them, with no join and no ORDER
# BY, then joined to their visits and codes and sorted here, in numpy. The server aggregates
# each stretch of CHUNK_PAGES pages into one row of arrays (a TID range scan, fixed-width
# elements with NULL as NaN or -1), so that the rows do not come one message each: at 100,000
# residents the joined, sorted query cost the server ~14 CPU-seconds (a nested loop over
# 514,000 visits, a sort on the code's text, parallel workers merging 4.7 M rows) and the
# 4.7 M messages ~3 s of Python here; these reads cost ~2 s in all (issue #20).
_OBSERVATION_ARRAYS = {
    "visit_id": ("visit_id", ">i8"),
    "code_id": ("code_id", ">i8"),
    "value": ("coalesce(value, 'NaN')", ">f8"),
    "value_boolean": ("coalesce(value_boolean::int, -1)::int2", ">i2"),  # 1, 0, -1 for NULL
    "below_lod": ("below_lod", "?"),
    "lod": ("coalesce(lod, 'NaN')", ">f8"),
}
_VISIT_ARRAYS = {
    "visit_id": ("id", ">i8"),
    "resident_id": ("resident_id", ">i8"),
    "visited_on": ("visited_on", ">i4"),  # days from PostgreSQL's epoch
}
_POSTGRES_EPOCH = np.datetime64("2000-01-01", "D")
# Pages (8 KiB) per row of arrays: ≤ ~300 tuples a page, so an array stays far below
# PostgreSQL's 1 GB limit for a value, and a row far below the memory a worker has.
CHUNK_PAGES = 4_096
# From this many pages of observations the table is read in two halves at once, on two
# connections; below it one stream costs less than a second connection.
HALVES_FROM_PAGES = 8_192


def _chunked_select(
    table: str, arrays: dict[str, tuple[str, str]], pages: tuple[int, int | None], total: int
) -> str:
    """One SELECT of array_agg rows over the table's pages from pages[0] to pages[1] (None: to
    its end, however long it has grown since ``total`` pages were counted), a row per
    CHUNK_PAGES pages (a TID range scan each)."""
    aggregates = ", ".join(f"array_agg({expression})" for expression, _ in arrays.values())
    first, last = pages
    starts = list(range(first, max(last if last is not None else total, first + 1), CHUNK_PAGES))
    selects = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else last
        where = f"ctid >= '({start},0)'::tid"
        if end is not None:
            where += f" AND ctid < '({end},0)'::tid"
        selects.append(f"(SELECT {aggregates} FROM {table} WHERE {where})")  # noqa: S608 - constants and ints
    return " UNION ALL ".join(selects)


def _table_arrays(
    table: str,
    arrays: dict[str, tuple[str, str]],
    pages: tuple[int, int | None],
    total: int,
    *,
    own_transaction: bool = False,
) -> dict[str, np.ndarray]:
    if own_transaction:  # short scans: compiling them to machine code costs more than it saves
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    fields = {name: kind for name, (_, kind) in arrays.items()}
    return _column_arrays(_chunked_select(table, arrays, pages, total), fields)


def _table_pages(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", [table]
        )
        return int(cursor.fetchone()[0])


def _observations_by_copy(side: SideBySide | None) -> pd.DataFrame:
    """The observations on PostgreSQL. With ``side`` every read runs in a transaction of the
    extraction's own (extract_all), else in the caller's."""
    pages = _table_pages("surveys_observation")
    half = pages // 2 if side is not None and pages >= max(HALVES_FROM_PAGES, 2) else None
    ours = side is not None
    read = partial(
        _table_arrays, "surveys_observation", _OBSERVATION_ARRAYS, total=pages, own_transaction=ours
    )
    pending = None
    if side is not None and half is not None:
        pending = side.pool.submit(_on_its_own_connection, partial(read, (half, None)), side)
    raw = read((0, half))
    visit_pages = _table_pages("surveys_visit")
    visits = _table_arrays(
        "surveys_visit", _VISIT_ARRAYS, (0, None), visit_pages, own_transaction=ours
    )
    code_text = dict(VocabularyCode.objects.values_list("id", "code"))
    if pending is not None:
        rest = pending.result()
        raw = {name: np.concatenate([raw[name], rest[name]]) for name in raw}
    return _observations_frame(raw, visits, code_text)


def _observations_frame(
    raw: dict[str, np.ndarray], visits: dict[str, np.ndarray], code_text: dict[int, str]
) -> pd.DataFrame:
    """The observations frame of the raw rows: what _observation_rows gives through _frame.
    ``raw`` is consumed: its arrays are taken out of it as they are gathered.

    Raises:
        ValueError: an observation of a visit or a code that was not read (cannot happen when
            every read sees one snapshot: the foreign keys hold).
    """
    if not len(raw["visit_id"]):
        return pd.DataFrame(
            {name: _convert([], kind) for name, kind in OBSERVATION_COLUMNS.items()},
            columns=list(OBSERVATION_COLUMNS),
        )
    by_id = np.argsort(visits["visit_id"], kind="stable")
    visit_ids = visits["visit_id"][by_id]
    at = np.minimum(np.searchsorted(visit_ids, raw["visit_id"]), max(len(visit_ids) - 1, 0))
    if not len(visit_ids) or (visit_ids[at] != raw["visit_id"]).any():
        raise ValueError("observations of visits that were not read")
    visit_row = by_id[at]
    visit_day = visits["visited_on"][visit_row]
    used = np.zeros(len(visit_ids), dtype=bool)
    used[visit_row] = True
    # the dates of visits with observations only (a visit without any is not converted)
    days = np.unique(visits["visited_on"][used])
    day = np.searchsorted(days, visit_day)  # the rank of the visit's date
    resident = visits["resident_id"][visit_row]
    present = np.unique(raw["code_id"])
    if any(int(code_id) not in code_text for code_id in present):
        raise ValueError("observations of codes that were not read")
    texts = sorted(code_text[int(code_id)] for code_id in present)  # the sorted categories
    rank = np.asarray([texts.index(code_text[int(i)]) for i in present], dtype=np.int64)
    code = rank[np.searchsorted(present, raw.pop("code_id"))]
    order = _observation_order(resident, day, code, raw["visit_id"])
    # each distinct date converted once, as _frame converts the text of a date
    dates = _convert([str(d) for d in _POSTGRES_EPOCH + days.astype("timedelta64[D]")], "date")
    # Column by column, each raw array let go once gathered: at 100,000 residents a full copy
    # of the columns is ~200 MB.
    frame: dict[str, Any] = {"resident_id": resident[order]}
    del resident, visit_row, visit_day
    frame["visit_id"] = raw.pop("visit_id")[order]
    frame["visited_on"] = pd.Series(dates.to_numpy()[day[order]])
    del day
    frame["code"] = pd.Categorical.from_codes(code[order], categories=texts)
    del code
    frame["value"] = raw.pop("value")[order]
    value_boolean = raw.pop("value_boolean")[order]
    frame["value_boolean"] = pd.arrays.BooleanArray(value_boolean == 1, value_boolean == -1)
    del value_boolean
    frame["below_lod"] = raw.pop("below_lod")[order]
    frame["lod"] = raw.pop("lod")[order]
    return pd.DataFrame(frame, columns=list(OBSERVATION_COLUMNS), copy=False)


def _observation_order(
    resident: np.ndarray, day: np.ndarray, code: np.ndarray, visit: np.ndarray
) -> np.ndarray:
    """The permutation that sorts by resident, date rank, code rank, then visit: the first three
    folded into one int64 key when they fit, lexsort on all four otherwise."""
    low, high = int(resident.min()), int(resident.max())
    days, codes = int(day.max()) + 1, int(code.max()) + 1
    if (high - low + 1) * days * codes < 2**62:
        key = ((resident - low) * days + day) * codes + code
        return np.lexsort((visit, key))
    return np.lexsort((visit, code, day, resident))


OBSERVATION_COLUMNS = {
    "resident_id": "int",
    "visit_id": "int",
    "visited_on": "date",
    "code": "category",
    "value": "float",
    "value_boolean": "optional_bool",
    "below_lod": "bool",
    "lod": "float",
}


def extract_stations() -> pd.DataFrame:
    qs = Station.objects.order_by("code").values_list("code", "medium", "latitude", "longitude")
    return _frame(
        qs, {"station_code": "str", "medium": "category", "latitude": "float", "longitude": "float"}
    )


def extract_measurements() -> pd.DataFrame:
    qs = (
        Measurement.objects.exclude(status=MeasurementStatus.INVALID)
        .order_by("station__code", "sampled_on", "pollutant__code")
        .values_list(
            "station__code",
            "sampled_on",
            "pollutant__code",
            "value",
            "below_lod",
            "lod",
            "status",
        )
    )
    return _frame(
        qs,
        {
            "station_code": "category",
            "sampled_on": "date",
            "pollutant": "category",
            "value": "float",
            "below_lod": "bool",
            "lod": "float",
            "status": "category",
        },
    )


def extract_codes() -> pd.DataFrame:
    qs = VocabularyCode.objects.order_by("code").values_list(
        "code", "category", "kind", "canonical_unit", "reference_level", "label"
    )
    return _frame(
        qs,
        {
            "code": "str",
            "category": "category",
            "kind": "category",
            "unit": "str",
            "reference_level": "float",
            "label": "str",
        },
    )


def _small_datasets() -> dict[str, pd.DataFrame]:
    return {
        "codes": extract_codes(),
        "sites": extract_sites(),
        "areas": extract_areas(),
        "population": extract_population(),
        "residents": extract_residents(),
        "stations": extract_stations(),
        "measurements": extract_measurements(),
    }


@dataclass(frozen=True)
class SideBySide:
    """Statements run at the same time on other connections (threads of ``pool``), each in a
    transaction that sees ``snapshot``: the exported snapshot of the extraction's own
    transaction, so every dataset reads the same state of the database."""

    pool: ThreadPoolExecutor
    snapshot: str


def _on_its_own_connection(read: Callable[[], _T], side: SideBySide) -> _T:
    """``read`` in this thread, on its own connection, in a repeatable-read transaction that
    sees the extraction's snapshot; the connection is closed at the end."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [side.snapshot])
            return read()
    finally:
        connections.close_all()  # this thread's connections only


def _read_side_by_side() -> bool:
    """Statements side by side: on PostgreSQL, outside a transaction (the extraction opens its
    own, whose snapshot the other connections share; a caller's transaction could hold rows
    that other connections cannot see)."""
    return (
        connection.vendor == "postgresql" and not connection.in_atomic_block and READ_SIDE_BY_SIDE
    )


# The observations take most of the extraction: they are read in halves beside each other,
# and the seven other datasets beside them.
READ_SIDE_BY_SIDE = True


@contextlib.contextmanager
def _one_snapshot() -> Iterator[None]:
    """On PostgreSQL outside a transaction: one repeatable-read transaction, so that every read
    sees one state of the data (the observations and their visits are two reads). Within a
    caller's transaction its isolation level decides; SQLite's reads are serialized."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def extract_all() -> Datasets:
    """Every dataset, and the resident-year index derived from them (grouped once here, as a
    server-side GROUP BY would, not once per part)."""
    if not _read_side_by_side():
        with _one_snapshot():
            datasets = Datasets(observations=extract_observations(), **_small_datasets())
        datasets.resident_year_index()
        return datasets
    with transaction.atomic(), ThreadPoolExecutor(max_workers=2) as pool:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT pg_export_snapshot()")
            side = SideBySide(pool, str(cursor.fetchone()[0]))
        small = pool.submit(_on_its_own_connection, _small_datasets, side)
        observations = extract_observations(side=side)
        datasets = Datasets(observations=observations, **small.result())
    datasets.resident_year_index()
    return datasets
