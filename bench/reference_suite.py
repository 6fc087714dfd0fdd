"""The reference for the analysis suite: the same statistics with nothing around them.

    DATABASE_URL=postgres://… python bench/reference_suite.py --result R.json [--compare-run N]

One SQL statement per dataset (`COPY (SELECT …) TO STDOUT` as CSV, parsed by pandas.read_csv),
the same column types and row order as analytics.extraction, then every function of
analytics.suite.PARTS called in turn in this one process. No ORM, no Celery, no cache file, no
result rows written. Django is set up only because analytics.suite imports the Datasets class
(the clock starts after the imports, as the workers of the measured run are already started).

Checks (not timed): the datasets' fingerprint is compared with the measured run's, and the
rows every part returns with the rows the run stored, so the two sides did the same work.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg  # noqa: E402
from django.db import connection  # noqa: E402

from analytics import suite  # noqa: E402
from analytics.extraction import Datasets  # noqa: E402

# dataset → (SELECT …, {column: kind}); kinds as in analytics.extraction.
QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "codes": (
        "SELECT code, category, kind, canonical_unit, reference_level, label "
        "FROM surveys_vocabularycode ORDER BY code",
        {
            "code": "str",
            "category": "category",
            "kind": "category",
            "unit": "str",
            "reference_level": "float",
            "label": "str",
        },
    ),
    "sites": (
        "SELECT code, kind, latitude, longitude FROM surveys_productionsite ORDER BY code",
        {"site_code": "str", "kind": "category", "latitude": "float", "longitude": "float"},
    ),
    "areas": (
        "SELECT code, name, latitude, longitude FROM surveys_area ORDER BY code",
        {"area_code": "str", "name": "str", "latitude": "float", "longitude": "float"},
    ),
    "population": (
        "SELECT a.code, p.year, p.sex, p.age_band, p.population FROM surveys_areapopulation p "
        "JOIN surveys_area a ON a.id = p.area_id ORDER BY a.code, p.year, p.sex, p.age_band",
        {
            "area_code": "category",
            "year": "int32",
            "sex": "category",
            "age_band": "category",
            "population": "int",
        },
    ),
    "residents": (
        "SELECT r.id, a.code, r.sex, r.birth_year, r.enrolled_on, r.distance_to_site_km, "
        "r.grid_latitude, r.grid_longitude, r.smoking, r.works_at_site "
        "FROM surveys_resident r JOIN surveys_area a ON a.id = r.area_id ORDER BY r.id",
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
    ),
    "observations": (
        "SELECT v.resident_id, o.visit_id, v.visited_on, c.code, o.value, o.value_boolean, "
        "o.below_lod, o.lod FROM surveys_observation o "
        "JOIN surveys_visit v ON v.id = o.visit_id "
        "JOIN surveys_vocabularycode c ON c.id = o.code_id "
        "ORDER BY v.resident_id, v.visited_on, c.code, o.visit_id",
        {
            "resident_id": "int",
            "visit_id": "int",
            "visited_on": "date",
            "code": "category",
            "value": "float",
            "value_boolean": "optional_bool",
            "below_lod": "bool",
            "lod": "float",
        },
    ),
    "stations": (
        "SELECT code, medium, latitude, longitude FROM surveys_station ORDER BY code",
        {"station_code": "str", "medium": "category", "latitude": "float", "longitude": "float"},
    ),
    "measurements": (
        "SELECT s.code, m.sampled_on, c.code, m.value, m.below_lod, m.lod, m.status "
        "FROM surveys_measurement m JOIN surveys_station s ON s.id = m.station_id "
        "JOIN surveys_vocabularycode c ON c.id = m.pollutant_id "
        "WHERE m.status <> 'invalid' ORDER BY s.code, m.sampled_on, c.code",
        {
            "station_code": "category",
            "sampled_on": "date",
            "pollutant": "category",
            "value": "float",
            "below_lod": "bool",
            "lod": "float",
            "status": "category",
        },
    ),
}

READ_DTYPES = {"int": "int64", "int32": "int32", "float": "float64"}


def query_frame(conn: psycopg.Connection[Any], sql: str, columns: dict[str, str]) -> pd.DataFrame:
    buffer = io.BytesIO()
    statement = f"COPY ({sql}) TO STDOUT (FORMAT csv, NULL '\\N')"
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    names = list(columns)
    raw = pd.read_csv(
        buffer,
        header=None,
        names=names,
        dtype={n: READ_DTYPES.get(k, "str") for n, k in columns.items()},
        keep_default_na=False,
        na_values={n: ["\\N"] for n in names},  # NULL; an empty text stays ""
    )
    out = {}
    for name, kind in columns.items():
        column = raw[name]
        if kind in READ_DTYPES:
            out[name] = column.to_numpy(dtype=READ_DTYPES[kind])
        elif kind == "bool":
            out[name] = (column == "t").to_numpy()
        elif kind == "optional_bool":
            values = column.to_numpy(dtype=object)
            out[name] = pd.array(np.where(pd.isna(values), None, values == "t"), dtype="boolean")
        elif kind == "date":
            out[name] = pd.to_datetime(column, format="%Y-%m-%d")
        elif kind == "category":
            out[name] = pd.Categorical(column)  # categories sorted, as extraction does
        else:
            out[name] = column.astype("string").array
    return pd.DataFrame(out, columns=names)


def dsn() -> str:
    params = connection.get_connection_params()
    return " ".join(
        f"{key}={params[key]}"
        for key in ("host", "port", "user", "dbname", "password")
        if params.get(key) not in (None, "")
    )


def compute() -> tuple[Datasets, dict[str, Any], dict[str, pd.DataFrame]]:
    timings: dict[str, Any] = {"extract": {}, "parts": {}}
    started = time.perf_counter()
    with psycopg.connect(dsn()) as conn:
        frames = {}
        for name, (sql, columns) in QUERIES.items():
            began = time.perf_counter()
            frames[name] = query_frame(conn, sql, columns)
            timings["extract"][name] = time.perf_counter() - began
    datasets = Datasets(**frames)
    extracted = time.perf_counter()
    params = suite.clean_parameters({})
    outputs = {}
    for name, part in suite.PARTS.items():
        began = time.perf_counter()
        outputs[name] = part(datasets, params).rows
        timings["parts"][name] = time.perf_counter() - began
    finished = time.perf_counter()
    timings["extract_seconds"] = extracted - started
    timings["compute_seconds"] = finished - extracted
    timings["seconds"] = finished - started
    return datasets, timings, outputs


KEY = ["analysis", "outcome", "area_code", "period", "stratum", "measure"]
NUMBERS = ["estimate", "ci_lower", "ci_upper", "numerator", "denominator", "p_value"]


def compare(run_id: int, outputs: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Per part: rows stored by the run vs. rows the reference computed, and the largest
    relative difference of any number (after the same cleaning the service applies)."""
    from analytics.models import AnalysisRun, ResultRow
    from analytics.services import _clean_rows

    run = AnalysisRun.objects.get(pk=run_id)
    report: dict[str, Any] = {}
    for name, frame in outputs.items():
        ours = pd.DataFrame(
            list(
                ResultRow.objects.filter(result_set=run.result_set, part=name).values(
                    *KEY, *NUMBERS, "flags"
                )
            ),
            columns=[*KEY, *NUMBERS, "flags"],
        )
        theirs = pd.DataFrame(_clean_rows(frame), columns=[*KEY, *NUMBERS, "flags"])
        entry: dict[str, Any] = {"run_rows": len(ours), "reference_rows": len(theirs)}
        if len(ours) == len(theirs) and len(ours):
            a = ours.sort_values(KEY, kind="stable").reset_index(drop=True)
            b = theirs.sort_values(KEY, kind="stable").reset_index(drop=True)
            entry["same_keys"] = bool((a[KEY].astype(str) == b[KEY].astype(str)).all().all())
            x = a[NUMBERS].to_numpy(dtype=float)
            y = b[NUMBERS].to_numpy(dtype=float)
            both = ~np.isnan(x) & ~np.isnan(y)
            entry["same_missing"] = bool((np.isnan(x) == np.isnan(y)).all())
            diff = np.abs(x - y)[both] / np.maximum(np.abs(y[both]), 1e-12)
            entry["max_relative_difference"] = float(diff.max()) if diff.size else 0.0
        report[name] = entry
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path)
    parser.add_argument("--compare-run", type=int)
    args = parser.parse_args()
    datasets, timings, outputs = compute()
    print(
        f"    reference suite: {timings['seconds']:.1f} s (extract "
        f"{timings['extract_seconds']:.1f} s, parts {timings['compute_seconds']:.1f} s)",
        flush=True,
    )
    result: dict[str, Any] = {**timings, "fingerprint": datasets.fingerprint()}
    result["rows"] = {name: len(frame) for name, frame in outputs.items()}
    if args.compare_run:
        result["comparison"] = compare(args.compare_run, outputs)
    if args.result:
        args.result.write_text(json.dumps(result, indent=2))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
