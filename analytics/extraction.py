"""Extraction: one set-based query per dataset into a compact pandas DataFrame.

No per-row ORM: each dataset is a single SELECT streamed with fetchmany into column arrays.
Values are normalized (dates → datetime64, booleans → bool, decimals → float, text →
category) so that SQLite and PostgreSQL give identical frames, and so identical fingerprints.
Invalid measurements are excluded here, once, for every analysis.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
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


def _frame_by_copy(
    queryset: QuerySet[Any, Any],
    columns: dict[str, str],
    beside: tuple[SideBySide, list[QuerySet[Any, Any]]] | None = None,
) -> pd.DataFrame:
    """PostgreSQL: the same frame as _frame, through COPY … TO STDOUT and pandas' CSV parser.

    Converting millions of rows from Python tuples took most of an analysis run's extraction
    (at 100,000 residents ~30 s of ~35 s); the server writes CSV and pandas parses it in C. The
    CSV goes through a temporary file, so memory holds the parsed columns, not the text.

    ``beside``: querysets whose rows follow the queryset's, each read on another connection
    of the SideBySide (same snapshot) at the same time; one frame of all the rows in order.
    """
    names = list(columns)
    side, rest = beside if beside is not None else (None, [])
    later = [
        side.pool.submit(_on_its_own_connection, partial(_copy_to_file, qs), side)
        for qs in rest
        if side is not None
    ]
    with _copy_to_file(queryset) as buffer:
        buffer.seek(0, os.SEEK_END)
        for future in later:  # the rows of the later querysets, in order
            with future.result() as part:
                shutil.copyfileobj(part, buffer)
        buffer.seek(0)
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
    """The queryset's rows as CSV in a temporary file (at its end; the caller closes it)."""
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


def extract_observations(
    codes: Iterable[str] | None = None, *, side: SideBySide | None = None
) -> pd.DataFrame:
    """The observations, sorted by resident, visit date, code and visit. With ``side``: the
    residents' second half read on another connection at the same time (resident first in
    the order, so the halves' rows follow each other)."""
    observations = Observation.objects.all()
    if codes is not None:
        observations = observations.filter(code__code__in=list(codes))
    halves: tuple[SideBySide, list[QuerySet[Any, Any]]] | None = None
    middle = _middle_resident() if side is not None else None
    if side is not None and middle is not None:
        halves = (side, [_observation_rows(observations.filter(visit__resident_id__gte=middle))])
        observations = observations.filter(visit__resident_id__lt=middle)
    qs = _observation_rows(observations)
    if connection.vendor != "postgresql":
        return _frame(qs, OBSERVATION_COLUMNS)
    return _frame_by_copy(qs, OBSERVATION_COLUMNS, halves)


# Below this many residents the observations are read in one stream: a second connection and
# its snapshot cost more than they save (make bench, 3,000 residents: 0.19 s in one stream vs
# 0.22 s in halves; 100,000: 6.9 s vs 6.1 s).
HALVES_FROM_RESIDENTS = 10_000


def _middle_resident() -> int | None:
    """The resident id that splits the residents in halves; None when one stream is better."""
    ids = Resident.objects.order_by("id").values_list("id", flat=True)
    count = ids.count()
    return int(ids[count // 2]) if count >= max(HALVES_FROM_RESIDENTS, 2) else None


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


# The observations take most of the extraction: they are read in halves (by resident) beside
# each other, and the seven other datasets beside them.
READ_SIDE_BY_SIDE = True


def extract_all() -> Datasets:
    """Every dataset, and the resident-year index derived from them (grouped once here, as a
    server-side GROUP BY would, not once per part)."""
    if not _read_side_by_side():
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
