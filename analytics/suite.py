"""The standard analysis suite: what every run computes, in independent parts.

Each part is a function (datasets, parameters) → PartOutput(rows, alerts) that calls the pure
methods of analytics.stats and returns tidy rows (ARCHITECTURE.md's result contract). Parts are
independent so Celery can fan them out to as many workers as there are.

Definitions used throughout (docs/methods.md has the formulas):
- *resident-year*: a resident with at least one visit in a calendar year. It is the unit of the
  surveillance denominators: residents are a sample of the area population, so rates are per
  1,000 resident-years under observation, not per population.
- an *event* for a yes/no outcome: at least one positive observation in the resident-year.
- *distance band*: near (< near_km), middle, far (≥ far_km) from the nearest production site.
- *acute respiratory*: a new diagnosis dx.J06 or dx.J20; counted per Monday-start week and area
  for aberration detection.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import wraps
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from analytics.extraction import ACUTE_CODES, ACUTE_RESPIRATORY, Datasets, ResidentYearIndex
from analytics.stats import (
    aberration,
    biomonitoring,
    environment,
    periods,
    rates,
    regression,
    scan,
    trends,
)
from analytics.stats.comparisons import rate_ratio_exact
from analytics.stats.errors import StatsInputError
from analytics.stats.exposure import idw
from analytics.stats.results import ROW_COLUMNS, Estimate, to_frame
from analytics.stats.standard_populations import AGE_BANDS

KIND = "standard_suite"
VERSION = "2026.12.3"  # .2: complete periods, low person-time; .3: DSR rows name their standard
ROW_FIELDS: tuple[str, ...] = ROW_COLUMNS
ALL_AREAS = "ALL"
DISTANCE_BANDS = ("near", "middle", "far")

DEFAULT_PARAMETERS: dict[str, Any] = {
    "near_km": 2.0,
    "far_km": 8.0,
    "per": 1000.0,
    "standard": "who_world_2000_2025",
    "pollutant": "pm10",
    "pollutant_per": 10.0,
    "conf": 0.95,
    # Aberration detection: Farrington flexible with Noufaily (2013) settings, the negative
    # binomial plug-in threshold and a weekly false-alarm probability of 0.5 % (Noufaily et al.
    # evaluated their method at α = 0.005); EARS C2 for short histories (see docs/methods.md).
    "aberration_alpha": 0.005,
    "aberration_threshold": "nbPlugin",
    # Optional GLR Poisson CUSUM for slow rises (Höhle & Paul 2008), off by default: it adds
    # alerts of its own, and its threshold (c.ARL = 5) was not tuned on this community.
    "aberration_glr": False,
    # Spatial scan (Kulldorff 1997): windows up to half the resident-years (Kulldorff's and
    # SaTScan's default), 999 Monte Carlo replications with a fixed seed (reproducible runs),
    # clusters reported as significant at α = 0.05.
    "scan_max_share": scan.DEFAULT_MAX_POPULATION_SHARE,
    "scan_replications": scan.DEFAULT_REPLICATIONS,
    "scan_alpha": 0.05,
    # The data end date (ISO): periods ending after it are incomplete. None: the latest visit
    # date among the records analysed (docs/methods.md, "Complete and incomplete periods").
    "data_end": None,
}


class ParameterError(ValueError):
    pass


def clean_parameters(given: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, types and ranges checked; unknown names refused."""
    unknown = set(given) - set(DEFAULT_PARAMETERS)
    if unknown:
        raise ParameterError(f"unknown parameters: {', '.join(sorted(unknown))}")
    cleaned = {**DEFAULT_PARAMETERS, **given}
    try:
        for name in ("near_km", "far_km", "per", "pollutant_per", "conf"):
            cleaned[name] = float(cleaned[name])
    except (TypeError, ValueError) as error:
        raise ParameterError(f"parameters must be numbers: {error}") from None
    if not 0 < cleaned["near_km"] < cleaned["far_km"]:
        raise ParameterError("near_km must be positive and below far_km")
    if not 0.5 <= cleaned["conf"] < 1:
        raise ParameterError("conf must be between 0.5 and 1")
    if cleaned["per"] <= 0 or cleaned["pollutant_per"] <= 0:
        raise ParameterError("per and pollutant_per must be positive")
    if cleaned["standard"] not in ("who_world_2000_2025", "us_2000"):
        raise ParameterError("standard must be who_world_2000_2025 or us_2000")
    try:
        cleaned["aberration_alpha"] = float(cleaned["aberration_alpha"])
    except (TypeError, ValueError):
        raise ParameterError("aberration_alpha must be a number") from None
    if not 0 < cleaned["aberration_alpha"] < 0.5:
        raise ParameterError("aberration_alpha must be between 0 and 0.5")
    if cleaned["aberration_threshold"] not in ("delta", "nbPlugin", "muan"):
        raise ParameterError("aberration_threshold must be delta, nbPlugin or muan")
    glr = cleaned["aberration_glr"]
    if isinstance(glr, str) and glr.lower() in ("true", "false"):
        glr = glr.lower() == "true"
    if not isinstance(glr, bool):
        raise ParameterError("aberration_glr must be true or false")
    cleaned["aberration_glr"] = glr
    try:
        cleaned["scan_max_share"] = float(cleaned["scan_max_share"])
        cleaned["scan_alpha"] = float(cleaned["scan_alpha"])
        replications = cleaned["scan_replications"]
        if isinstance(replications, bool) or float(replications) != int(replications):
            raise ValueError(replications)
        cleaned["scan_replications"] = int(replications)
    except (TypeError, ValueError):
        raise ParameterError(
            "scan_max_share and scan_alpha must be numbers, scan_replications a whole number"
        ) from None
    if not 0 < cleaned["scan_max_share"] <= 0.5:
        raise ParameterError("scan_max_share must be above 0 and at most 0.5")
    if not 99 <= cleaned["scan_replications"] <= 99_999:
        raise ParameterError("scan_replications must be between 99 and 99999")
    if not 0 < cleaned["scan_alpha"] < 0.5:
        raise ParameterError("scan_alpha must be between 0 and 0.5")
    data_end = cleaned["data_end"]
    if data_end in (None, ""):
        cleaned["data_end"] = None
    else:
        try:
            day = data_end if isinstance(data_end, dt.date) else dt.date.fromisoformat(data_end)
        except (TypeError, ValueError):
            raise ParameterError("data_end must be a date (YYYY-MM-DD) or empty") from None
        cleaned["data_end"] = day.isoformat()
    return cleaned


@dataclass(frozen=True)
class AlertCandidate:
    outcome: str
    area_code: str
    week: Any  # datetime.date
    method: str
    observed: float
    expected: float
    upper_bound: float


@dataclass
class PartOutput:
    rows: pd.DataFrame
    alerts: list[AlertCandidate] = field(default_factory=list)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(ROW_COLUMNS))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def age_band_of(age: pd.Series) -> pd.Series:
    index = np.clip(age.to_numpy() // 5, 0, len(AGE_BANDS) - 1).astype(int)
    return pd.Series(pd.Categorical.from_codes(index, categories=list(AGE_BANDS)), index=age.index)


def distance_band_of(distance: pd.Series, params: dict[str, Any]) -> pd.Series:
    band = np.where(
        distance < params["near_km"],
        "near",
        np.where(distance >= params["far_km"], "far", "middle"),
    )
    band = np.where(distance.isna(), "unknown", band)
    return pd.Series(band, index=distance.index)


def boolean_outcomes(data: Datasets) -> list[str]:
    codes = data.codes
    return sorted(codes.loc[codes["kind"] == "boolean", "code"].astype(str))


def resident_years(data: Datasets, params: dict[str, Any]) -> pd.DataFrame:
    """One row per resident and calendar year with a visit; an events column per outcome.

    Built from the resident-year index kept with the datasets; the frame is the one the
    pandas grouping of the observations (_resident_years_grouped) gives, which is used when the
    index cannot stand for it (observations not in extraction order, or positive observations
    of codes that are not yes/no outcomes)."""
    index = data.resident_year_index()
    outcomes = boolean_outcomes(data)
    if not _index_stands_for_frame(index, outcomes):
        return _resident_years_grouped(data, params)
    out = pd.DataFrame({"resident_id": index.resident_id, "year": index.year})
    columns = {}
    for k, code in enumerate(index.codes):  # sorted, as the pivot of positive codes sorts them
        column = np.zeros(len(out), dtype=np.int8)
        column[index.positive_ry[index.positive_code == k]] = 1
        columns[code] = column
    out = pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)
    for code in outcomes:
        if code not in out:
            out[code] = np.int8(0)
    return _with_resident_info(out, data.residents.iloc[index.resident_row], params)


def _index_stands_for_frame(index: ResidentYearIndex, outcomes: list[str]) -> bool:
    """Whether the resident-year index gives what grouping the observations gives: it has
    resident-years, they came in extraction order, and every positive code is an outcome."""
    return bool(len(index.year)) and index.observations_sorted and set(index.codes) <= set(outcomes)


def _resident_years_grouped(data: Datasets, params: dict[str, Any]) -> pd.DataFrame:
    """resident_years() by grouping the observations with pandas."""
    obs = data.observations
    residents = data.residents.set_index("resident_id")
    years = obs["visited_on"].dt.year.astype("int32")
    frame = pd.DataFrame({"resident_id": obs["resident_id"].to_numpy(), "year": years.to_numpy()})
    base = frame.drop_duplicates().reset_index(drop=True)
    boolean = obs["value_boolean"].fillna(False).astype(bool).to_numpy()
    positives = pd.DataFrame(
        {
            "resident_id": obs["resident_id"].to_numpy()[boolean],
            "year": years.to_numpy()[boolean],
            "code": obs["code"].astype(str).to_numpy()[boolean],
        }
    ).drop_duplicates()
    wide = (
        positives.assign(event=1)
        .pivot_table(index=["resident_id", "year"], columns="code", values="event", fill_value=0)
        .reset_index()
    )
    out = base.merge(wide, on=["resident_id", "year"], how="left")
    for code in boolean_outcomes(data):
        out[code] = out[code].fillna(0).astype(np.int8) if code in out else np.int8(0)
    return _with_resident_info(out, residents.loc[out["resident_id"]], params)


def _with_resident_info(
    out: pd.DataFrame, info: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """The resident-year frame's acute respiratory events and its residents' columns (``info``:
    the residents' rows, one per resident-year)."""
    acute = [c for c in ACUTE_CODES if c in out]
    out[ACUTE_RESPIRATORY] = out[acute].max(axis=1).astype(np.int8) if acute else np.int8(0)
    out["area_code"] = info["area_code"].astype(str).to_numpy()
    out["sex"] = info["sex"].astype(str).to_numpy()
    out["smoking"] = info["smoking"].astype(str).to_numpy()
    out["works_at_site"] = np.where(info["works_at_site"].to_numpy(), "yes", "no")
    out["distance_km"] = info["distance_km"].to_numpy()
    out["grid_latitude"] = info["grid_latitude"].to_numpy()
    out["grid_longitude"] = info["grid_longitude"].to_numpy()
    out["age"] = out["year"] - info["birth_year"].to_numpy()
    out["age_band"] = age_band_of(out["age"]).astype(str)
    out["distance_band"] = distance_band_of(out["distance_km"], params)
    out["person_years"] = 1.0
    return out


def outcomes_of(data: Datasets) -> list[str]:
    return [*boolean_outcomes(data), ACUTE_RESPIRATORY]


def data_end_of(data: Datasets, params: dict[str, Any] | None = None) -> dt.date | None:
    """The run's data end date: the one given with the run (parameter ``data_end``), else the
    latest visit date among the extracted records. Periods ending after it are incomplete
    (analytics.stats.periods, docs/methods.md)."""
    given = (params or {}).get("data_end")
    if given:
        return dt.date.fromisoformat(str(given))
    return data.resident_year_index().last_visit


def _add_flag(flags: str, flag: str) -> str:
    return ";".join(f for f in (flags, flag) if f)


def flag_periods(frame: pd.DataFrame, data_end: dt.date | None) -> pd.DataFrame:
    """Rate rows of an incomplete year flagged ``partial_period``; rates on fewer resident-years
    than periods.MIN_PERSON_YEARS withheld (estimate and interval empty, flag
    ``low_person_time``; the events and resident-years stay)."""
    if frame.empty:
        return frame
    frame = frame.copy()
    complete = {p: periods.year_complete(int(p), data_end) for p in frame["period"].unique()}
    incomplete = ~frame["period"].map(complete).astype(bool)
    frame.loc[incomplete, "flags"] = [
        _add_flag(f, periods.PARTIAL_PERIOD) for f in frame.loc[incomplete, "flags"]
    ]
    low = frame["denominator"].astype(float) < periods.MIN_PERSON_YEARS
    frame.loc[low, ["estimate", "ci_lower", "ci_upper"]] = np.nan
    frame.loc[low, "flags"] = [
        _add_flag(f, periods.LOW_PERSON_TIME) for f in frame.loc[low, "flags"]
    ]
    return frame


# --- resident-year cells (rates, trends) -------------------------------------------------------

# The distance bands in the order a group-by on their names sorts them.
_DISTANCE_ORDER = ("far", "middle", "near", "unknown")


def _outcome_events(data: Datasets, outcomes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(resident-year, outcome) pairs with an event, for ``outcomes`` = outcomes_of(data)
    (acute respiratory: a positive observation of any of ACUTE_CODES), from the datasets'
    resident-year index."""
    index = data.resident_year_index()
    column = {code: j for j, code in enumerate(outcomes[:-1])}
    to_outcome = np.array([column.get(code, -1) for code in index.codes], dtype=np.intp)
    outcome = to_outcome[index.positive_code]
    keep = outcome >= 0
    acute = index.derived[ACUTE_RESPIRATORY]
    ry = np.concatenate([index.positive_ry[keep], acute])
    return ry, np.concatenate([outcome[keep], np.full(len(acute), len(outcomes) - 1)])


@dataclass(frozen=True)
class _Cells:
    """Resident-years and events per area × distance band × year × age band, dense arrays:
    ``person_years[a, d, y, b]`` and ``events[a, d, y, b, outcome]`` (whole numbers)."""

    areas: list[str]  # sorted
    years: list[int]  # sorted
    person_years: np.ndarray
    events: np.ndarray


def _cells(data: Datasets, params: dict[str, Any], outcomes: list[str]) -> _Cells:
    """The resident-year index summed into cells: what resident_years() grouped by area,
    distance band, year and age band gives, without building the resident-year frame."""
    index = data.resident_year_index()
    residents = data.residents
    area = pd.Categorical(residents["area_code"])
    labels = np.asarray([str(c) for c in area.categories] + ["nan"], dtype=object)
    areas, area_of_label = np.unique(labels, return_inverse=True)  # sorted as text
    area_of = area_of_label.reshape(-1)[np.where(area.codes < 0, len(labels) - 1, area.codes)]
    distance = residents["distance_km"].to_numpy(dtype=float)
    band_of_distance = np.where(
        np.isnan(distance),
        3,
        np.where(distance < params["near_km"], 2, np.where(distance >= params["far_km"], 0, 1)),
    )
    years = np.unique(index.year)
    rows = index.resident_row
    age = index.year - residents["birth_year"].to_numpy()[rows]
    band = np.clip(age // 5, 0, len(AGE_BANDS) - 1).astype(np.intp)
    shape = (len(areas), len(_DISTANCE_ORDER), len(years), len(AGE_BANDS))
    cell = np.ravel_multi_index(
        (
            area_of.reshape(-1)[rows],
            band_of_distance[rows],
            np.searchsorted(years, index.year),
            band,
        ),
        shape,
    )
    size = int(np.prod(shape))
    ry, outcome = _outcome_events(data, outcomes)
    events = np.bincount(cell[ry] * len(outcomes) + outcome, minlength=size * len(outcomes))
    return _Cells(
        areas=[str(a) for a in areas],
        years=[int(y) for y in years],
        person_years=np.bincount(cell, minlength=size).astype(float).reshape(shape),
        events=events.astype(float).reshape(*shape, len(outcomes)),
    )


# --- part: rates --------------------------------------------------------------------------------


def part_rates(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """Crude and directly age-standardized rates per outcome × area × year, all areas, and
    by distance band. Resident-years summed once into cells (from the resident-year index
    kept with the datasets); the rates and their intervals of every scope and outcome computed
    over whole arrays; one frame at the end."""
    outcomes = outcomes_of(data)
    if not len(data.resident_year_index().year):  # no resident-years at all
        return PartOutput(_empty())
    cells = _cells(data, params, outcomes)
    py, ev = cells.person_years, cells.events
    years = [str(y) for y in cells.years]
    # scopes in the order of the rows: area × year, year (all areas), distance band × year
    blocks = [
        ("rates", py.sum(axis=1), ev.sum(axis=1), cells.areas, lambda a: a, lambda a: ""),
        ("rates", py.sum(axis=(0, 1))[None], ev.sum(axis=(0, 1))[None], [ALL_AREAS],
         lambda a: a, lambda a: ""),
        ("rates_by_distance", py.sum(axis=0), ev.sum(axis=0), list(_DISTANCE_ORDER),
         lambda d: ALL_AREAS, lambda d: f"distance_band={d}"),
    ]  # fmt: skip
    analysis_of, area_of, stratum_of, period_of, n_parts, x_parts = [], [], [], [], [], []
    for analysis, n, x, names, area, stratum in blocks:
        present = n.sum(axis=-1) > 0  # (names, years)
        for i, j in zip(*np.nonzero(present), strict=True):
            analysis_of.append(analysis)
            area_of.append(area(names[i]))
            stratum_of.append(stratum(names[i]))
            period_of.append(years[j])
        n_parts.append(n[present])  # (scopes, bands)
        x_parts.append(x[present])  # (scopes, bands, outcomes)
    scopes, width = len(analysis_of), len(outcomes)
    # one population per scope × outcome, outcome fastest
    x = np.concatenate(x_parts).transpose(0, 2, 1).reshape(scopes * width, len(AGE_BANDS))
    n = np.repeat(np.concatenate(n_parts), width, axis=0)
    per, conf = params["per"], params["conf"]
    crude = rates.crude_rate_arrays(x.sum(axis=1), n.sum(axis=1), per=per, conf=conf)
    dsr, complete = rates.direct_standardized_rate_arrays(
        x, n, params["standard"], AGE_BANDS, per=per, conf=conf
    )
    dsr_flags = [
        flags if full else (*flags, "partial_age_range")
        for flags, full in zip(dsr.flags, complete.tolist(), strict=True)
    ]

    def interleaved(first: Any, second: Any) -> np.ndarray:
        both = np.empty(2 * len(first), dtype=np.asarray(first).dtype)
        both[0::2], both[1::2] = first, second
        return both

    def per_row(values: list[str]) -> np.ndarray:  # one value per scope → one per row
        return np.repeat(np.asarray(values, dtype=object), 2 * width)

    count = 2 * scopes * width
    frame = pd.DataFrame(
        {
            "analysis": per_row(analysis_of),
            "outcome": np.tile(np.repeat(np.asarray(outcomes, dtype=object), 2), scopes),
            "area_code": per_row(area_of),
            "period": per_row(period_of),
            "stratum": per_row(stratum_of),
            "measure": np.tile(np.asarray([crude.measure, dsr.measure], dtype=object), count // 2),
            "estimate": interleaved(crude.estimate, dsr.estimate),
            "ci_lower": interleaved(crude.ci_lower, dsr.ci_lower),
            "ci_upper": interleaved(crude.ci_upper, dsr.ci_upper),
            "numerator": interleaved(crude.numerator, dsr.numerator),
            "denominator": interleaved(crude.denominator, dsr.denominator),
            "p_value": np.full(count, None, dtype=object),
            "flags": interleaved(
                np.asarray([";".join(f) for f in crude.flags], dtype=object),
                np.asarray([";".join(f) for f in dsr_flags], dtype=object),
            ),
        },
        columns=list(ROW_COLUMNS),
    )
    return PartOutput(flag_periods(frame, data_end_of(data, params)))


# --- part: trends -------------------------------------------------------------------------------


def part_trends(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """Annual percent change of each outcome's crude rate (all areas); joinpoint when long.
    Complete years only: a year the data does not yet cover would pull the fit (a few visits
    in January make a "year" of a handful of resident-years). Yearly sums from the resident-
    year index kept with the datasets."""
    data_end = data_end_of(data, params)
    if data_end is None:
        return PartOutput(_empty())
    index = data.resident_year_index()
    last = periods.last_complete_year(data_end)
    kept = [j for j, year in enumerate(index.years) if year <= last]
    years = [index.years[j] for j in kept]
    if len(years) < 3:
        return PartOutput(_empty())
    outcomes = outcomes_of(data)
    person_years = index.year_person_years[kept].astype(float)
    none = np.zeros(len(index.years), dtype=np.int64)
    events = np.stack([index.year_events.get(outcome, none)[kept] for outcome in outcomes])
    period = f"{years[0]}-{years[-1]}"
    annual = events.astype(float) / person_years * params["per"]
    fitted = [j for j in range(len(outcomes)) if not (annual[j] <= 0).any()]
    series = [annual[j].tolist() for j in fitted]
    apc = trends.annual_percent_changes(years, series, conf=params["conf"])
    rows = []
    for j, rates_j, estimate in zip(fitted, series, apc, strict=True):
        estimates = [estimate]
        if len(years) >= 7:
            estimates.append(trends.joinpoint(years, rates_j, conf=params["conf"]).aapc)
        rows += [
            e.to_row(analysis="trend", outcome=outcomes[j], area_code=ALL_AREAS, period=period)
            for e in estimates
        ]
    return PartOutput(pd.DataFrame(rows, columns=list(ROW_COLUMNS)) if rows else _empty())


# --- part: exposure–response --------------------------------------------------------------------


def _station_annual_means(data: Datasets, pollutant: str) -> pd.DataFrame:
    m = data.measurements
    m = m[m["pollutant"].astype(str) == pollutant]
    if m.empty:
        return pd.DataFrame(columns=["station_code", "year", "mean"])
    conc = np.where(m["below_lod"], m["lod"] / math.sqrt(2), m["value"])
    frame = pd.DataFrame(
        {"station_code": m["station_code"].astype(str), "year": m["sampled_on"].dt.year, "c": conc}
    )
    return (
        frame.groupby(["station_code", "year"], as_index=False)["c"]
        .mean()
        .rename(columns={"c": "mean"})
    )


def _year_idw(
    means: pd.DataFrame, stations: pd.DataFrame, year: int, points: np.ndarray
) -> np.ndarray | None:
    """The IDW of ``year``'s station means (``_station_annual_means``; ``stations`` indexed by
    code) at each point (rows of latitude, longitude); None when no station was measured."""
    year_means = means[means["year"] == year]
    if year_means.empty:
        return None
    station_rows = stations.loc[year_means["station_code"]]
    return idw(
        points[:, 0].tolist(),
        points[:, 1].tolist(),
        station_rows["latitude"].tolist(),
        station_rows["longitude"].tolist(),
        year_means["mean"].tolist(),
    ).value


def modelled_pollutant(ry: pd.DataFrame, data: Datasets, params: dict[str, Any]) -> pd.Series:
    """IDW annual mean of the chosen pollutant at each resident-year's grid cell."""
    means = _station_annual_means(data, params["pollutant"])
    stations = data.stations.set_index("station_code")
    result = pd.Series(np.nan, index=ry.index)
    for year, group in ry.groupby("year"):
        located = group.dropna(subset=["grid_latitude", "grid_longitude"])
        if located.empty:
            continue
        # once per distinct grid cell (a few hundred), not per resident-year
        points, where = np.unique(
            located[["grid_latitude", "grid_longitude"]].to_numpy(dtype=float),
            axis=0,
            return_inverse=True,
        )
        value = _year_idw(means, stations, int(year), points)
        if value is not None:
            result.loc[located.index] = value[where.reshape(-1)]
    return result


# Adjustment set. Broad age groups rather than 5-year bands: rare outcomes have no events in
# many bands, which makes the band coefficients (and the fit) degenerate.
COVARIATES = ("age_group", "sex", "smoking", "works_at_site")
AGE_GROUPS = ((0, "0-14"), (15, "15-44"), (45, "45-64"), (65, "65+"))


def age_group_of(age: pd.Series) -> pd.Series:
    edges = [lo for lo, _ in AGE_GROUPS][1:]
    labels = np.array([label for _, label in AGE_GROUPS])
    return pd.Series(labels[np.searchsorted(edges, age.to_numpy(), side="right")], index=age.index)


def _aggregate(frame: pd.DataFrame, outcomes: list[str], keys: list[str]) -> pd.DataFrame:
    """Events of every outcome and person-years per covariate pattern, in one aggregation: the
    Poisson likelihood is unchanged and the fit is far faster than on one row per resident-year
    (each outcome is fitted on its column of the same frame)."""
    grouped = frame.groupby(keys, observed=True, sort=True)
    return grouped.agg(
        person_years=("person_years", "sum"), **{o: (o, "sum") for o in outcomes}
    ).reset_index()


REFERENCE = {"distance_band": "far", "sex": "F", "smoking": "never", "works_at_site": "no"}


@dataclass(frozen=True)
class ExposureStrata:
    """What the exposure part fits and counts, aggregated over the resident-years whose
    distance band is known: ``totals`` (events per outcome), ``by_band`` (events per band ×
    outcome) and ``band_sizes`` (resident-years per band); ``banded`` and ``levelled``:
    _aggregate's frames by distance band and by modelled pollutant level with the covariates
    (``levelled`` None when 50 resident-years or fewer have a level); ``period`` the years."""

    totals: pd.Series
    by_band: pd.DataFrame
    band_sizes: pd.Series
    banded: pd.DataFrame
    levelled: pd.DataFrame | None
    period: str


BANDED_KEYS = ["distance_band", *COVARIATES]
LEVEL_KEYS = ["pollutant_level", *COVARIATES]


def exposure_strata_grouped(data: Datasets, params: dict[str, Any]) -> ExposureStrata:
    """ExposureStrata by grouping the resident-year frame with pandas (the definition; used
    when the resident-year index cannot stand for the frame, see resident_years)."""
    ry = resident_years(data, params)
    ry = ry[ry["distance_band"] != "unknown"]
    ry = ry.assign(
        # Rounded to 1/100 of the unit (0.1 µg/m³ per 10 µg/m³): far below the model's
        # precision, and it keeps the number of covariate patterns (and the fit time) small.
        pollutant_level=(modelled_pollutant(ry, data, params) / params["pollutant_per"]).round(2),
        age_group=age_group_of(ry["age"]),
    )
    outcomes = outcomes_of(data)
    level = ry.dropna(subset=["pollutant_level"])
    return ExposureStrata(
        totals=ry[outcomes].sum(),
        by_band=ry.groupby("distance_band")[outcomes].sum(),
        band_sizes=ry.groupby("distance_band").size(),
        banded=_aggregate(ry, outcomes, BANDED_KEYS),
        levelled=_aggregate(level, outcomes, LEVEL_KEYS) if len(level) > 50 else None,
        period=_period(ry),
    )


def _ranked(labels: list[str], codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` (positions in ``labels``) as positions in the sorted labels, and those."""
    order = np.argsort(np.asarray(labels, dtype=object), kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[codes], np.asarray(labels, dtype=object)[order]


def _category_of(column: pd.Series) -> tuple[list[str], np.ndarray] | None:
    """A resident column's texts (as ``astype(str)`` writes them) and each row's position in
    them; None for a column with missing values (the grouped path's "nan" text stands)."""
    codes, uniques = pd.factorize(column, sort=False)
    if (codes < 0).any():
        return None
    return [str(u) for u in uniques], np.asarray(codes, dtype=np.int64)


def exposure_strata(data: Datasets, params: dict[str, Any]) -> ExposureStrata:
    """ExposureStrata from the resident-year index, over arrays: the covariates are coded once
    per resident and gathered per resident-year, every covariate pattern gets one integer key
    (the keys' sorted ranks, so its order is the grouped frame's), and events and
    resident-years are counted with bincount. The modelled pollutant is computed once per
    distinct grid cell and year. The same frames as exposure_strata_grouped (checked in
    tests/analytics/test_suite.py), without a resident-year DataFrame of text
    columns (at 100,000 residents the grouped path took ~1 s of the part's 1.2 s)."""
    index = data.resident_year_index()
    outcomes = outcomes_of(data)
    residents = data.residents
    if not _index_stands_for_frame(index, outcomes):
        return exposure_strata_grouped(data, params)
    sex, smoking = _category_of(residents["sex"]), _category_of(residents["smoking"])
    if sex is None or smoking is None:
        return exposure_strata_grouped(data, params)
    rows = index.resident_row
    distance = residents["distance_km"].to_numpy(dtype=float)[rows]
    known = ~np.isnan(distance)
    ry_rows, years = rows[known], index.year[known].astype(np.int64)
    distance = distance[known]
    # distance band, sorted texts: far, middle, near
    band_labels = ["far", "middle", "near"]
    band = np.where(distance < params["near_km"], 2, np.where(distance >= params["far_km"], 0, 1))
    age = years - residents["birth_year"].to_numpy(dtype=np.int64)[ry_rows]
    edges = [lo for lo, _ in AGE_GROUPS][1:]
    age_rank, age_labels = _ranked(
        [label for _, label in AGE_GROUPS], np.searchsorted(edges, age, side="right")
    )
    sex_rank, sex_labels = _ranked(sex[0], sex[1][ry_rows])
    smoking_rank, smoking_labels = _ranked(smoking[0], smoking[1][ry_rows])
    works = residents["works_at_site"].to_numpy(dtype=bool)[ry_rows].astype(np.int64)
    covariates = [
        (age_rank, age_labels),
        (sex_rank, sex_labels),
        (smoking_rank, smoking_labels),
        (works, np.asarray(["no", "yes"], dtype=object)),
    ]
    # each kept resident-year's position among the kept ones (-1: band unknown)
    kept_of = np.full(len(index.year), -1, dtype=np.int64)
    kept_of[known] = np.arange(int(known.sum()))
    events = _kept_events(index, outcomes, kept_of)
    present = np.unique(band)
    band_sizes = pd.Series(
        np.bincount(band, minlength=3)[present],
        index=pd.Index([band_labels[b] for b in present], name="distance_band"),
    )
    by_band = pd.DataFrame(
        {o: np.bincount(band[k], minlength=3)[present] for o, k in events.items()},
        index=band_sizes.index,
        columns=outcomes,
    )
    level_values, level_of = _modelled_level(data, params, ry_rows, years)
    levelled_rows = level_of >= 0
    return ExposureStrata(
        totals=pd.Series({o: np.int64(len(k)) for o, k in events.items()}, dtype=np.int64)[
            outcomes
        ],
        by_band=by_band,
        band_sizes=band_sizes,
        banded=_patterns(
            "distance_band", (band, np.asarray(band_labels, dtype=object)), covariates, events
        ),
        levelled=(
            _patterns(
                "pollutant_level",
                (level_of[levelled_rows], level_values),
                [(c[levelled_rows], labels) for c, labels in covariates],
                events,
                levelled_rows,
            )
            if int(levelled_rows.sum()) > 50
            else None
        ),
        period=f"{int(years.min())}-{int(years.max())}" if len(years) else "",
    )


def _kept_events(
    index: ResidentYearIndex, outcomes: list[str], kept_of: np.ndarray
) -> dict[str, np.ndarray]:
    """Per outcome, the kept resident-years (positions among the kept) with an event."""
    events = {}
    for outcome in outcomes:
        if outcome in index.derived:
            ry = index.derived[outcome]
        elif outcome in index.codes:
            ry = index.positive_ry[index.positive_code == index.codes.index(outcome)]
        else:
            ry = np.zeros(0, dtype=np.intp)
        kept = kept_of[ry]
        events[outcome] = kept[kept >= 0]
    return events


def _patterns(
    name: str,
    first: tuple[np.ndarray, np.ndarray],
    covariates: list[tuple[np.ndarray, np.ndarray]],
    events: dict[str, np.ndarray],
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """_aggregate's frame from coded keys: ``first`` and ``covariates`` are (each row's rank,
    the sorted values); ``events`` the kept resident-years with an event per outcome; ``rows``
    which kept resident-years these are (all when None)."""
    keys = [first, *covariates]
    key = np.zeros(len(first[0]), dtype=np.int64)
    for ranks, values in keys:
        key = key * len(values) + ranks
    # the keys are dense (at most a few tens of thousands of combinations): counted, not sorted
    seen = np.bincount(key, minlength=1) > 0
    distinct = np.flatnonzero(seen)
    pattern = (np.cumsum(seen) - 1)[key]
    of_kept = pattern
    if rows is not None:
        of_kept = np.full(len(rows), -1, dtype=np.int64)
        of_kept[rows] = pattern
    columns: dict[str, Any] = {}
    remainder = distinct
    for (_ranks, values), column in reversed(list(zip(keys, [name, *COVARIATES], strict=True))):
        codes = remainder % len(values)
        remainder = remainder // len(values)
        if values.dtype.kind == "f":  # a numeric key (the modelled level) stays a number
            columns[column] = values[codes]
        else:
            # categories: the values present, sorted, which are the levels design_matrix
            # makes dummies of (as it does for a text column's sorted distinct values)
            columns[column] = pd.Categorical.from_codes(
                codes, categories=list(values)
            ).remove_unused_categories()
    frame = pd.DataFrame({column: columns[column] for column in [name, *COVARIATES]})
    frame["person_years"] = np.bincount(pattern, minlength=len(distinct)).astype(np.float64)
    for outcome, kept in events.items():
        at = of_kept[kept]
        frame[outcome] = np.bincount(at[at >= 0], minlength=len(distinct)).astype(np.int64)
    return frame


def _modelled_level(
    data: Datasets, params: dict[str, Any], ry_rows: np.ndarray, years: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """modelled_pollutant ÷ pollutant_per, rounded to 1/100, for the kept resident-years: the
    distinct levels (sorted) and each resident-year's position in them (-1: no station means
    that year, or no grid cell). IDW once per distinct grid cell and year, and the levels
    ranked on that (year × cell) table, not over the resident-years."""
    no_level = np.full(len(ry_rows), -1, dtype=np.int64)
    means = _station_annual_means(data, params["pollutant"])
    if means.empty:
        return np.zeros(0), no_level
    residents = data.residents
    latitude = residents["grid_latitude"].to_numpy(dtype=float)
    longitude = residents["grid_longitude"].to_numpy(dtype=float)
    located = ~(np.isnan(latitude) | np.isnan(longitude))
    # a grid cell as one complex number: np.unique sorts those by latitude, then longitude
    cells, cell_of = np.unique(latitude[located] + 1j * longitude[located], return_inverse=True)
    if not len(cells):  # no resident has a grid cell
        return np.zeros(0), no_level
    points = np.column_stack([cells.real, cells.imag])
    resident_cell = np.full(len(latitude), -1, dtype=np.int64)
    resident_cell[located] = cell_of.reshape(-1)
    cell = resident_cell[ry_rows]
    year_list = np.unique(years)
    table = np.full((len(year_list), len(points)), np.nan)
    stations = data.stations.set_index("station_code")
    for j, year in enumerate(year_list):
        value = _year_idw(means, stations, int(year), points)
        if value is not None:
            table[j] = value
    table = np.round(table / params["pollutant_per"], 2)
    finite = ~np.isnan(table)
    values, rank = np.unique(table[finite], return_inverse=True)
    rank_table = np.full(table.shape, -1, dtype=np.int64)
    rank_table[finite] = rank.reshape(-1)
    level_of = np.where(
        cell >= 0, rank_table[np.searchsorted(year_list, years), np.maximum(cell, 0)], -1
    )
    return values, level_of


def _design(patterns: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, list[str]] | None:
    if patterns.empty:  # nothing to fit (no resident-year with a known distance band)
        return None
    try:
        return regression.design_matrix(patterns, keys, reference=REFERENCE)
    except StatsInputError:
        return None


def part_exposure(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """Rate ratios by distance band (crude exact, adjusted Poisson/NB) and by modelled level."""
    conf = params["conf"]
    frames = []
    strata = exposure_strata(data, params)
    outcomes = outcomes_of(data)
    totals, by_band, band_sizes = strata.totals, strata.by_band, strata.band_sizes
    banded, levelled = strata.banded, strata.levelled
    # one design matrix per frame for every outcome (None: not estimable, each fit says why)
    banded_design = _design(banded, BANDED_KEYS)
    level_design = _design(levelled, LEVEL_KEYS) if levelled is not None else None
    for outcome in outcomes:
        if totals[outcome] == 0:
            continue
        estimates: list[Estimate] = []
        far_events = by_band[outcome].get("far", 0)
        far_size = band_sizes.get("far", 0)
        for band in ("near", "middle"):
            exposed_size = band_sizes.get(band, 0)
            if exposed_size and far_size and far_events > 0:
                crude = rate_ratio_exact(
                    float(by_band[outcome][band]),
                    float(exposed_size),
                    float(far_events),
                    float(far_size),
                    conf=conf,
                )
                estimates.append(
                    Estimate(
                        **{
                            **crude.__dict__,
                            "measure": "crude_rate_ratio",
                            "stratum": f"distance_band={band}",
                        }
                    )
                )
        try:
            fit = regression.poisson_regression(
                banded,
                events=outcome,
                person_time="person_years",
                covariates=BANDED_KEYS,
                reference=REFERENCE,
                conf=conf,
                design=banded_design,
            )
            for band in ("near", "middle"):
                term = f"distance_band={band}"
                try:
                    adjusted = fit.estimate(term)
                except KeyError:
                    continue
                estimates.append(
                    Estimate(
                        **{
                            **adjusted.__dict__,
                            "measure": "adjusted_rate_ratio",
                            "flags": (*adjusted.flags, f"family={fit.family}"),
                        }
                    )
                )
        except (StatsInputError, OverflowError):
            pass  # degenerate fit (e.g. no events in a covariate level): crude ratios only
        counts = (
            pd.DataFrame({"sum": by_band[outcome], "size": band_sizes})
            .reindex(["far", "middle", "near"])
            .dropna()
        )
        if len(counts) >= 2:
            try:
                trend = regression.trend_test_rates(
                    counts["sum"].tolist(),
                    counts["size"].astype(float).tolist(),
                    list(range(len(counts))),
                    conf=conf,
                )
                estimates.append(trend.with_stratum("distance_band_trend"))
            except StatsInputError:
                pass
        if levelled is not None:
            try:
                fit = regression.poisson_regression(
                    levelled,
                    events=outcome,
                    person_time="person_years",
                    covariates=LEVEL_KEYS,
                    reference=REFERENCE,
                    conf=conf,
                    design=level_design,
                )
                per_level = fit.estimate("pollutant_level")
                estimates.append(
                    Estimate(
                        **{
                            **per_level.__dict__,
                            "measure": "adjusted_rate_ratio_per_"
                            f"{params['pollutant_per']:g}_{params['pollutant']}",
                            "stratum": f"modelled_{params['pollutant']}",
                        }
                    )
                )
            except (StatsInputError, KeyError, OverflowError):
                pass
        frames.append(
            to_frame(
                estimates,
                analysis="exposure_response",
                outcome=outcome,
                area_code=ALL_AREAS,
                period=strata.period,
            )
        )
    return PartOutput(_concat(frames))


def _period(frame: pd.DataFrame) -> str:
    return f"{int(frame['year'].min())}-{int(frame['year'].max())}" if len(frame) else ""


# --- part: biomonitoring ------------------------------------------------------------------------


def _biomarker_estimates(sub: pd.DataFrame, reference: float, conf: float) -> list[Estimate]:
    """GM, percentiles and share above the reference; each skipped when its input is unfit."""
    values, below, lod = sub["value"].tolist(), sub["below_lod"].tolist(), sub["lod"].tolist()
    estimates: list[Estimate] = []
    try:
        estimates.append(biomonitoring.geometric_mean(values, below, lod, conf=conf))
    except StatsInputError:
        pass
    try:
        # The percentile's name (p50 …) becomes the measure: the stratum is the exposure group.
        estimates.extend(
            replace(e, measure=e.stratum, stratum="")
            for e in biomonitoring.percentiles(values, below, lod, conf=conf)
        )
    except StatsInputError:
        pass
    if not pd.isna(reference):
        try:
            estimates.append(
                biomonitoring.share_above_reference(values, float(reference), below, lod, conf=conf)
            )
        except StatsInputError:
            pass
    return estimates


def part_biomonitoring(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """GM, percentiles and share above the reference per biomarker × distance band; adjusted GMR."""
    codes = data.codes
    biomarkers = codes[codes["category"] == "biomarker"].set_index("code")
    obs = data.observations
    obs = obs[obs["code"].astype(str).isin(biomarkers.index)]
    if obs.empty:
        return PartOutput(_empty())
    # One result per resident: the latest, so that repeated tests do not narrow the intervals.
    # Chosen before the resident columns are joined: the frame then holds one row per resident
    # and biomarker instead of one per test (at 100,000 residents ~0.4 M rows, not 1.4 M with
    # five text columns each — the part's peak memory).
    obs = obs.sort_values("visited_on").groupby(["resident_id", "code"], observed=True).tail(1)
    residents = data.residents.set_index("resident_id")
    info = residents.loc[obs["resident_id"]]
    latest = pd.DataFrame(
        {
            "resident_id": obs["resident_id"].to_numpy(),
            "visited_on": obs["visited_on"].to_numpy(),
            "code": obs["code"].astype(str).to_numpy(),
            "value": obs["value"].to_numpy(),
            "below_lod": obs["below_lod"].to_numpy(),
            "lod": obs["lod"].to_numpy(),
            "distance_km": info["distance_km"].to_numpy(),
            "sex": info["sex"].astype(str).to_numpy(),
            "smoking": info["smoking"].astype(str).to_numpy(),
            "age": pd.to_datetime(obs["visited_on"]).dt.year.to_numpy()
            - info["birth_year"].to_numpy(),
        }
    )
    latest["distance_band"] = distance_band_of(latest["distance_km"], params)
    latest["age_band"] = age_band_of(latest["age"]).astype(str)
    conf = params["conf"]
    frames = []
    for code, group in latest.groupby("code", sort=True):
        reference = biomarkers.loc[code, "reference_level"]
        for band, sub in [
            ("all", group),
            *[(b, group[group["distance_band"] == b]) for b in DISTANCE_BANDS],
        ]:
            if len(sub) < 2:
                continue
            estimates = _biomarker_estimates(sub, reference, conf)
            frames.append(
                to_frame(
                    [e.with_stratum(f"distance_band={band}") for e in estimates],
                    analysis="biomonitoring",
                    outcome=str(code),
                    area_code=ALL_AREAS,
                    period=_period(sub.assign(year=pd.to_datetime(sub["visited_on"]).dt.year)),
                )
            )
        banded = group[group["distance_band"].isin(DISTANCE_BANDS)]
        if banded["distance_band"].nunique() >= 2 and (banded["distance_band"] == "far").any():
            try:
                ratios = biomonitoring.adjusted_gm_ratio(
                    banded,
                    value="value",
                    group="distance_band",
                    reference_group="far",
                    covariates=["age_band", "sex", "smoking"],
                    reference={"sex": "F", "smoking": "never"},
                    below_lod="below_lod",
                    lod="lod",
                    conf=conf,
                )
                frames.append(
                    to_frame(
                        ratios,
                        analysis="biomonitoring_gm_ratio",
                        outcome=str(code),
                        area_code=ALL_AREAS,
                        period=_period(
                            banded.assign(year=pd.to_datetime(banded["visited_on"]).dt.year)
                        ),
                    )
                )
            except StatsInputError:
                pass
    return PartOutput(_concat(frames))


# --- part: environment --------------------------------------------------------------------------

ENVIRONMENT_MEASURES = (
    "n",
    "mean",
    "p50",
    "p90",
    "p98",
    "max",
    "guideline",
    "n_exceed",
    "pct_exceed",
)


def part_environment(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """Annual summaries per station × pollutant against guideline values, and their trend."""
    m = data.measurements
    if m.empty:
        return PartOutput(_empty())
    frame = pd.DataFrame(
        {
            "station_code": m["station_code"].astype(str),
            "pollutant": m["pollutant"].astype(str),
            "sampled_on": m["sampled_on"],
            "value": m["value"],
            "below_lod": m["below_lod"],
            "lod": m["lod"],
            "status": m["status"].astype(str),
        }
    )
    summary = environment.annual_summary(frame)
    rows = []
    for record in summary.to_dict("records"):
        for measure in ENVIRONMENT_MEASURES:
            value = record.get(measure)
            rows.append(
                {
                    "analysis": "environment",
                    "outcome": record["pollutant"],
                    "area_code": "",
                    "period": str(record["year"]),
                    "stratum": f"station={record['station_code']}",
                    "measure": measure,
                    "estimate": None if value is None or pd.isna(value) else float(value),
                    "ci_lower": None,
                    "ci_upper": None,
                    "numerator": None,
                    "denominator": float(record["n"]),
                    "p_value": None,
                    "flags": record.get("flags") or "",
                }
            )
    trend_rows = []
    try:
        trend = environment.annual_trend(summary)
        for record in trend.to_dict("records"):
            trend_rows.append(
                {
                    "analysis": "environment_trend",
                    "outcome": record["pollutant"],
                    "area_code": "",
                    "period": "",
                    "stratum": f"station={record['station_code']}",
                    "measure": "sen_slope_per_year",
                    "estimate": _num(record.get("slope")),
                    "ci_lower": _num(record.get("slope_lower")),
                    "ci_upper": _num(record.get("slope_upper")),
                    "numerator": None,
                    "denominator": _num(record.get("n")),
                    "p_value": _num(record.get("p_value")),
                    "flags": record.get("flags") or "",
                }
            )
    except StatsInputError:
        pass
    return PartOutput(pd.DataFrame(rows + trend_rows, columns=list(ROW_COLUMNS)))


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


# --- part: aberration ---------------------------------------------------------------------------


def weekly_counts(data: Datasets, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Acute respiratory diagnoses per area and Monday-start week, zero weeks included, up to
    the latest complete week with data: the week that straddles the data end date is not over,
    and weeks after the last visit recorded are not zero weeks but weeks not yet entered."""
    obs = data.observations
    empty = pd.DataFrame(columns=["area_code", "week", "count"])
    data_end = data_end_of(data, params)
    if obs.empty or data_end is None:
        return empty
    monday = obs["visited_on"] - pd.to_timedelta(obs["visited_on"].dt.day_of_week, unit="D")
    last_week = pd.Timestamp(periods.last_complete_week(data_end))
    covered = monday[monday <= last_week]
    if covered.empty:
        return empty
    weeks = pd.date_range(monday.min(), covered.max(), freq="7D")
    acute = obs["code"].astype(str).isin(ACUTE_CODES) & obs["value_boolean"].fillna(False).astype(
        bool
    )
    residents = data.residents.set_index("resident_id")["area_code"].astype(str)
    cases = pd.DataFrame(
        {
            "area_code": residents.loc[obs.loc[acute, "resident_id"]].to_numpy(),
            "week": monday[acute].to_numpy(),
            "resident_id": obs.loc[acute, "resident_id"].to_numpy(),
        }
    ).drop_duplicates()  # a resident counts once a week, whichever acute code was recorded
    counts = cases[cases["week"] <= covered.max()].groupby(["area_code", "week"]).size()
    areas = sorted(data.areas["area_code"].astype(str))
    index = pd.MultiIndex.from_product([areas, weeks], names=["area_code", "week"])
    return counts.reindex(index, fill_value=0).rename("count").reset_index()


UNDETERMINED_SUFFIX = ":" + aberration.UNDETERMINED


def alert_method(method: str, *, undetermined: bool) -> str:
    """The alert's method code; an undetermined decision (e.g. EARS C3 on a flat baseline with
    a count above it) is raised as an alert of its own kind so that it is seen and reviewed,
    never dropped as "no alarm". The suffix keeps it apart from a real alarm of the same week
    under the alert's unique key (outcome, area, week, method)."""
    return method + UNDETERMINED_SUFFIX if undetermined else method


def alert_is_undetermined(method: str) -> bool:
    return method.endswith(UNDETERMINED_SUFFIX)


def detect(counts: np.ndarray, params: dict[str, Any]) -> aberration.AberrationResult:
    """The default method for the history length, at the run's alpha and threshold method."""
    method = aberration.default_aberration_method(len(counts), 52)
    if method != "farrington_flexible":
        return aberration.detect_aberrations(counts, freq=52)
    settings = dict(aberration.NOUFAILY_2013)
    settings["b"] = min(5, (len(counts) - 26 - 1) // 52)
    settings["alpha"] = params["aberration_alpha"]
    settings["threshold_method"] = params["aberration_threshold"]
    return aberration.farrington_flexible(counts, freq=52, **settings)


def part_aberration(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """The default method for the history length on each area's weekly series; alarms → alerts."""
    weekly = weekly_counts(data, params)
    frames = []
    alerts: list[AlertCandidate] = []
    for area, series in weekly.groupby("area_code", sort=True):
        series = series.sort_values("week")
        counts = series["count"].to_numpy(dtype=float)
        try:
            result = detect(counts, params)
        except StatsInputError:
            continue
        weeks = series["week"].to_numpy()[result.time_index]
        rows = []
        for i, week in enumerate(weeks):
            period = pd.Timestamp(week).date().isoformat()
            base = {
                "analysis": "aberration",
                "outcome": ACUTE_RESPIRATORY,
                "area_code": str(area),
                "period": period,
                "stratum": result.method,
                "ci_lower": None,
                "ci_upper": None,
                "numerator": None,
                "denominator": None,
                "flags": result.flags[i] if i < len(result.flags) else "",
            }
            rows.append(
                {
                    **base,
                    "measure": "observed",
                    "estimate": float(result.observed[i]),
                    "p_value": _num(result.p_value[i]),
                }
            )
            rows.append(
                {
                    **base,
                    "measure": "expected",
                    "estimate": _num(result.expected[i]),
                    "p_value": None,
                }
            )
            rows.append(
                {
                    **base,
                    "measure": "upper_bound",
                    "estimate": _num(result.upper_bound[i]),
                    "p_value": None,
                }
            )
            undetermined = result.status[i] == aberration.UNDETERMINED
            rows.append(
                {
                    **base,
                    # an undetermined week has no 0/1 decision: empty, and said so in flags
                    "measure": "alarm",
                    "estimate": None if undetermined else float(bool(result.alarm[i])),
                    "p_value": None,
                    "flags": ";".join(
                        f
                        for f in (base["flags"], aberration.UNDETERMINED if undetermined else "")
                        if f
                    ),
                }
            )
            if result.alarm[i] or undetermined:
                alerts.append(
                    AlertCandidate(
                        outcome=ACUTE_RESPIRATORY,
                        area_code=str(area),
                        week=pd.Timestamp(week).date(),
                        method=alert_method(result.method, undetermined=undetermined),
                        observed=float(result.observed[i]),
                        expected=_num(result.expected[i]) or 0.0,
                        upper_bound=_num(result.upper_bound[i]) or 0.0,
                    )
                )
        frames.append(pd.DataFrame(rows, columns=list(ROW_COLUMNS)))
        if params["aberration_glr"]:
            glr_frame, glr_alerts = _glr_rows(str(area), weeks, result)
            frames.append(glr_frame)
            alerts.extend(glr_alerts)
    return PartOutput(_concat(frames), alerts)


def _glr_rows(
    area: str, weeks: np.ndarray, result: aberration.AberrationResult
) -> tuple[pd.DataFrame, list[AlertCandidate]]:
    """The optional GLR Poisson CUSUM for slow rises, on the weeks the default method
    monitored, against its expected counts as the in-control means. Only with Farrington's
    expectations: they come from earlier years and leave out the last 26 weeks, so a slow rise
    does not lift its own baseline (EARS's 7-week mean would follow it)."""
    if result.method != "farrington_flexible":
        return _empty(), []
    mu0 = np.asarray(result.expected, dtype=float)
    known = np.isfinite(mu0) & (mu0 > 0)
    if not known.any():
        return _empty(), []
    # weeks without an expectation (too few cases for a bound) take the mean of the others
    mu0 = np.where(known, mu0, float(mu0[known].mean()))
    glr = aberration.glr_poisson(result.observed, mu0)
    rows = []
    alerts = []
    for i, week in enumerate(weeks):
        base = {
            "analysis": "aberration_glr",
            "outcome": ACUTE_RESPIRATORY,
            "area_code": area,
            "period": pd.Timestamp(week).date().isoformat(),
            "stratum": glr.method,
            "ci_lower": None,
            "ci_upper": None,
            "numerator": None,
            "denominator": None,
            "p_value": None,
            "flags": "" if known[i] else "expected_filled",
        }
        for measure, value in (
            ("observed", glr.observed[i]),
            ("expected", glr.expected[i]),
            ("upper_bound", glr.upper_bound[i]),
            ("glr_statistic", glr.score[i]),
            ("alarm", float(bool(glr.alarm[i]))),
        ):
            rows.append({**base, "measure": measure, "estimate": float(value)})
        if glr.alarm[i]:
            alerts.append(
                AlertCandidate(
                    outcome=ACUTE_RESPIRATORY,
                    area_code=area,
                    week=pd.Timestamp(week).date(),
                    method=glr.method,
                    observed=float(glr.observed[i]),
                    expected=float(glr.expected[i]),
                    upper_bound=float(glr.upper_bound[i]),
                )
            )
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS)), alerts


# --- part: spatial scan -------------------------------------------------------------------------

SCAN_STANDARDIZE_BY = ("age_band", "sex", "smoking")
"""Strata of the scan's expected counts. Smoking is there because it is commoner near the plant
(as in the synthetic community): with age and sex alone, cough without any plant effect was
flagged around the site in 27 of 100 seeds (bench/scan_sweep.py, docs/methods.md). Work at
the site is not: it may be the route of the plant's effect."""
SCAN_SEED = scan.DEFAULT_SEED


def scan_strata(ry: pd.DataFrame) -> pd.Series:
    """Each resident-year's stratum of SCAN_STANDARDIZE_BY as a number (NaN where a key is
    missing), found once per part: grouping by the three text keys again for each outcome
    and each kind of location took two thirds of the scan's time at 100k residents. Grouping by
    this number sums the same rows in the same order, so the sums are the same to the bit."""
    codes = ry.groupby(list(SCAN_STANDARDIZE_BY), observed=True, sort=True).ngroup()
    return codes.where(codes >= 0)


def scan_expected(ry: pd.DataFrame, outcome: str, strata: pd.Series | None = None) -> pd.Series:
    """Expected events per resident-year by indirect standardization: the whole community's
    rate in the resident-year's age band × sex × smoking. Near areas are older and smoke
    more: without this, a scan would find age and smoking, not place. ``strata``:
    `scan_strata(ry)`, when the caller has it already."""
    grouped = ry.groupby(scan_strata(ry) if strata is None else strata)
    rate = grouped[outcome].transform("sum") / grouped["person_years"].transform("sum")
    return rate * ry["person_years"]


def scan_locations(
    ry: pd.DataFrame,
    outcome: str,
    *,
    by: str,
    areas: pd.DataFrame | None = None,
    strata: pd.Series | None = None,
) -> pd.DataFrame:
    """Events, resident-years and expected events per location: ``by="area"`` (centroids of
    ``areas``) or ``by="cell"`` (the ~500 m grid cells of the residents; residents without a
    cell are left out). Columns: label, latitude, longitude, cases, population, expected."""
    frame = ry.assign(expected=scan_expected(ry, outcome, strata))
    if by == "area":
        if areas is None:
            raise ValueError("areas are needed for a scan over area centroids")
        sums = frame.groupby("area_code")[[outcome, "person_years", "expected"]].sum()
        where = areas.set_index(areas["area_code"].astype(str))[["latitude", "longitude"]]
        table = where.join(sums, how="inner").reset_index(names="label")
    else:
        located = frame.dropna(subset=["grid_latitude", "grid_longitude"])
        table = (
            located.groupby(["grid_latitude", "grid_longitude"])[
                [outcome, "person_years", "expected"]
            ]
            .sum()
            .reset_index()
            .rename(columns={"grid_latitude": "latitude", "grid_longitude": "longitude"})
        )
        table["label"] = [
            f"{lat:.4f},{lon:.4f}"
            for lat, lon in zip(table["latitude"], table["longitude"], strict=True)
        ]
    table = table.rename(columns={outcome: "cases", "person_years": "population"})
    return table[["label", "latitude", "longitude", "cases", "population", "expected"]]


def run_scan(
    locations: pd.DataFrame,
    params: dict[str, Any],
    *,
    sites: pd.DataFrame | None = None,
    max_clusters: int = 5,
) -> scan.ScanResult:
    """The circular scan of `scan_locations` output at the run's settings; with `sites`,
    circles centred on the production sites only (is the risk raised near the plant?)."""
    return scan.circular_scan(
        locations["cases"].to_numpy(dtype=float),
        locations["population"].to_numpy(dtype=float),
        locations["latitude"].to_numpy(dtype=float),
        locations["longitude"].to_numpy(dtype=float),
        labels=locations["label"].tolist(),
        expected=locations["expected"].to_numpy(dtype=float),
        centres=None
        if sites is None
        else list(zip(sites["latitude"], sites["longitude"], strict=True)),
        centre_labels=None if sites is None else sites["site_code"].astype(str).tolist(),
        max_population_share=params["scan_max_share"],
        replications=params["scan_replications"],
        seed=SCAN_SEED,
        alpha=params["scan_alpha"],
        max_clusters=max_clusters,
    )


def site_centred_scan(
    locations: pd.DataFrame, sites: pd.DataFrame, params: dict[str, Any]
) -> scan.ScanResult:
    """One cluster: the circle of highest likelihood around any production site."""
    return run_scan(locations, params, sites=sites, max_clusters=1)


def part_scan(data: Datasets, params: dict[str, Any]) -> PartOutput:
    """Kulldorff's circular scan per outcome over all years: over area centroids (analysis
    ``spatial_scan``, most likely and secondary clusters), and centred on the production sites
    over the residents' grid cells (``spatial_scan_site``, one cluster: the circle of highest
    likelihood around any site). Expected counts by age band × sex × smoking (indirect
    standardization)."""
    ry = resident_years(data, params)
    if ry.empty:
        return PartOutput(_empty())
    period = _period(ry)
    sites = data.sites.dropna(subset=["latitude", "longitude"])
    strata = scan_strata(ry)
    frames = []
    for outcome in outcomes_of(data):
        if ry[outcome].sum() == 0:
            continue
        areas = scan_locations(ry, outcome, by="area", areas=data.areas, strata=strata)
        try:
            result = run_scan(areas, params)
            frames.append(result.to_rows(analysis="spatial_scan", outcome=outcome, period=period))
        except StatsInputError:
            pass
        if sites.empty:
            continue
        cells = scan_locations(ry, outcome, by="cell", strata=strata)
        if cells.empty:
            cells = areas  # no resident cells recorded: circles through the area centroids
        try:
            result = site_centred_scan(cells, sites, params)
            frames.append(
                result.to_rows(analysis="spatial_scan_site", outcome=outcome, period=period)
            )
        except StatsInputError:
            pass
    return PartOutput(_concat(frames))


Part = Callable[[Datasets, dict[str, Any]], PartOutput]


_BLAS: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """The process's BLAS libraries, looked up once: threadpool_limits() scans every loaded
    library on each call (40 ms, more than a part's own work on small data)."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0]


def _one_blas_thread(part: Part) -> Part:
    """The part with BLAS/LAPACK on one thread. Parts already run side by side (one per worker
    process), so a multi-threaded BLAS under each only oversubscribes the cores: exposure's 42
    small least-squares fits took 7.1 s with OpenBLAS's own threads and 1.0 s on one, on the
    2-core bench machine at 3,000 residents, with the same rows."""

    @wraps(part)
    def run(data: Datasets, params: dict[str, Any]) -> PartOutput:
        with _blas_controller().limit(limits=1, user_api="blas"):
            return part(data, params)

    return run


PARTS: dict[str, Part] = {
    name: _one_blas_thread(part)
    for name, part in (
        ("rates", part_rates),
        ("trends", part_trends),
        ("exposure", part_exposure),
        ("biomonitoring", part_biomonitoring),
        ("environment", part_environment),
        ("aberration", part_aberration),
        ("scan", part_scan),
    )
}
