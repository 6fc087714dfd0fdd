"""The fictional geography of the synthetic community: sites, areas and monitoring stations.

The community, "Red Hollow", is fictional. It is placed in a sparsely populated semi-arid basin
around the origin below (the separation plant); no real facility, town or person is meant. All
positions are laid out in kilometres east/north of the plant and converted to WGS84 degrees
with a local equirectangular approximation (error well under 1 % at these distances).

The layout is fixed (it does not depend on the seed): only people, visits, outcomes and
measurements are random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: WGS84 position of the (fictional) separation plant, the origin of the local grid.
ORIGIN_LATITUDE = 44.15
ORIGIN_LONGITUDE = -105.90

KM_PER_DEGREE_LATITUDE = 110.574
KM_PER_DEGREE_LONGITUDE_AT_EQUATOR = 111.320
EARTH_RADIUS_KM = 6371.0088

#: Residents live uniformly within this radius (km) of their area's centroid.
RESIDENCE_RADIUS_KM = 0.35

#: Distance bands (km to the nearest site): near < 2, middle 2-8, far >= 8.
NEAR_KM = 2.0
FAR_KM = 8.0
BANDS: tuple[str, ...] = ("near", "middle", "far")


def band_of_distance(distance_km: float) -> str:
    if distance_km < NEAR_KM:
        return "near"
    if distance_km < FAR_KM:
        return "middle"
    return "far"


def _offset(
    east_km: float, north_km: float, distance_km: float, bearing_deg: float
) -> tuple[float, float]:
    theta = math.radians(bearing_deg)
    return east_km + distance_km * math.sin(theta), north_km + distance_km * math.cos(theta)


def to_latlon(
    east_km: npt.NDArray[np.float64], north_km: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Local kilometres east/north of the origin to WGS84 degrees."""
    lat = ORIGIN_LATITUDE + north_km / KM_PER_DEGREE_LATITUDE
    km_per_lon = KM_PER_DEGREE_LONGITUDE_AT_EQUATOR * math.cos(math.radians(ORIGIN_LATITUDE))
    lon = ORIGIN_LONGITUDE + east_km / km_per_lon
    return lat, lon


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km (what the application computes at entry)."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a)), dtype=np.float64)


@dataclass(frozen=True)
class Site:
    site_code: str
    name: str
    kind: str
    operator: str
    opened_on: str
    east_km: float
    north_km: float


@dataclass(frozen=True)
class Area:
    area_code: str
    name: str
    east_km: float
    north_km: float
    #: Share of the community's population living in the area.
    weight: float
    #: Age-pyramid tilt: > 0 older than the community average, < 0 younger.
    age_tilt: float
    distance_km: float
    band: str


@dataclass(frozen=True)
class Station:
    station_code: str
    name: str
    medium: str
    east_km: float
    north_km: float
    distance_km: float


OPERATOR = "Fictional Rare Earths Co."

SITES: tuple[Site, ...] = (
    Site(
        "RH-SEP",
        "Red Hollow Separation Plant",
        "separation_plant",
        OPERATOR,
        "1998-05-04",
        0.0,
        0.0,
    ),
    Site("RH-TSF", "Red Hollow Tailings Facility", "tailings", OPERATOR, "2001-09-17", 2.6, -1.0),
)

# (code, name, anchor site index, distance from the anchor in km, bearing in degrees, weight)
_AREA_LAYOUT: tuple[tuple[str, str, int, float, float, float], ...] = (
    ("A01", "Plant Row", 0, 0.6, 250.0, 0.06),
    ("A02", "Kiln Flats", 0, 1.1, 320.0, 0.08),
    ("A03", "Tailings Bend", 1, 1.6, 120.0, 0.10),
    ("A04", "Millbrook", 0, 3.0, 200.0, 0.14),
    ("A05", "Cedar Crossing", 0, 4.5, 280.0, 0.16),
    ("A06", "Old Town", 0, 6.5, 340.0, 0.10),
    ("A07", "Sage Hill", 0, 9.0, 230.0, 0.12),
    ("A08", "Juniper Mesa", 0, 11.0, 300.0, 0.09),
    ("A09", "Willow Springs", 1, 13.0, 150.0, 0.08),
    ("A10", "Far Pines", 0, 15.0, 20.0, 0.07),
)

#: Age tilt by band: the near areas are older (and smoke more, see population.py), which is
#: what confounds the crude near/far comparison of respiratory symptoms.
AGE_TILT = {"near": 0.55, "middle": 0.0, "far": -0.30}

# (code, name, medium, anchor site index, distance km, bearing deg)
_STATION_LAYOUT: tuple[tuple[str, str, str, int, float, float], ...] = (
    ("AQ-01", "Plant fence-line monitor", "air", 0, 0.8, 270.0),
    ("AQ-02", "Millbrook school monitor", "air", 0, 3.0, 205.0),
    ("AQ-03", "Old Town hall monitor", "air", 0, 6.5, 335.0),
    ("AQ-04", "Far Pines background monitor", "air", 0, 15.0, 25.0),
    ("WQ-01", "Tailings seepage well", "water", 1, 0.7, 140.0),
    ("WQ-02", "Red Creek downstream", "water", 0, 3.5, 180.0),
    ("WQ-03", "Cedar Crossing municipal well", "water", 0, 7.0, 285.0),
    ("WQ-04", "Upper reservoir", "water", 0, 14.0, 310.0),
)


def nearest_site_km(east_km: npt.ArrayLike, north_km: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Planar distance (km) to the nearest site on the local grid."""
    e = np.asarray(east_km, float)
    n = np.asarray(north_km, float)
    d = np.full(e.shape, np.inf)
    for site in SITES:
        d = np.minimum(d, np.hypot(e - site.east_km, n - site.north_km))
    return d


def _build_areas() -> tuple[Area, ...]:
    areas = []
    for code, name, anchor, dist, bearing, weight in _AREA_LAYOUT:
        site = SITES[anchor]
        east, north = _offset(site.east_km, site.north_km, dist, bearing)
        d = float(nearest_site_km(east, north))
        band = band_of_distance(d)
        # Every residence (within RESIDENCE_RADIUS_KM of the centroid) stays in the same band.
        for edge in (d - RESIDENCE_RADIUS_KM, d + RESIDENCE_RADIUS_KM):
            if band_of_distance(edge) != band or edge <= 0:
                raise AssertionError(f"area {code} straddles a distance band")
        areas.append(Area(code, name, east, north, weight, AGE_TILT[band], d, band))
    if not math.isclose(sum(a.weight for a in areas), 1.0):
        raise AssertionError("area weights must sum to 1")
    return tuple(areas)


def _build_stations() -> tuple[Station, ...]:
    stations = []
    for code, name, medium, anchor, dist, bearing in _STATION_LAYOUT:
        site = SITES[anchor]
        east, north = _offset(site.east_km, site.north_km, dist, bearing)
        stations.append(
            Station(code, name, medium, east, north, float(nearest_site_km(east, north)))
        )
    return tuple(stations)


AREAS: tuple[Area, ...] = _build_areas()
STATIONS: tuple[Station, ...] = _build_stations()
