"""Environmental monitoring: daily air samples and monthly water samples.

concentration = (background + source * exp(-distance / decay)) * season(day) * exp(noise),
noise an AR(1) series (air) or independent (water) with the stated marginal sd on the log
scale. Values below the LOD are written with an empty value and ``below_lod=true``; a few
readings are spikes flagged ``invalid``; samples of the last 60 days are ``preliminary``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .calendar import Period
from .geography import STATIONS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Pollutant:
    code: str
    medium: str
    unit: str
    background: float
    source: float  # added concentration at distance 0
    decay_km: float
    season_amplitude: float  # season = 1 + A cos(2 pi (t - peak) / 365.25)
    season_peak_day: int
    sd_log: float
    lod: float
    decimals: int


POLLUTANTS: tuple[Pollutant, ...] = (
    Pollutant("pm2_5", "air", "µg/m³", 6.0, 30.0, 3.0, 0.30, 15, 0.35, 1.0, 1),
    Pollutant("pm10", "air", "µg/m³", 12.0, 50.0, 3.0, 0.20, 196, 0.35, 2.0, 1),
    Pollutant("so2", "air", "µg/m³", 1.5, 60.0, 1.5, 0.25, 15, 0.45, 2.0, 1),
    Pollutant("fluoride", "water", "mg/L", 0.25, 3.0, 2.0, 0.15, 200, 0.20, 0.05, 3),
    Pollutant("uranium", "water", "µg/L", 0.8, 60.0, 2.5, 0.15, 200, 0.25, 0.1, 2),
    Pollutant("cadmium", "water", "µg/L", 0.05, 5.0, 1.5, 0.15, 200, 0.35, 0.1, 3),
    Pollutant("lead", "water", "µg/L", 0.3, 20.0, 2.0, 0.15, 200, 0.35, 0.5, 2),
    Pollutant("gross_alpha", "water", "Bq/L", 0.03, 1.5, 2.0, 0.15, 200, 0.30, 0.04, 3),
)

AIR_MISSING_SHARE = 0.02
AIR_AUTOCORRELATION = 0.6
INVALID_SHARE = 0.005
PRELIMINARY_DAYS = 60


def expected_level(pol: Pollutant, distance_km: float) -> float:
    """Long-run mean at a station (season averages to 1, lognormal noise mean exp(sd^2/2))."""
    return float(
        (pol.background + pol.source * np.exp(-distance_km / pol.decay_km))
        * np.exp(pol.sd_log**2 / 2)
    )


def _season(pol: Pollutant, day: npt.ArrayLike) -> FloatArray:
    t = np.asarray(day, dtype=np.float64)
    return np.asarray(
        1.0 + pol.season_amplitude * np.cos(2 * np.pi * (t - pol.season_peak_day) / 365.25),
        dtype=np.float64,
    )


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float) -> FloatArray:
    e = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    prev = rng.normal(0.0, sd)
    for i in range(n):
        prev = phi * prev + e[i]
        out[i] = prev
    return out


def generate_measurements(rng: np.random.Generator, period: Period) -> list[dict[str, Any]]:
    """All measurement rows, sorted by station, date and pollutant (numeric fields unformatted)."""
    rows: list[dict[str, Any]] = []
    all_days = np.arange(period.n_days, dtype=np.int64)
    # monthly water sampling on a random weekday of each month
    month_starts = [
        period.day_of(period.start.replace(year=y, month=m, day=1))
        for y in range(period.start_year, period.end_year + 1)
        for m in range(1, 13)
    ]
    for station in STATIONS:
        pols = [p for p in POLLUTANTS if p.medium == station.medium]
        if station.medium == "air":
            days = all_days[rng.random(period.n_days) >= AIR_MISSING_SHARE]
            noises = [_ar1(rng, period.n_days, p.sd_log, AIR_AUTOCORRELATION)[days] for p in pols]
        else:
            offs = rng.integers(0, 26, len(month_starts))
            days = np.array(month_starts, dtype=np.int64) + offs
            # move weekend samples to the next Monday (still within the month: offset < 28)
            weekday = (period.start.weekday() + days) % 7
            days = days + np.where(weekday >= 5, 7 - weekday, 0)
            noises = [rng.normal(0.0, p.sd_log, len(days)) for p in pols]
        for pol, noise in zip(pols, noises, strict=True):
            level = pol.background + pol.source * np.exp(-station.distance_km / pol.decay_km)
            value = np.round(level * _season(pol, days) * np.exp(noise), pol.decimals)
            invalid = rng.random(len(days)) < INVALID_SHARE
            spike = np.round(value * rng.uniform(4.0, 8.0, len(days)), pol.decimals)
            value = np.where(invalid, np.maximum(spike, 2 * pol.lod), value)
            below = (value < pol.lod) & ~invalid
            preliminary = days > period.n_days - 1 - PRELIMINARY_DAYS
            for i in range(len(days)):
                status = (
                    "invalid" if invalid[i] else ("preliminary" if preliminary[i] else "validated")
                )
                rows.append(
                    {
                        "station": station.station_code,
                        "day": int(days[i]),
                        "pollutant": pol.code,
                        "value": float(value[i]),
                        "below": bool(below[i]),
                        "status": status,
                        "pol": pol,
                    }
                )
    order = {p.code: i for i, p in enumerate(POLLUTANTS)}
    rows.sort(key=lambda r: (r["station"], r["day"], order[r["pollutant"]]))
    return rows
