"""Exposure assignment: distance to the nearest site and inverse-distance-weighted (IDW)
concentrations from monitoring stations.

Units: coordinates in decimal degrees (WGS84), distances in kilometres, concentrations in the
pollutant's unit.

Distance: haversine great-circle distance on a sphere of radius 6371.0088 km (IUGG mean Earth
radius); error against the WGS84 ellipsoid ≤ 0.5%, negligible at the 0.1 km resolution stored.

IDW (Shepard 1968): ``ĉ = Σ w_i c_i / Σ w_i`` with ``w_i = d_i^−p`` over stations within
``radius_km``; defaults ``p = 2`` and ``radius_km = 10`` (documented in docs/methods.md). A
station closer than 1 m gets all the weight (its value is returned). With no station in the
radius the estimate is NaN with ``n_stations = 0``.

References:
    Sinnott RW. Virtues of the haversine. Sky and Telescope 1984;68:159.
    Shepard D. A two-dimensional interpolation function for irregularly-spaced data. Proc 23rd
        ACM National Conference, 1968:517-24.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.stats._validate import FloatArray, as_float_array
from analytics.stats.errors import EmptyInputError, MismatchedStrataError, StatsInputError

EARTH_RADIUS_KM = 6371.0088
DEFAULT_IDW_POWER = 2.0
DEFAULT_IDW_RADIUS_KM = 10.0
_COINCIDENT_KM = 0.001


def _coords(
    lat: Sequence[float] | FloatArray, lon: Sequence[float] | FloatArray, what: str
) -> tuple[FloatArray, FloatArray]:
    la = as_float_array(lat, f"{what} latitude")
    lo = as_float_array(lon, f"{what} longitude")
    if len(la) != len(lo):
        raise MismatchedStrataError(f"{what} latitude and longitude differ in length")
    if (np.abs(la) > 90).any() or (np.abs(lo) > 180).any():
        raise StatsInputError(f"{what} coordinates out of range (|lat| ≤ 90, |lon| ≤ 180)")
    return la, lo


def haversine_km(
    lat1: Sequence[float] | FloatArray,
    lon1: Sequence[float] | FloatArray,
    lat2: Sequence[float] | FloatArray,
    lon2: Sequence[float] | FloatArray,
) -> FloatArray:
    """Pairwise distance matrix (km), shape ``(len(lat1), len(lat2))``."""
    a_lat, a_lon = _coords(lat1, lon1, "first")
    b_lat, b_lon = _coords(lat2, lon2, "second")
    p1, p2 = np.radians(a_lat)[:, None], np.radians(b_lat)[None, :]
    dphi = p2 - p1
    dlmb = np.radians(b_lon)[None, :] - np.radians(a_lon)[:, None]
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1))), dtype=np.float64)


@dataclass(frozen=True)
class NearestSite:
    """Nearest site per resident: ``site_index`` into the site list and ``distance_km``."""

    site_index: npt.NDArray[np.int64]
    distance_km: FloatArray


def nearest_site(
    lat: Sequence[float],
    lon: Sequence[float],
    site_lat: Sequence[float],
    site_lon: Sequence[float],
) -> NearestSite:
    """Distance (km) from each point to the nearest site and that site's index."""
    if len(site_lat) == 0:
        raise EmptyInputError("no sites")
    d = haversine_km(lat, lon, site_lat, site_lon)
    idx = np.argmin(d, axis=1)
    return NearestSite(idx.astype(np.int64), d[np.arange(len(idx)), idx])


@dataclass(frozen=True)
class IdwEstimate:
    """IDW concentration per point and the number of stations that contributed."""

    value: FloatArray
    n_stations: npt.NDArray[np.int64]
    power: float
    radius_km: float


def idw(
    lat: Sequence[float],
    lon: Sequence[float],
    station_lat: Sequence[float],
    station_lon: Sequence[float],
    station_value: Sequence[float],
    *,
    power: float = DEFAULT_IDW_POWER,
    radius_km: float = DEFAULT_IDW_RADIUS_KM,
) -> IdwEstimate:
    """Inverse-distance-weighted value at each point from stations within ``radius_km``."""
    if power <= 0 or radius_km <= 0:
        raise StatsInputError("power and radius_km must be positive")
    vals = as_float_array(station_value, "station_value")
    if len(vals) != len(station_lat):
        raise MismatchedStrataError("one value per station is needed")
    d = haversine_km(lat, lon, station_lat, station_lon)
    within = d <= radius_km
    n_used = within.sum(axis=1).astype(np.int64)
    out = np.full(d.shape[0], np.nan)
    for i in range(d.shape[0]):
        if n_used[i] == 0:
            continue
        di, vi = d[i, within[i]], vals[within[i]]
        close = di < _COINCIDENT_KM
        if close.any():  # a station at the location: its own value (mean if several)
            out[i] = float(vi[close].mean())
            continue
        w = di**-power
        out[i] = float(np.sum(w * vi) / np.sum(w))
    return IdwEstimate(out, n_used, power, radius_km)
