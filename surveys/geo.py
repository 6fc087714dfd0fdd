"""Location handling at data entry: coordinates in, distance and a coarse cell out.

Precise residence coordinates identify people, so they are used once, here, and discarded:
what is stored is the distance to the nearest production site (0.1 km) and the centre of a
~500 m grid cell for exposure modelling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from analytics.stats import exposure

# 0.005° of latitude ≈ 556 m; of longitude ≈ 556 m × cos(latitude) (≈ 480 m at 30°).
GRID_DEGREES = 0.005


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS84 points (analytics.stats.exposure)."""
    return float(exposure.haversine_km([lat1], [lon1], [lat2], [lon2])[0, 0])


@dataclass(frozen=True)
class CoarseLocation:
    nearest_site_id: int | None
    distance_to_site_km: Decimal | None
    grid_latitude: Decimal
    grid_longitude: Decimal


def grid_cell_centre(latitude: float, longitude: float) -> tuple[Decimal, Decimal]:
    def centre(value: float) -> Decimal:
        cell = math.floor(value / GRID_DEGREES)
        return Decimal(str((cell + 0.5) * GRID_DEGREES)).quantize(Decimal("0.0001"))

    return centre(latitude), centre(longitude)


def coarse_location(
    latitude: float, longitude: float, sites: Iterable[tuple[int, float, float]]
) -> CoarseLocation:
    """Distance to the nearest of `sites` (id, lat, lon), rounded to 0.1 km, and the grid cell."""
    known = list(sites)
    grid_lat, grid_lon = grid_cell_centre(latitude, longitude)
    if not known:
        return CoarseLocation(None, None, grid_lat, grid_lon)
    nearest = exposure.nearest_site(
        [latitude], [longitude], [lat for _, lat, _ in known], [lon for _, _, lon in known]
    )
    best = (float(nearest.distance_km[0]), known[int(nearest.site_index[0])][0])
    rounded = Decimal(str(best[0])).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return CoarseLocation(best[1], rounded, grid_lat, grid_lon)
