"""Visits and observations of one chunk of residents (vectorized)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from . import params as P
from .calendar import Period
from .codes import CODE_INDEX
from .geography import AREAS
from .population import BAND_INDEX, CURRENT, SMOKING, Residents

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_BANDS = ("near", "middle", "far")


def _by_band(values: dict[str, float]) -> FloatArray:
    return np.array([values[b] for b in _BANDS], dtype=np.float64)


def _by_smoking(values: dict[str, float]) -> FloatArray:
    return np.array([values[s] for s in SMOKING], dtype=np.float64)


@dataclass
class Observations:
    """Observation rows: resident index, day, code index, numeric value (1/0 for booleans),
    below-LOD flag."""

    res: list[IntArray] = field(default_factory=list)
    day: list[IntArray] = field(default_factory=list)
    code: list[IntArray] = field(default_factory=list)
    value: list[FloatArray] = field(default_factory=list)
    below: list[BoolArray] = field(default_factory=list)

    def add(
        self,
        code: str,
        res: IntArray,
        day: IntArray,
        value: npt.ArrayLike,
        below: BoolArray | None = None,
    ) -> None:
        n = len(res)
        self.res.append(np.asarray(res, dtype=np.int64))
        self.day.append(np.asarray(day, dtype=np.int64))
        self.code.append(np.full(n, CODE_INDEX[code], dtype=np.int64))
        self.value.append(np.asarray(value, dtype=np.float64))
        self.below.append(np.zeros(n, dtype=bool) if below is None else below)

    def sorted_arrays(self) -> tuple[IntArray, IntArray, IntArray, FloatArray, BoolArray]:
        res = np.concatenate(self.res)
        day = np.concatenate(self.day)
        code = np.concatenate(self.code)
        value = np.concatenate(self.value)
        below = np.concatenate(self.below)
        order = np.lexsort((code, day, res))
        return res[order], day[order], code[order], value[order], below[order]


@dataclass
class OutbreakTally:
    """Acute respiratory diagnoses by area x week: observed counts and expected values."""

    observed: IntArray
    expected_baseline: FloatArray
    expected: FloatArray

    @classmethod
    def empty(cls, n_weeks: int) -> OutbreakTally:
        shape = (len(AREAS), n_weeks)
        return cls(np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape))

    def add(self, other: OutbreakTally) -> None:
        self.observed += other.observed
        self.expected_baseline += other.expected_baseline
        self.expected += other.expected


def outbreak_weeks(period: Period) -> IntArray:
    """Indices (into period.week_starts) of the outbreak weeks in the last study year."""
    import datetime as dt

    monday = dt.date.fromisocalendar(period.end_year, P.OUTBREAK_ISO_WEEK, 1)
    first = int(np.searchsorted(period.week_starts, period.day_of(monday)))
    return np.arange(first, first + P.OUTBREAK_WEEKS, dtype=np.int64)


def season(day: npt.ArrayLike) -> FloatArray:
    t = np.asarray(day, dtype=np.float64)
    phase = 2 * np.pi * (t - P.ACUTE_SEASON_PEAK_DAY) / 365.25
    return np.asarray(1.0 + P.ACUTE_SEASON_AMPLITUDE * np.cos(phase), dtype=np.float64)


def routine_visits(
    rng: np.random.Generator, res: Residents, period: Period, obs: Observations
) -> int:
    """One routine visit a year, from enrollment to the last year of follow-up. Returns the
    number of visits."""
    n_visits = res.last_year - res.enroll_year + 1
    who = np.repeat(np.arange(len(res)), n_visits)
    starts = np.cumsum(n_visits) - n_visits
    k = np.arange(len(who)) - np.repeat(starts, n_visits)
    year = res.enroll_year[who] + k
    yidx = year - period.start_year
    doy_enrolled = res.enroll_day - period.year_starts[res.enroll_year - period.start_year]
    year_len = period.year_starts[yidx + 1] - period.year_starts[yidx]
    jitter = np.rint(rng.normal(0.0, P.ROUTINE_VISIT_JITTER_DAYS, len(who))).astype(np.int64)
    doy = np.clip(doy_enrolled[who] + jitter, 0, year_len - 1)
    day = np.where(k == 0, res.enroll_day[who], period.year_starts[yidx] + doy)
    rid = res.index[who]
    n = len(who)

    age = year - res.birth_year[who]
    band = res.band[who]
    smoking = res.smoking[who]

    # Planted effect 1: dose-response of cough, confounded by age and smoking.
    p = (
        P.COUGH_P0
        * _by_band(P.COUGH_RR_BAND)[band]
        * P.COUGH_AGE_RR_PER_10Y ** ((age - 40.0) / 10.0)
        * _by_smoking(P.COUGH_RR_SMOKING)[smoking]
    )
    obs.add(P.COUGH_CODE, rid, day, rng.random(n) < p)

    # Planted effect 4: annual trend of wheeze.
    p = P.TREND_P0 * (1 + P.TREND_APC / 100.0) ** yidx * _by_smoking(P.TREND_RR_SMOKING)[smoking]
    obs.add(P.TREND_CODE, rid, day, rng.random(n) < p)

    for code, prevalence in P.OTHER_SYMPTOMS.items():
        obs.add(code, rid, day, rng.random(n) < prevalence)

    # Planted effect 2 (and other biomarkers): log-normal with a person effect, LOD censoring.
    for code, spec in P.BIOMARKERS.items():
        _unit, gm_far, gmr_near, gmr_mid, sd_person, sd_visit, lod, dec, share, smoke = spec
        person = rng.normal(0.0, sd_person, len(res))
        tested = rng.random(n) < share if share < 1.0 else np.ones(n, dtype=bool)
        gm = np.array([gm_far * gmr_near, gm_far * gmr_mid, gm_far])[band]
        gm = gm * np.where(smoking == CURRENT, smoke, 1.0)
        value = gm * np.exp(person[who] + rng.normal(0.0, sd_visit, n))
        value = np.round(value, dec)
        below = value < lod
        obs.add(code, rid[tested], day[tested], value[tested], below[tested])

    # Vitals.
    z_bmi = rng.normal(0.0, 1.0, len(res))[who]
    child = age < 18
    mean = np.where(
        child, 15.5 + 0.55 * np.clip(age - 6, 0, 12), np.minimum(24 + 0.08 * (age - 18), 28)
    )
    sd = np.where(child, 2.0, P.BMI_ADULT_SD)
    bmi = np.clip(mean + sd * z_bmi + rng.normal(0.0, 0.6, n), 12.0, 60.0)
    has = age >= 2
    obs.add("vital.bmi", rid[has], day[has], np.round(bmi[has], 1))

    person = rng.normal(0.0, P.FEV1_PERSON_SD, len(res))[who]
    fev1 = P.FEV1_MEAN + person + _by_smoking(P.FEV1_SMOKING)[smoking]
    fev1 = np.clip(fev1 + rng.normal(0.0, P.FEV1_VISIT_SD, n), 30.0, 140.0)
    has = age >= 6
    obs.add("vital.fev1_pct_pred", rid[has], day[has], np.round(fev1[has], 1))

    # New chronic diagnoses: recorded once, at the first visit where they occur.
    for code, (risk, min_age, smoke_rr, child_rr) in P.CHRONIC_DX.items():
        p = risk * np.where(smoking == CURRENT, smoke_rr, 1.0) * np.where(age < 15, child_rr, 1.0)
        hit = (rng.random(n) < p) & (age >= min_age)
        idx = np.flatnonzero(hit)
        _, first = np.unique(who[idx], return_index=True)
        idx = idx[first]
        obs.add(code, rid[idx], day[idx], np.ones(len(idx)))
    return n


def acute_visits(
    rng: np.random.Generator, res: Residents, period: Period, obs: Observations
) -> OutbreakTally:
    """Acute-care visits with a new dx.J06 or dx.J20: at most one per resident and week."""
    ws = period.week_starts
    n_weeks = len(ws)
    lo = np.maximum(res.enroll_day, 0)
    hi = np.minimum(
        period.year_starts[res.last_year - period.start_year + 1] - 1, period.n_days - 1
    )
    # active days of each resident in each week
    active = np.clip(
        np.minimum(ws[None, :] + 6, hi[:, None]) - np.maximum(ws[None, :], lo[:, None]) + 1, 0, 7
    )
    week_year = period.year_of(np.clip(ws + 3, 0, period.n_days - 1))
    age = week_year[None, :] - res.birth_year[:, None]
    age_rr = np.where(
        age < 15,
        P.ACUTE_AGE_RR["0-14"],
        np.where(age < 65, P.ACUTE_AGE_RR["15-64"], P.ACUTE_AGE_RR["65+"]),
    )
    base = P.ACUTE_WEEKLY_RISK * age_rr * season(ws + 3.0)[None, :]
    mult = np.ones((len(AREAS), n_weeks))
    area_idx = [a.area_code for a in AREAS].index(P.OUTBREAK_AREA)
    mult[area_idx, outbreak_weeks(period)] = P.OUTBREAK_RATE_RATIO
    p = base * mult[res.area]

    tally = OutbreakTally.empty(n_weeks)
    frac = active / 7.0
    for a in range(len(AREAS)):
        rows = res.area == a
        tally.expected_baseline[a] = (base[rows] * frac[rows]).sum(axis=0)
        tally.expected[a] = (p[rows] * frac[rows]).sum(axis=0)

    r_idx, w_idx = np.nonzero(rng.random(p.shape) < p)
    day = ws[w_idx] + rng.integers(0, 7, len(r_idx))
    keep = (day >= lo[r_idx]) & (day <= hi[r_idx])
    r_idx, w_idx, day = r_idx[keep], w_idx[keep], day[keep]
    j20 = rng.random(len(r_idx)) < P.ACUTE_J20_SHARE
    np.add.at(tally.observed, (res.area[r_idx], w_idx), 1)
    for code, mask in ((P.ACUTE_CODES[0], ~j20), (P.ACUTE_CODES[1], j20)):
        obs.add(code, res.index[r_idx[mask]], day[mask], np.ones(int(mask.sum())))
    return tally


BAND_NAMES = tuple(BAND_INDEX)
