"""An independent, minimal implementation of the suite's rates, trends and crude exposure ratios.

    DATABASE_URL=postgres://… python bench/reference_suite.py --result R.json [--compare-run N]

Written from docs/methods.md and analytics/suite.py's definitions (resident-year, event, distance
band), not from analytics' code: nothing from analytics/ is imported by the reference side but
the standard population tables. Each part reads what it needs with one SQL statement that
aggregates to strata on the server (resident-year grouping in SQL), then computes every row of
the part over whole arrays (rates and intervals vectorised, one frame at the end).

What the reference covers (rows compared, 1e-9 relative):
- rates: every row (crude and age-standardized, per area, all areas and distance band; the
  partial_period and low_person_time rules of methods.md §11);
- trends: the APC rows (log-linear OLS); a joinpoint AAPC (7 or more complete years) is not
  implemented here, such rows are reported as not covered (on the bench's 5 years the suite
  fits no AAPC, so the two sides do the same work; the result's "covered" says which);
- exposure: the crude rate ratios (exact conditional); the adjusted Poisson/NB rows, the trend
  test and the modelled-pollutant rows are not covered (their time is in the suite's figure
  but not in the reference's, so the exposure ratio is reported separately and marked).

The bench then times, in this process and interleaved with the reference (best of --repeat),
the suite's own extraction (analytics.extraction.extract_all) and the suite's functions for the
same parts (analytics.suite.PARTS), and reports each part's ratio and the whole's. That side
imports analytics (it is what is measured); it never feeds the reference.

Checks (not timed): the reference's rows against the suite's rows computed here and, with
--compare-run, against the rows the run stored (read by SQL), key by key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Data tables only (the issue allows it): the published standard populations.
from analytics.stats.standard_populations import AGE_BANDS, STANDARDS  # noqa: E402

KEY = ["analysis", "outcome", "area_code", "period", "stratum", "measure"]
NUMBERS = ["estimate", "ci_lower", "ci_upper", "numerator", "denominator", "p_value"]
COLUMNS = [*KEY[:4], "stratum", "measure", *NUMBERS, "flags"]
PARTS = ("rates", "trends", "exposure")
TOLERANCE = 1e-9

# The suite's default parameters (docs/methods.md; analytics/suite.py DEFAULT_PARAMETERS).
PER = 1000.0
CONF = 0.95
NEAR_KM, FAR_KM = 2.0, 8.0
STANDARD = "who_world_2000_2025"
MIN_PERSON_YEARS = 20.0  # methods.md §11
SMALL_DENOMINATOR = 1.0  # rates.py: a rate on < 1 person-year is flagged
ACUTE = "acute_respiratory"
ACUTE_CODES = ("dx.J06", "dx.J20")
ALL = "ALL"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name the PostgreSQL database of the run")
    return url


def per_label(per: float) -> str:
    return f"{int(per)}" if float(per).is_integer() else f"{per:g}"


# --- reads: one statement per part, aggregated to strata in SQL ---------------------------------

# Resident-years (a resident with a visit with observations in a calendar year), their cell
# (area, distance band, year, age band) and, per outcome, whether it had a positive observation.
RESIDENT_YEARS = f"""
WITH ry AS (
    SELECT v.resident_id, EXTRACT(YEAR FROM v.visited_on)::int AS year,
           array_agg(DISTINCT c.code::text) FILTER (WHERE o.value_boolean) AS positive
    FROM surveys_observation o
    JOIN surveys_visit v ON v.id = o.visit_id
    JOIN surveys_vocabularycode c ON c.id = o.code_id
    GROUP BY v.resident_id, EXTRACT(YEAR FROM v.visited_on)
)
SELECT a.code AS area_code,
       CASE WHEN r.distance_to_site_km IS NULL THEN 'unknown'
            WHEN r.distance_to_site_km < {NEAR_KM} THEN 'near'
            WHEN r.distance_to_site_km >= {FAR_KM} THEN 'far' ELSE 'middle' END AS distance_band,
       ry.year,
       LEAST(GREATEST(FLOOR((ry.year - r.birth_year) / 5.0), 0), {len(AGE_BANDS) - 1})::int
           AS band,
       COALESCE(ry.positive, ARRAY[]::text[]) AS positive
FROM ry JOIN surveys_resident r ON r.id = ry.resident_id JOIN surveys_area a ON a.id = r.area_id
"""

CELLS = f"""
WITH cell AS ({RESIDENT_YEARS})
SELECT area_code, distance_band, year, band, code, COUNT(*)::float8 AS n
FROM (
    SELECT area_code, distance_band, year, band, '' AS code FROM cell
    UNION ALL
    SELECT area_code, distance_band, year, band, UNNEST(positive) FROM cell
    UNION ALL
    SELECT area_code, distance_band, year, band, '{ACUTE}' FROM cell
    WHERE positive && ARRAY{list(ACUTE_CODES)}::text[]
) t
GROUP BY area_code, distance_band, year, band, code
"""

BOOLEAN_CODES = "SELECT code FROM surveys_vocabularycode WHERE kind = 'boolean' ORDER BY code"
DATA_END = (
    "SELECT MAX(v.visited_on) FROM surveys_observation o JOIN surveys_visit v ON v.id = o.visit_id"
)


@dataclass
class Cells:
    """Resident-years and events per (area, distance band, year, age band) cell."""

    keys: pd.DataFrame  # area_code, distance_band, year, band: one row per cell
    person_years: np.ndarray  # (cells,)
    events: np.ndarray  # (cells, outcomes)
    outcomes: list[str]
    data_end: Any  # datetime.date | None


def read_cells(conn: psycopg.Connection[Any]) -> Cells:
    with conn.cursor() as cursor:
        outcomes = [row[0] for row in cursor.execute(BOOLEAN_CODES).fetchall()]
        outcomes.append(ACUTE)
        data_end = cursor.execute(DATA_END).fetchone()[0]  # type: ignore[index]
        frame = pd.DataFrame(
            cursor.execute(CELLS).fetchall(),
            columns=["area_code", "distance_band", "year", "band", "code", "n"],
        )
    wide = frame.pivot_table(
        index=["area_code", "distance_band", "year", "band"],
        columns="code",
        values="n",
        aggfunc="sum",
        fill_value=0.0,
    ).sort_index()
    keys = wide.index.to_frame(index=False)
    events = wide.reindex(columns=outcomes, fill_value=0.0).to_numpy(dtype=float)
    return Cells(keys, wide[""].to_numpy(dtype=float), events, outcomes, data_end)


# --- formulas (docs/methods.md §1, §2, §4, §11) --------------------------------------------------


def garwood(x: np.ndarray, conf: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1 - conf
    lower = np.where(x > 0, stats.gamma.ppf(alpha / 2, np.maximum(x, 1e-300)), 0.0)
    return lower, stats.gamma.ppf(1 - alpha / 2, x + 1)


def standardized(
    x: np.ndarray, n: np.ndarray, weights: np.ndarray, conf: float
) -> tuple[np.ndarray, ...]:
    """Fay–Feuer DSR per row of (rows, bands) arrays, bands with n = 0 dropped and the standard
    renormalized over the bands present."""
    present = n > 0
    w = np.where(present, weights, 0.0)
    w = w / w.sum(axis=1, keepdims=True)
    per_person = np.divide(w, n, out=np.zeros_like(w), where=present)
    y = (per_person * x).sum(axis=1)
    v = (per_person**2 * x).sum(axis=1)
    wm = per_person.max(axis=1)
    alpha = 1 - conf
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(y > 0, stats.gamma.ppf(alpha / 2, y * y / v, scale=v / y), 0.0)
    upper = stats.gamma.ppf(
        1 - alpha / 2, (y + wm) ** 2 / (v + wm * wm), scale=(v + wm * wm) / (y + wm)
    )
    return y, lower, upper, present.all(axis=1)


def year_complete(year: int, data_end: Any) -> bool:
    """A calendar year is complete when its 31 December is on or before the data end date."""
    return data_end is not None and dt.date(year, 12, 31) <= data_end


def reference_rates(cells: Cells) -> pd.DataFrame:
    keys = cells.keys
    scopes = [
        ("rates", keys["area_code"].astype(str), pd.Series("", index=keys.index)),
        ("rates", pd.Series(ALL, index=keys.index), pd.Series("", index=keys.index)),
        (
            "rates_by_distance",
            pd.Series(ALL, index=keys.index),
            "distance_band=" + keys["distance_band"].astype(str),
        ),
    ]
    bands = keys["band"].to_numpy(dtype=int)
    nb = len(AGE_BANDS)
    weights = np.array([STANDARDS[STANDARD][b] for b in AGE_BANDS], dtype=float)
    out = []
    for analysis, area, stratum in scopes:
        group = pd.DataFrame({"a": area, "s": stratum, "y": keys["year"].to_numpy()})
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(group), sort=True)
        g = len(uniques)
        years = np.zeros((g, nb))
        np.add.at(years, (codes, bands), cells.person_years)
        events = np.zeros((g, len(cells.outcomes), nb))
        np.add.at(events, (codes, slice(None), bands), cells.events)
        # every (scope, outcome) pair, outcome fastest
        x = events.reshape(-1, nb)
        n = np.repeat(years, len(cells.outcomes), axis=0)
        total_x, total_n = x.sum(axis=1), n.sum(axis=1)
        low, high = garwood(total_x, CONF)
        y, dlow, dhigh, full = standardized(x, n, np.broadcast_to(weights, n.shape), CONF)
        scope = uniques.to_frame(index=False)
        base = pd.DataFrame(
            {
                "analysis": analysis,
                "outcome": np.tile(cells.outcomes, g),
                "area_code": np.repeat(scope.iloc[:, 0].to_numpy(), len(cells.outcomes)),
                "period": np.repeat(scope.iloc[:, 2].astype(str).to_numpy(), len(cells.outcomes)),
                "stratum": np.repeat(scope.iloc[:, 1].to_numpy(), len(cells.outcomes)),
            }
        )
        zero = np.where(total_x == 0, "zero_events", "")
        small = np.where(total_n < SMALL_DENOMINATOR, "small_denominator", "")
        crude = base.assign(
            measure=f"rate_per_{per_label(PER)}",
            estimate=total_x / total_n * PER,
            ci_lower=low / total_n * PER,
            ci_upper=high / total_n * PER,
            numerator=total_x,
            denominator=total_n,
            p_value=np.nan,
            flags=[";".join(f for f in pair if f) for pair in zip(zero, small, strict=True)],
        )
        dsr_flags = [
            ";".join(
                f
                for f in (f"standard={STANDARD}", "zero_events" if yy == 0 else "",
                          "" if ff else "partial_age_range")
                if f
            )
            for yy, ff in zip(y, full, strict=True)
        ]  # fmt: skip
        dsr = base.assign(
            measure=f"age_standardized_rate_per_{per_label(PER)}",
            estimate=y * PER,
            ci_lower=dlow * PER,
            ci_upper=dhigh * PER,
            numerator=total_x,
            denominator=total_n,
            p_value=np.nan,
            flags=dsr_flags,
        )
        out += [crude, dsr]
    frame = pd.concat(out, ignore_index=True)[COLUMNS]
    # methods.md §11: incomplete years flagged, rates on < 20 resident-years withheld
    incomplete = ~frame["period"].map(lambda p: year_complete(int(p), cells.data_end))
    frame.loc[incomplete, "flags"] = [
        ";".join(f for f in (f0, "partial_period") if f) for f0 in frame.loc[incomplete, "flags"]
    ]
    low_pt = frame["denominator"] < MIN_PERSON_YEARS
    frame.loc[low_pt, ["estimate", "ci_lower", "ci_upper"]] = np.nan
    frame.loc[low_pt, "flags"] = [
        ";".join(f for f in (f0, "low_person_time") if f) for f0 in frame.loc[low_pt, "flags"]
    ]
    return frame


def reference_trends(cells: Cells) -> pd.DataFrame:
    """APC of each outcome's crude all-areas rate over the complete years (methods.md §4, §11)."""
    years_all = cells.keys["year"].to_numpy(dtype=int)
    complete = np.array([year_complete(int(y), cells.data_end) for y in years_all], dtype=bool)
    years = np.unique(years_all[complete])
    rows: list[dict[str, Any]] = []
    if len(years) < 3:
        return pd.DataFrame(rows, columns=COLUMNS)
    index = np.searchsorted(years, years_all[complete])
    person_years = np.bincount(index, cells.person_years[complete], len(years))
    events = np.zeros((len(years), len(cells.outcomes)))
    np.add.at(events, index, cells.events[complete])
    rates = events / person_years[:, None] * PER
    design = np.column_stack([np.ones(len(years)), years.astype(float)])
    df = len(years) - 2
    tq = float(stats.t.ppf(1 - (1 - CONF) / 2, df))
    for j, outcome in enumerate(cells.outcomes):
        if (rates[:, j] <= 0).any():
            continue
        logr = np.log(rates[:, j])
        beta = np.linalg.lstsq(design, logr, rcond=None)[0]
        resid = logr - design @ beta
        se = math.sqrt(float(np.linalg.inv(design.T @ design)[1, 1] * (resid @ resid) / df))
        b = float(beta[1])
        rows.append(
            {
                "analysis": "trend",
                "outcome": outcome,
                "area_code": ALL,
                "period": f"{years[0]}-{years[-1]}",
                "stratum": "",
                "measure": "apc_percent_per_year",
                "estimate": 100 * math.expm1(b),
                "ci_lower": 100 * math.expm1(b - tq * se),
                "ci_upper": 100 * math.expm1(b + tq * se),
                "numerator": np.nan,
                "denominator": np.nan,
                "p_value": float(2 * stats.t.sf(abs(b / se), df)),
                "flags": "",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def binom_two_sided(x: int, n: int, p: float) -> float:
    """R's binom.test two-sided p-value (relative tolerance 1 + 1e-7 for ties)."""
    d = stats.binom.pmf(x, n, p)
    m = n * p
    if x == m:
        return 1.0
    if x < m:
        y = int(np.sum(stats.binom.pmf(np.arange(math.ceil(m), n + 1), n, p) <= d * (1 + 1e-7)))
        pv = stats.binom.cdf(x, n, p) + stats.binom.sf(n - y, n, p)
    else:
        y = int(np.sum(stats.binom.pmf(np.arange(0, math.floor(m) + 1), n, p) <= d * (1 + 1e-7)))
        pv = stats.binom.cdf(y - 1, n, p) + stats.binom.sf(x - 1, n, p)
    return float(min(1.0, pv))


def reference_exposure(cells: Cells) -> pd.DataFrame:
    """Crude rate ratios near and middle vs far (R poisson.test(c(x1, x0), c(T1, T0)))."""
    known = cells.keys["distance_band"].to_numpy() != "unknown"
    band = cells.keys["distance_band"].to_numpy()[known]
    years = cells.keys["year"].to_numpy()[known]
    period = f"{years.min()}-{years.max()}" if len(years) else ""
    pt = {b: cells.person_years[known][band == b].sum() for b in ("near", "middle", "far")}
    ev = {b: cells.events[known][band == b].sum(axis=0) for b in ("near", "middle", "far")}
    alpha = 1 - CONF
    rows = []
    for j, outcome in enumerate(cells.outcomes):
        x0, t0 = float(ev["far"][j]), float(pt["far"])
        if sum(float(ev[b][j]) for b in ev) == 0 or x0 == 0:
            continue
        for name in ("near", "middle"):
            x1, t1 = float(ev[name][j]), float(pt[name])
            if t1 == 0:
                continue
            n = x1 + x0
            p_lo = 0.0 if x1 == 0 else float(stats.beta.ppf(alpha / 2, x1, n - x1 + 1))
            p_hi = float(stats.beta.ppf(1 - alpha / 2, x1 + 1, n - x1))
            rows.append(
                {
                    "analysis": "exposure_response",
                    "outcome": outcome,
                    "area_code": ALL,
                    "period": period,
                    "stratum": f"distance_band={name}",
                    "measure": "crude_rate_ratio",
                    "estimate": (x1 / t1) / (x0 / t0),
                    "ci_lower": p_lo / (1 - p_lo) * t0 / t1,
                    "ci_upper": p_hi / (1 - p_hi) * t0 / t1,
                    "numerator": x1,
                    "denominator": x0,
                    "p_value": binom_two_sided(int(x1), int(n), t1 / (t1 + t0)),
                    "flags": "",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


REFERENCE: dict[str, Callable[[Cells], pd.DataFrame]] = {
    "rates": reference_rates,
    "trends": reference_trends,
    "exposure": reference_exposure,
}
COVERED: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "rates": lambda f: pd.Series(True, index=f.index),
    "trends": lambda f: f["measure"] == "apc_percent_per_year",
    "exposure": lambda f: f["measure"] == "crude_rate_ratio",
}


def run_reference(
    conn: psycopg.Connection[Any],
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Times: the read (one statement for the three parts) and each part's computation."""
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    cells = read_cells(conn)
    seconds["extract"] = time.perf_counter() - began
    rows = {}
    for name, part in REFERENCE.items():
        began = time.perf_counter()
        rows[name] = part(cells)
        seconds[name] = time.perf_counter() - began
    return seconds, rows


# --- the suite's side (what is measured; imports analytics) --------------------------------------


def run_suite() -> tuple[dict[str, float], dict[str, pd.DataFrame], str]:
    from analytics import suite
    from analytics.extraction import extract_all

    seconds: dict[str, float] = {}
    began = time.perf_counter()
    data = extract_all()
    seconds["extract"] = time.perf_counter() - began
    params = suite.clean_parameters({})
    rows = {}
    for name in PARTS:
        began = time.perf_counter()
        rows[name] = suite.PARTS[name](data, params).rows
        seconds[name] = time.perf_counter() - began
    return seconds, rows, data.fingerprint()


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")
    import django

    django.setup()


# --- checks --------------------------------------------------------------------------------------


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[COLUMNS].copy()
    for column in (*KEY, "flags"):
        out[column] = out[column].fillna("").astype(str)
    for column in NUMBERS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def compare(reference: pd.DataFrame, theirs: pd.DataFrame, part: str) -> dict[str, Any]:
    """The reference's rows against the covered rows of the suite's (or the run's) part."""
    theirs = normalised(theirs)
    covered = theirs[COVERED[part](theirs)].reset_index(drop=True)
    ours = normalised(reference)
    entry: dict[str, Any] = {
        "rows": len(theirs),
        "covered_rows": len(covered),
        "reference_rows": len(ours),
    }
    same_length = len(ours) == len(covered)
    entry["same_keys"] = bool(
        same_length and (ours[[*KEY, "flags"]] == covered[[*KEY, "flags"]]).all().all()
    )
    if same_length:
        x, y = ours[NUMBERS].to_numpy(float), covered[NUMBERS].to_numpy(float)
        both = ~np.isnan(x) & ~np.isnan(y)
        entry["same_missing"] = bool((np.isnan(x) == np.isnan(y)).all())
        finite = both & np.isfinite(x) & np.isfinite(y)
        diff = np.abs(x - y)[finite] / np.maximum(np.abs(y[finite]), 1e-300)
        entry["max_relative_difference"] = float(diff.max()) if diff.size else 0.0
        entry["same_infinite"] = bool((np.isinf(x[both]) == np.isinf(y[both])).all())
    entry["equal"] = bool(
        entry["same_keys"]
        and entry.get("same_missing")
        and entry.get("same_infinite")
        and entry.get("max_relative_difference", 1.0) <= TOLERANCE
    )
    return entry


def trends_covered(rows: pd.DataFrame) -> str:
    """Whether the trends ratio compares the same work: the suite fits a joinpoint AAPC only on 7
    or more complete years, which the reference does not implement."""
    aapc = int((rows["measure"] != "apc_percent_per_year").sum()) if len(rows) else 0
    if aapc == 0:
        return (
            "every row (APC only: under 7 complete years the suite fits no joinpoint AAPC, so "
            "both sides do the same work)"
        )
    return f"APC rows only: the suite's {aapc} joinpoint rows are not covered (unequal work)"


def stored_rows(conn: psycopg.Connection[Any], run_id: int, part: str) -> pd.DataFrame:
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM analytics_resultrow WHERE part = %s AND "
        "result_set_id = (SELECT result_set_id FROM analytics_analysisrun WHERE id = %s)"
    )
    with conn.cursor() as cursor:
        return pd.DataFrame(cursor.execute(sql, (part, run_id)).fetchall(), columns=COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path)
    parser.add_argument("--compare-run", type=int)
    parser.add_argument("--repeat", type=int, default=3, help="best of N, interleaved")
    args = parser.parse_args()
    setup_django()
    best_ref: dict[str, float] = {}
    best_suite: dict[str, float] = {}
    with psycopg.connect(database_url()) as conn:
        for _ in range(max(1, args.repeat)):
            ref_seconds, ref_rows = run_reference(conn)
            suite_seconds, suite_rows, fingerprint = run_suite()
            for name, value in ref_seconds.items():
                best_ref[name] = min(best_ref.get(name, math.inf), value)
            for name, value in suite_seconds.items():
                best_suite[name] = min(best_suite.get(name, math.inf), value)
        checks = {name: compare(ref_rows[name], suite_rows[name], name) for name in PARTS}
        run_checks = (
            {
                name: compare(ref_rows[name], stored_rows(conn, args.compare_run, name), name)
                for name in PARTS
            }
            if args.compare_run
            else {}
        )
    ratios = {name: best_suite[name] / best_ref[name] for name in ("extract", *PARTS)}
    ref_total = sum(best_ref.values())
    suite_total = sum(best_suite.values())
    result: dict[str, Any] = {
        "seconds": ref_total,
        "parts": best_ref,
        "suite_parts": best_suite,
        "ratios": ratios,
        "suite_seconds": suite_total,
        "ratio": suite_total / ref_total,
        "repeat": args.repeat,
        "fingerprint": fingerprint,
        "covered": {
            "rates": "every row",
            "trends": trends_covered(suite_rows["trends"]),
            "exposure": "crude rate ratios only: its ratio compares unequal work",
        },
        "checks_against_suite": checks,
        "comparison": run_checks,
        "rows": {name: len(frame) for name, frame in suite_rows.items()},
    }
    for name in ("extract", *PARTS):
        print(
            f"    {name:<9} suite {best_suite[name]:.3f} s, reference {best_ref[name]:.3f} s "
            f"→ {ratios[name]:.1f}×"
            + ("" if name == "extract" else f" (rows equal: {checks[name]['equal']})"),
            flush=True,
        )
    print(
        f"    whole: suite {suite_total:.3f} s, reference {ref_total:.3f} s "
        f"→ {result['ratio']:.1f}×"
    )
    if args.result:
        args.result.write_text(json.dumps(result, indent=2, default=str))
    else:
        print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
