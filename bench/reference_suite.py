"""An independent, minimal implementation of the suite's parts rates, trends and exposure.

    DATABASE_URL=postgres://… python bench/reference_suite.py --result R.json [--compare-run N]

Written from docs/methods.md and analytics/suite.py's definitions (resident-year, event, distance
band, the exposure model's covariates and reference levels, the modelled pollutant's data), not
from analytics' code: nothing from analytics/ is imported by the reference side but the standard
population tables. One SQL statement aggregates the resident-years on the server into both the
rates' cells and the exposure's covariate patterns (GROUPING SETS: one pass; each outcome's
events counted with a FILTER, no row per event), a second one the pollutant's station annual
means; then each part computes every row over whole arrays (rates and intervals vectorised,
IDW once per distinct grid cell for all years at once, one frame at the end; the regression fits
are per outcome, statsmodels' IRLS as R glm).

What the reference covers (rows compared, 1e-9 relative, keys and flags equal):
- rates: every row (crude and age-standardized, per area, all areas and distance band; the
  partial_period and low_person_time rules of methods.md §11);
- trends: the APC rows (log-linear OLS); a joinpoint AAPC (7 or more complete years) is not
  implemented here, such rows are reported as not covered (on the bench's 5 years the suite
  fits no AAPC, so the two sides do the same work; the result's "covered" says which);
- exposure: every row. Crude rate ratios near and middle vs far (exact conditional); adjusted
  rate ratios near and middle from the rate model on the covariate patterns (distance band, age
  group, sex, smoking, works at the site) with methods.md §3's family=auto rule (Poisson, or NB2
  with θ by maximum likelihood as MASS::glm.nb and the coefficients refitted by IRLS at θ; flag
  family=…); the score trend test across far/middle/near (scores 0, 1, 2; interval by inverting
  the score test with Brent's method); the adjusted rate ratio per 10 µg/m³ of PM10 modelled by
  IDW at each resident-year's grid cell (methods.md §7; level rounded to 1/100 of the unit; as
  in the suite, this row names no family). Two edge rules follow the suite rather than the
  letter of methods.md, so that the rows compare: the stations' annual means count a value
  below the LOD as LOD/√2 (the environment part's means use LOD/2, methods.md §8). An outcome
  whose Pearson dispersion exceeds 1.5 but whose likelihood has no overdispersion at all (θ = ∞)
  keeps its Poisson fit, as methods.md's LR test says (the suite dropped its adjusted rows until
  2026-12-04: dx.L30 at 2,000 bench residents). No exposure row is left out.

The bench then times, in this process and interleaved with the reference (best of --repeat),
the suite's own extraction (analytics.extraction.extract_all) and the suite's functions for the
same parts (analytics.suite.PARTS), and reports each part's ratio and the whole's. That side
imports analytics (it is what is measured); it never feeds the reference. Both sides compute
with BLAS on one thread (the suite's parts do; more threads only oversubscribe the cores).

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
import statsmodels.api as sm
from scipy import optimize, special, stats
from threadpoolctl import ThreadpoolController

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


# --- reads: one statement aggregates every part's strata in SQL, one the stations' means ------

# The suite's exposure adjustment set (analytics/suite.py COVARIATES, AGE_GROUPS, REFERENCE) and
# the pollutant model's parameters (DEFAULT_PARAMETERS; docs/methods.md §7: IDW p = 2, 10 km).
COVARIATES = ("age_group", "sex", "smoking", "works_at_site")
AGE_GROUP_EDGES = ((15, "0-14"), (45, "15-44"), (65, "45-64"))  # the rest: "65+"
REFERENCE_LEVELS = {"distance_band": "far", "sex": "F", "smoking": "never", "works_at_site": "no"}
POLLUTANT, POLLUTANT_PER = "pm10", 10.0
IDW_POWER, IDW_RADIUS_KM, COINCIDENT_KM = 2.0, 10.0, 0.001
EARTH_RADIUS_KM = 6371.0088
MIN_LEVELLED_RESIDENT_YEARS = 50  # the suite fits the pollutant model on more than 50
DISPERSION_THRESHOLD, NB_LR_ALPHA = 1.5, 0.05  # methods.md §3, the overdispersion rule

_AGE_GROUP = (
    "CASE "
    + " ".join(
        f"WHEN ry.year - r.birth_year < {edge} THEN '{label}'" for edge, label in AGE_GROUP_EDGES
    )
    + " ELSE '65+' END"
)

# Resident-years (a resident with a visit with observations in a calendar year) with the codes
# (ids) it had a positive observation of; each with its resident's cell for the rates (area,
# distance band, year, age band) and its covariate pattern for the exposure models (distance
# band, age group, sex, smoking, works at the site, grid cell, year).
RESIDENT_YEARS = f"""
WITH ry AS (
    SELECT v.resident_id, EXTRACT(YEAR FROM v.visited_on)::int AS year,
           array_agg(o.code_id) FILTER (WHERE o.value_boolean) AS positive
    FROM surveys_observation o
    JOIN surveys_visit v ON v.id = o.visit_id
    GROUP BY v.resident_id, EXTRACT(YEAR FROM v.visited_on)
)
SELECT a.code AS area_code,
       CASE WHEN r.distance_to_site_km IS NULL THEN 'unknown'
            WHEN r.distance_to_site_km < {NEAR_KM} THEN 'near'
            WHEN r.distance_to_site_km >= {FAR_KM} THEN 'far' ELSE 'middle' END AS distance_band,
       ry.year,
       LEAST(GREATEST(FLOOR((ry.year - r.birth_year) / 5.0), 0), {len(AGE_BANDS) - 1})::int
           AS band,
       {_AGE_GROUP} AS age_group,
       r.sex::text AS sex,
       r.smoking::text AS smoking,
       CASE WHEN r.works_at_site THEN 'yes' ELSE 'no' END AS works_at_site,
       r.grid_latitude IS NOT NULL AND r.grid_longitude IS NOT NULL AS located,
       COALESCE(r.grid_latitude, 0)::float8 AS latitude,
       COALESCE(r.grid_longitude, 0)::float8 AS longitude,
       COALESCE(ry.positive, ARRAY[]::bigint[]) AS positive
FROM ry JOIN surveys_resident r ON r.id = ry.resident_id JOIN surveys_area a ON a.id = r.area_id
"""

CELL_KEYS = ["area_code", "distance_band", "year", "band"]
PATTERN_KEYS = [
    "distance_band", *COVARIATES, "located", "latitude", "longitude", "year",
]  # fmt: skip
_ALL_KEYS = list(dict.fromkeys([*CELL_KEYS, *PATTERN_KEYS]))


def cells_sql(outcomes: int, acute_codes: int) -> str:
    """Both groupings in one pass over the resident-years (GROUPING SETS): ``pattern`` = 0 for
    the rates' cells, 1 for the exposure's covariate patterns; ``n`` the resident-years, then
    per outcome the resident-years with an event (parameters: the outcomes' code ids, then the
    ids of the acute respiratory codes)."""
    events = [
        f"COUNT(*) FILTER (WHERE %s = ANY(positive))::float8 AS e{j}" for j in range(outcomes)
    ]
    acute = " OR ".join(["%s = ANY(positive)"] * acute_codes) or "FALSE"
    return f"""
WITH cell AS ({RESIDENT_YEARS})
SELECT GROUPING(area_code) AS pattern, {", ".join(_ALL_KEYS)}, COUNT(*)::float8 AS n,
       {", ".join(events)}, COUNT(*) FILTER (WHERE {acute})::float8 AS acute
FROM cell
GROUP BY GROUPING SETS (({", ".join(CELL_KEYS)}), ({", ".join(PATTERN_KEYS)}))
"""


# The pollutant's annual mean per station with the station's coordinates: invalid measurements
# are not analysed; a value below the LOD counts as LOD/√2 as in the suite's exposure model (the
# biomonitoring convention of methods.md §6; the environment part's annual means use LOD/2, §8).
STATION_MEANS = """
SELECT s.code, s.latitude, s.longitude, EXTRACT(YEAR FROM m.sampled_on)::int AS year,
       AVG(CASE WHEN m.below_lod THEN m.lod / SQRT(2::float8) ELSE m.value END) AS mean
FROM surveys_measurement m
JOIN surveys_station s ON s.id = m.station_id
JOIN surveys_vocabularycode c ON c.id = m.pollutant_id
WHERE c.code = %s AND m.status <> 'invalid'
GROUP BY s.code, s.latitude, s.longitude, EXTRACT(YEAR FROM m.sampled_on)
ORDER BY s.code, year
"""

BOOLEAN_CODES = "SELECT id, code FROM surveys_vocabularycode WHERE kind = 'boolean' ORDER BY code"
CODE_IDS = "SELECT id FROM surveys_vocabularycode WHERE code = ANY(%s) ORDER BY code"
DATA_END = (
    "SELECT MAX(v.visited_on) FROM surveys_observation o JOIN surveys_visit v ON v.id = o.visit_id"
)


@dataclass
class Strata:
    """Resident-years and events per stratum: ``keys`` one row per stratum."""

    keys: pd.DataFrame
    person_years: np.ndarray  # (strata,)
    events: np.ndarray  # (strata, outcomes)


@dataclass
class Cells:
    """Resident-years and events per (area, distance band, year, age band) cell, per exposure
    covariate pattern (with the grid cell and year for the modelled pollutant), and the
    pollutant's station means."""

    keys: pd.DataFrame  # area_code, distance_band, year, band: one row per cell
    person_years: np.ndarray  # (cells,)
    events: np.ndarray  # (cells, outcomes)
    outcomes: list[str]
    data_end: Any  # datetime.date | None
    patterns: Strata  # keys PATTERN_KEYS
    stations: pd.DataFrame  # code, latitude, longitude, year, mean


def read_cells(conn: psycopg.Connection[Any]) -> Cells:
    with conn.cursor() as cursor:
        codes = cursor.execute(BOOLEAN_CODES).fetchall()
        acute = [row[0] for row in cursor.execute(CODE_IDS, (list(ACUTE_CODES),)).fetchall()]
        data_end = cursor.execute(DATA_END).fetchone()[0]  # type: ignore[index]
        ids: list[Any] = [*(row[0] for row in codes), *acute]
        events = [f"e{j}" for j in range(len(codes))] + ["acute"]
        frame = pd.DataFrame(
            cursor.execute(cells_sql(len(codes), len(acute)), ids).fetchall(),  # type: ignore[arg-type]
            columns=["pattern", *_ALL_KEYS, "n", *events],
        )
        stations = pd.DataFrame(
            cursor.execute(STATION_MEANS, (POLLUTANT,)).fetchall(),
            columns=["code", "latitude", "longitude", "year", "mean"],
        )
    pattern = frame["pattern"].to_numpy() == 1
    cells, patterns = frame[~pattern], frame[pattern]
    return Cells(
        cells[CELL_KEYS].astype({"band": int}).reset_index(drop=True),
        cells["n"].to_numpy(dtype=float),
        cells[events].to_numpy(dtype=float),
        [*(str(row[1]) for row in codes), ACUTE],
        data_end,
        Strata(
            patterns[PATTERN_KEYS].reset_index(drop=True),
            patterns["n"].to_numpy(dtype=float),
            patterns[events].to_numpy(dtype=float),
        ),
        stations.astype({"latitude": float, "longitude": float, "mean": float}),
    )


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
    return y, lower, upper, np.asarray(present.all(axis=1))


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
        np.add.at(events.transpose(0, 2, 1), (codes, bands), cells.events)  # a view
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


# --- exposure (docs/methods.md §2, §3, §7) ------------------------------------------------------


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


def haversine_km(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Great-circle distances (km), (len(lat1), len(lat2)), sphere of the IUGG mean radius."""
    p1, p2 = np.radians(lat1)[:, None], np.radians(lat2)[None, :]
    dlon = np.radians(lon2)[None, :] - np.radians(lon1)[:, None]
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def idw_matrix(
    lat: np.ndarray,
    lon: np.ndarray,
    station_lat: np.ndarray,
    station_lon: np.ndarray,
    values: np.ndarray,
) -> np.ndarray:
    """IDW (methods.md §7) at every point for every column of ``values`` (stations × k, NaN
    where a station has no value, e.g. a year it did not measure): Σ d⁻ᵖ c / Σ d⁻ᵖ over the
    stations within the radius; a station within 1 m gives its value (the mean of several);
    NaN with no station in the radius. Points × k, in a few matrix products."""
    d = haversine_km(lat, lon, station_lat, station_lon)
    have = (~np.isnan(values)).astype(float)
    value = np.where(np.isnan(values), 0.0, values)
    close = (d < COINCIDENT_KM).astype(float)
    far_enough = (d <= IDW_RADIUS_KM) & (d >= COINCIDENT_KM)
    weight = np.zeros_like(d)
    weight[far_enough] = d[far_enough] ** -IDW_POWER
    with np.errstate(divide="ignore", invalid="ignore"):
        at_station = (close @ value) / (close @ have)
        weighted = (weight @ value) / (weight @ have)
    return np.where(close @ have > 0, at_station, np.where(weight @ have > 0, weighted, np.nan))


def pollutant_levels(patterns: Strata, stations: pd.DataFrame) -> np.ndarray:
    """The modelled pollutant per pattern (its grid cell and year) in units of POLLUTANT_PER,
    rounded to 1/100 of the unit as the suite does; NaN where it cannot be modelled. IDW once
    per distinct grid cell, for all years at once."""
    keys = patterns.keys
    level = np.full(len(keys), np.nan)
    located = keys["located"].to_numpy(dtype=bool)
    if stations.empty or not located.any():
        return level
    means = stations.pivot_table(index="code", columns="year", values="mean", aggfunc="first")
    where = stations.drop_duplicates("code").set_index("code").loc[means.index]
    points, point_of = np.unique(
        keys.loc[located, ["latitude", "longitude"]].to_numpy(dtype=float),
        axis=0,
        return_inverse=True,
    )
    grid = idw_matrix(
        points[:, 0],
        points[:, 1],
        where["latitude"].to_numpy(dtype=float),
        where["longitude"].to_numpy(dtype=float),
        means.to_numpy(dtype=float),
    )  # (points, years measured)
    year_of = pd.Index(means.columns).get_indexer(keys.loc[located, "year"].to_numpy())
    value = np.where(year_of >= 0, grid[point_of.reshape(-1), np.maximum(year_of, 0)], np.nan)
    level[located] = np.round(value / POLLUTANT_PER, 2)
    return level


class NotEstimable(ValueError):
    """A model the suite does not report (no events, a missing reference level, θ → 0)."""


class NoOverdispersion(NotEstimable):
    """The NB2 likelihood is highest at θ = ∞, i.e. at the Poisson model: the LR statistic is 0."""


def treatment_design(frame: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Intercept and treatment dummies against REFERENCE_LEVELS (default: the first level in
    sorted order), labelled ``covariate=level``; numeric covariates as they are (methods.md §3)."""
    columns, names = [np.ones(len(frame))], ["(intercept)"]
    for covariate in covariates:
        values = frame[covariate]
        if pd.api.types.is_numeric_dtype(values.dtype):
            columns.append(values.to_numpy(dtype=float))
            names.append(covariate)
            continue
        levels = sorted(values.unique().tolist())
        reference = REFERENCE_LEVELS.get(covariate, levels[0])
        if reference not in levels:
            raise NotEstimable(f"reference level {reference!r} of {covariate} absent")
        as_text = values.to_numpy()
        for level in levels:
            if level != reference:
                columns.append((as_text == level).astype(float))
                names.append(f"{covariate}={level}")
    return np.column_stack(columns), names


@dataclass
class RateModel:
    family: str
    params: np.ndarray
    bse: np.ndarray
    names: list[str]
    theta: float | None = None


def _glm(y: np.ndarray, x: np.ndarray, offset: np.ndarray, alpha: float | None) -> Any:
    family = sm.families.Poisson() if alpha is None else sm.families.NegativeBinomial(alpha=alpha)
    return sm.GLM(y, x, family=family, offset=offset).fit()


def _nb_irls(
    y: np.ndarray, x: np.ndarray, offset: np.ndarray, theta: float, beta: np.ndarray
) -> np.ndarray:
    """NB2 coefficients at a fixed θ (log link), Fisher scoring from ``beta`` to convergence."""
    for _ in range(200):
        mu = np.exp(x @ beta + offset)
        w = mu / (1 + mu / theta)
        step = np.linalg.solve(x.T @ (w[:, None] * x), x.T @ (w * (y - mu) / mu))
        beta = beta + step
        if np.max(np.abs(step)) <= 1e-13 * max(1.0, float(np.max(np.abs(beta)))):
            break
    return beta


def _theta_score(theta: float, y: np.ndarray, mu: np.ndarray) -> float:
    """∂ℓ/∂θ of the NB2 log-likelihood at fixed means."""
    return float(
        np.sum(
            special.digamma(y + theta)
            - special.digamma(theta)
            - np.log1p(mu / theta)
            + (mu - y) / (mu + theta)
        )
    )


def _theta_ml(y: np.ndarray, mu: np.ndarray, start: float) -> float:
    """The θ that maximises the NB2 likelihood at fixed means (MASS::theta.ml's equation,
    solved to machine precision with Brent's method on log θ)."""
    lo, hi = math.log(start) - 1.0, math.log(start) + 1.0
    while _theta_score(math.exp(lo), y, mu) <= 0:
        lo -= 2.0
        if lo < -30:
            raise NotEstimable("negative binomial θ → 0")
    while _theta_score(math.exp(hi), y, mu) >= 0:
        hi += 2.0
        if hi > 30:
            raise NoOverdispersion("negative binomial θ → ∞")
    return math.exp(
        optimize.brentq(lambda t: _theta_score(math.exp(t), y, mu), lo, hi, xtol=1e-15, rtol=1e-15)
    )


def _nb_loglik(y: np.ndarray, mu: np.ndarray, theta: float) -> float:
    return float(
        np.sum(
            special.gammaln(y + theta)
            - special.gammaln(theta)
            - special.gammaln(y + 1)
            + theta * np.log(theta / (theta + mu))
            + y * np.log(mu / (theta + mu))
        )
    )


def negative_binomial_theta(
    y: np.ndarray, x: np.ndarray, offset: np.ndarray, beta: np.ndarray
) -> tuple[float, float]:
    """θ by maximum likelihood as MASS::glm.nb does it: alternate θ's ML equation at the fitted
    means and the coefficients' IRLS at θ until θ stops moving, from the Poisson fit ``beta``.
    Returns θ and the maximised log-likelihood. θ = ∞ (no overdispersion: the likelihood's
    slope in 1/θ at the Poisson fit, ½Σ[(y − μ)² − y], is not positive) is NoOverdispersion."""
    mu = np.exp(x @ beta + offset)
    if np.sum((y - mu) ** 2 - y) <= 0:
        raise NoOverdispersion("negative binomial θ → ∞")
    theta = _theta_ml(y, mu, len(y) / float(np.sum((y / mu - 1) ** 2)))
    for _ in range(100):
        beta = _nb_irls(y, x, offset, theta, beta)
        mu = np.exp(x @ beta + offset)
        previous, theta = theta, _theta_ml(y, mu, theta)
        if abs(theta - previous) <= 1e-13 * theta:
            break
    return theta, _nb_loglik(y, mu, theta)


def rate_model(
    y: np.ndarray, person_years: np.ndarray, x: np.ndarray, names: list[str]
) -> RateModel:
    """log E[y] = log T + Xβ, family chosen by the rule of methods.md §3 (family=auto): Poisson,
    or NB2 when the Pearson dispersion exceeds 1.5 and the boundary LR test of θ = ∞ (½χ²₁)
    has p < 0.05. The fits themselves are statsmodels' IRLS (R glm's algorithm)."""
    if y.sum() == 0:
        raise NotEstimable("no events")
    offset = np.log(person_years)
    poisson = _glm(y, x, offset, None)
    beta = np.asarray(poisson.params, dtype=float)
    n, p = x.shape
    mu = person_years * np.exp(x @ beta)
    dispersion = float(np.sum((y - mu) ** 2 / mu)) / (n - p) if n > p else math.nan
    if dispersion > DISPERSION_THRESHOLD:
        try:
            theta, loglik_nb = negative_binomial_theta(y, x, offset, beta)
        except NoOverdispersion:  # LR = 0: methods.md's rule keeps the Poisson fit
            return RateModel("poisson", beta, np.asarray(poisson.bse, dtype=float), names)
        lr = 2 * (loglik_nb - float(np.sum(stats.poisson.logpmf(y, mu))))
        if lr > 0 and 0.5 * float(stats.chi2.sf(lr, 1)) < NB_LR_ALPHA:
            nb = _glm(y, x, offset, 1.0 / theta)
            return RateModel(
                "negative_binomial",
                np.asarray(nb.params, dtype=float),
                np.asarray(nb.bse, dtype=float),
                names,
                theta,
            )
    return RateModel("poisson", beta, np.asarray(poisson.bse, dtype=float), names)


def wald_ratio(model: RateModel, term: str, conf: float) -> dict[str, float] | None:
    """exp(β) of ``term`` with its Wald interval and two-sided p (R confint.default)."""
    if term not in model.names:
        return None
    k = model.names.index(term)
    b, se = float(model.params[k]), float(model.bse[k])
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    with np.errstate(over="ignore"):
        estimate, lower, upper = np.exp([b, b - z * se, b + z * se])
    return {
        "estimate": float(estimate),
        "ci_lower": float(lower),
        "ci_upper": float(upper),
        "p_value": float(2 * stats.norm.sf(abs(b / se))),
    }


UNBOUNDED_LOG_RR = 50.0  # methods.md §3: a limit beyond e⁵⁰ across the scores is unbounded


def score_statistic(b: float, y: np.ndarray, t: np.ndarray, s: np.ndarray) -> float:
    """The score z of slope ``b`` in log E[y_j] = log T_j + a + b s_j, a profiled out: means
    ∝ T_j e^{b s_j} summing to Σy, U = Σ s (y − μ), I = Σ s²μ − (Σ sμ)²/Σμ, z = U/√I."""
    log_w = np.log(t) + b * s
    w = np.exp(log_w - log_w.max())
    mu = y.sum() * w / w.sum()
    information = float(np.sum(s * s * mu) - np.sum(s * mu) ** 2 / np.sum(mu))
    return float(np.sum(s * (y - mu))) / math.sqrt(information) if information > 0 else 0.0


def score_trend(y: np.ndarray, t: np.ndarray, s: np.ndarray, conf: float) -> dict[str, Any]:
    """Score test for a trend in log rates (methods.md §3): RR per score unit exp(b̂), p from
    χ² = z(0)², the interval every slope whose |z| ≤ z_{1−α/2} (Brent's method), unbounded
    beyond e⁵⁰ across the scores; b̂ solves z(b) = 0 and does not exist when the events' mean
    score is at an end of the scores (estimate ∞ or 0, flag estimate_unbounded)."""
    bound = UNBOUNDED_LOG_RR / float(s.max() - s.min())
    zq = float(stats.norm.ppf(1 - (1 - conf) / 2))

    def slope_at(target: float) -> float:  # z decreases in the slope
        if score_statistic(-bound, y, t, s) < target:
            return -math.inf
        if score_statistic(bound, y, t, s) > target:
            return math.inf
        return float(
            optimize.brentq(
                lambda b: score_statistic(b, y, t, s) - target,
                -bound,
                bound,
                xtol=1e-14,
                rtol=1e-13,
                maxiter=500,
            )
        )

    mean_score = float(np.sum(y * s) / y.sum())
    unbounded = not s.min() < mean_score < s.max()
    if unbounded:
        estimate = math.inf if mean_score >= s.max() else 0.0
    else:
        estimate = math.exp(slope_at(0.0))
    return {
        "estimate": estimate,
        "ci_lower": math.exp(slope_at(zq)),
        "ci_upper": math.exp(slope_at(-zq)),
        "p_value": float(stats.chi2.sf(score_statistic(0.0, y, t, s) ** 2, 1)),
        "numerator": float(y.sum()),
        "denominator": float(t.sum()),
        "flags": "estimate_unbounded" if unbounded else "",
    }


def _grouped(keys: pd.DataFrame, strata: Strata, mask: np.ndarray) -> pd.DataFrame:
    """Person-years and events summed per distinct row of ``keys`` (sorted) over ``mask``."""
    frame = keys[mask].reset_index(drop=True)
    sums = pd.DataFrame(
        np.column_stack([strata.person_years[mask], strata.events[mask]]),
        columns=["person_years", *(f"events_{j}" for j in range(strata.events.shape[1]))],
    )
    return (
        pd.concat([frame, sums], axis=1).groupby(list(keys.columns), sort=True).sum().reset_index()
    )


def reference_exposure(cells: Cells) -> pd.DataFrame:
    """Every row of the suite's exposure part over the known distance bands: crude rate ratios
    near and middle vs far (R poisson.test(c(x1, x0), c(T1, T0))), adjusted rate ratios near
    and middle (rate_model on the covariate patterns: distance band, age group, sex, smoking,
    works at the site), the score trend across far/middle/near (scores 0, 1, 2) and the
    adjusted rate ratio per POLLUTANT_PER of the modelled pollutant (rate_model on the patterns
    of level and the same covariates)."""
    patterns = cells.patterns
    band = patterns.keys["distance_band"].to_numpy()
    known = band != "unknown"
    years = patterns.keys["year"].to_numpy()[known]
    period = f"{int(years.min())}-{int(years.max())}" if len(years) else ""
    pt = {b: float(patterns.person_years[band == b].sum()) for b in ("far", "middle", "near")}
    ev = {b: patterns.events[band == b].sum(axis=0) for b in ("far", "middle", "near")}
    totals = patterns.events[known].sum(axis=0)
    covariates = list(COVARIATES)
    banded = _grouped(patterns.keys[["distance_band", *covariates]], patterns, known)
    try:
        banded_design: tuple[np.ndarray, list[str]] | None = treatment_design(
            banded, ["distance_band", *covariates]
        )
    except NotEstimable:
        banded_design = None
    level = pollutant_levels(patterns, cells.stations)
    with_level = known & ~np.isnan(level)
    levelled_design = None
    if patterns.person_years[with_level].sum() > MIN_LEVELLED_RESIDENT_YEARS:
        levelled = _grouped(
            patterns.keys[covariates].assign(pollutant_level=level)[
                ["pollutant_level", *covariates]
            ],
            patterns,
            with_level,
        )
        try:
            levelled_design = (
                levelled,
                treatment_design(levelled, ["pollutant_level", *covariates]),
            )
        except NotEstimable:
            levelled_design = None
    per_level = f"adjusted_rate_ratio_per_{POLLUTANT_PER:g}_{POLLUTANT}"
    alpha = 1 - CONF
    scores = np.array([0.0, 1.0, 2.0])
    rows: list[dict[str, Any]] = []

    def row(outcome: str, stratum: str, measure: str, **values: Any) -> None:
        rows.append(
            {
                "analysis": "exposure_response",
                "outcome": outcome,
                "area_code": ALL,
                "period": period,
                "stratum": stratum,
                "measure": measure,
                "numerator": np.nan,
                "denominator": np.nan,
                "flags": "",
                **values,
            }
        )

    for j, outcome in enumerate(cells.outcomes):
        if totals[j] == 0:
            continue
        x0, t0 = float(ev["far"][j]), pt["far"]
        for name in ("near", "middle"):
            x1, t1 = float(ev[name][j]), pt[name]
            if t1 == 0 or t0 == 0 or x0 == 0:
                continue
            n = x1 + x0
            p_lo = 0.0 if x1 == 0 else float(stats.beta.ppf(alpha / 2, x1, n - x1 + 1))
            p_hi = float(stats.beta.ppf(1 - alpha / 2, x1 + 1, n - x1))
            row(
                outcome,
                f"distance_band={name}",
                "crude_rate_ratio",
                estimate=(x1 / t1) / (x0 / t0),
                ci_lower=p_lo / (1 - p_lo) * t0 / t1,
                ci_upper=p_hi / (1 - p_hi) * t0 / t1,
                numerator=x1,
                denominator=x0,
                p_value=binom_two_sided(int(x1), int(n), t1 / (t1 + t0)),
            )
        model = None
        if banded_design is not None:
            try:
                model = rate_model(
                    banded[f"events_{j}"].to_numpy(dtype=float),
                    banded["person_years"].to_numpy(dtype=float),
                    *banded_design,
                )
            except NotEstimable:
                model = None  # the suite reports crude ratios only
        for name in ("near", "middle"):
            ratio = wald_ratio(model, f"distance_band={name}", CONF) if model else None
            if model and ratio:
                row(
                    outcome,
                    f"distance_band={name}",
                    "adjusted_rate_ratio",
                    flags=f"family={model.family}",
                    **ratio,
                )
        if min(pt.values()) > 0:
            y = np.array([ev[b][j] for b in ("far", "middle", "near")], dtype=float)
            t = np.array([pt[b] for b in ("far", "middle", "near")])
            row(
                outcome,
                "distance_band_trend",
                "rate_ratio_per_score_unit",
                **score_trend(y, t, scores, CONF),
            )
        if levelled_design is not None:
            frame, (x, names) = levelled_design
            try:
                model = rate_model(
                    frame[f"events_{j}"].to_numpy(dtype=float),
                    frame["person_years"].to_numpy(dtype=float),
                    x,
                    names,
                )
            except NotEstimable:
                continue
            ratio = wald_ratio(model, "pollutant_level", CONF)
            if ratio:
                row(outcome, f"modelled_{POLLUTANT}", per_level, **ratio)
    return pd.DataFrame(rows, columns=COLUMNS)


REFERENCE: dict[str, Callable[[Cells], pd.DataFrame]] = {
    "rates": reference_rates,
    "trends": reference_trends,
    "exposure": reference_exposure,
}
COVERED: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "rates": lambda f: pd.Series(True, index=f.index),
    "trends": lambda f: f["measure"] == "apc_percent_per_year",
    "exposure": lambda f: pd.Series(True, index=f.index),
}


_BLAS: list[ThreadpoolController] = []


def run_reference(
    conn: psycopg.Connection[Any],
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Times: the read (one statement for the three parts' strata, one for the stations'
    means) and each part's computation, BLAS on one thread as the suite's parts run (its small
    least-squares solves only oversubscribe the cores with more)."""
    if not _BLAS:  # looking the libraries up takes tens of ms: once, not timed
        _BLAS.append(ThreadpoolController())
    seconds: dict[str, float] = {}
    with _BLAS[0].limit(limits=1, user_api="blas"):
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
            "exposure": (
                "every row (crude and adjusted rate ratios, distance-band trend, rate ratio per "
                f"{POLLUTANT_PER:g} of modelled {POLLUTANT})"
            ),
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
