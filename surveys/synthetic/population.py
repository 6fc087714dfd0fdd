"""Age-sex pyramids, residents (a sample of the area populations) and population denominators."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import params as P
from .calendar import Period
from .geography import AREAS, RESIDENCE_RADIUS_KM, to_latlon

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MAX_AGE = 99
AGES = np.arange(MAX_AGE + 1)
AGE_BANDS: tuple[str, ...] = (*(f"{a}-{a + 4}" for a in range(0, 85, 5)), "85+")
SEXES: tuple[str, ...] = ("F", "M")  # index 0 = female
SMOKING: tuple[str, ...] = ("never", "former", "current", "unknown")
NEVER, FORMER, CURRENT, UNKNOWN = range(4)
BAND_INDEX = {"near": 0, "middle": 1, "far": 2}

AREA_BAND = np.array([BAND_INDEX[a.band] for a in AREAS], dtype=np.int64)
AREA_WEIGHTS = np.array([a.weight for a in AREAS], dtype=np.float64)


def age_band_index(age: npt.ArrayLike) -> IntArray:
    return np.asarray(np.minimum(np.asarray(age) // 5, len(AGE_BANDS) - 1), dtype=np.int64)


def female_share(age: npt.ArrayLike) -> FloatArray:
    a = np.asarray(age, dtype=np.float64)
    return np.asarray(0.49 + 0.14 / (1.0 + np.exp(-(a - 75.0) / 5.0)), dtype=np.float64)


def age_distribution() -> FloatArray:
    """Single-year age distribution (rows: areas, columns: ages 0..99), each row sums to 1."""
    base = np.exp(-0.004 * AGES) / (1.0 + np.exp((AGES - 76.0) / 5.5))
    tilt = np.array([a.age_tilt for a in AREAS])[:, None]
    weights = base[None, :] * np.exp(tilt * (AGES[None, :] - 40.0) / 20.0)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True), dtype=np.float64)


AGE_DIST = age_distribution()
AGE_CDF = np.cumsum(AGE_DIST, axis=1)


def pyramid() -> FloatArray:
    """Population shares by area x sex x age band (each area sums to 1)."""
    fem = female_share(AGES)
    out = np.zeros((len(AREAS), 2, len(AGE_BANDS)))
    bands = age_band_index(AGES)
    for sex, share in ((0, fem), (1, 1.0 - fem)):
        np.add.at(out[:, sex, :].T, bands, (AGE_DIST * share[None, :]).T)
    return out


@dataclass
class Residents:
    """One chunk of residents (global index ``first`` .. ``first + n - 1``)."""

    index: IntArray
    area: IntArray
    birth_year: IntArray
    female: BoolArray
    enroll_day: IntArray
    enroll_year: IntArray
    last_year: IntArray
    smoking: IntArray
    works_at_site: BoolArray
    latitude: FloatArray
    longitude: FloatArray

    def __len__(self) -> int:
        return len(self.index)

    @property
    def band(self) -> IntArray:
        return np.asarray(AREA_BAND[self.area], dtype=np.int64)


def draw_residents(rng: np.random.Generator, first: int, n: int, period: Period) -> Residents:
    area = rng.choice(len(AREAS), size=n, p=AREA_WEIGHTS).astype(np.int64)
    band = AREA_BAND[area]

    baseline = rng.random(n) < P.BASELINE_ENROLLMENT_SHARE
    campaign = min(P.BASELINE_CAMPAIGN_DAYS, period.n_days)
    rolling_end = max(period.n_days - 60, campaign)
    enroll_day = np.where(
        baseline, rng.integers(0, campaign, n), rng.integers(0, rolling_end, n)
    ).astype(np.int64)
    enroll_year = period.year_of(enroll_day)

    u = rng.random(n)
    age = (AGE_CDF[area] < u[:, None]).sum(axis=1).astype(np.int64)
    age = np.minimum(age, MAX_AGE)
    birth_year = enroll_year - age
    female = rng.random(n) < female_share(age)

    adult = age >= 15
    cur = np.array([P.CURRENT_SMOKING[b] for b in ("near", "middle", "far")])[band]
    former = np.minimum(P.FORMER_SMOKING_BASE + 0.004 * np.maximum(age - 15, 0), 0.35)
    v = rng.random(n)
    smoking = np.full(n, NEVER, dtype=np.int64)
    smoking[adult & (v < cur)] = CURRENT
    smoking[adult & (v >= cur) & (v < cur + former)] = FORMER
    smoking[adult & (v >= cur + former) & (v < cur + former + P.UNKNOWN_SMOKING)] = UNKNOWN

    work_p = np.array([P.WORKS_AT_SITE[b] for b in ("near", "middle", "far")])[band]
    works = (age >= 18) & (age <= 64) & (rng.random(n) < work_p)

    years_followed = rng.geometric(1.0 - P.ANNUAL_RETENTION, n).astype(np.int64)
    last_year = np.minimum(enroll_year + years_followed - 1, period.end_year)

    r = RESIDENCE_RADIUS_KM * np.sqrt(rng.random(n))
    theta = 2 * np.pi * rng.random(n)
    east = np.array([a.east_km for a in AREAS])[area] + r * np.cos(theta)
    north = np.array([a.north_km for a in AREAS])[area] + r * np.sin(theta)
    lat, lon = to_latlon(east, north)

    return Residents(
        index=np.arange(first, first + n, dtype=np.int64),
        area=area,
        birth_year=birth_year,
        female=female,
        enroll_day=enroll_day,
        enroll_year=enroll_year,
        last_year=last_year,
        smoking=smoking,
        works_at_site=works,
        latitude=lat,
        longitude=lon,
    )


def resident_cells(res: Residents, period: Period) -> IntArray:
    """Residents by area x year x sex x age band (every resident counted in every study year
    from birth on: an upper bound of those enrolled and in follow-up)."""
    out = np.zeros((len(AREAS), period.years, 2, len(AGE_BANDS)), dtype=np.int64)
    sex = np.where(res.female, 0, 1)
    for y in range(period.years):
        age = period.start_year + y - res.birth_year
        ok = age >= 0
        np.add.at(out[:, y], (res.area[ok], sex[ok], age_band_index(age[ok])), 1)
    return out


def population_table(
    rng: np.random.Generator, total_residents: int, period: Period, cells: IntArray
) -> tuple[IntArray, int]:
    """Area population by area x year x sex x age band, never below the residents' counts.

    Returns the table and the number of cells raised to the resident count.
    """
    total_pop = total_residents / P.SAMPLING_FRACTION
    shares = pyramid()
    years = np.arange(period.years)
    growth = (1.0 + P.POPULATION_GROWTH) ** (years - (period.years - 1) / 2.0)
    expected = total_pop * AREA_WEIGHTS[:, None, None, None] * growth[None, :, None, None]
    expected = expected * shares[:, None, :, :]
    noise = np.exp(rng.normal(0.0, P.POPULATION_NOISE_SD, expected.shape))
    pop = np.rint(expected * noise).astype(np.int64)
    raised = int((pop < cells).sum())
    return np.maximum(pop, cells), raised
