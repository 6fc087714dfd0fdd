"""How precisely the public sees a GPS point of community monitoring.

A public complaint may carry the GPS point of where the complainant stood — often their home —
and a sample taken to check it is taken at that point. Publishing that point to the metre would
tell anyone who complained. So everything public (the snapshot's pages and JSON, the open-data
zip) shows an ad-hoc GPS point only snapped to a grid of `PUBLIC_GPS_STEP` degrees (0.01°: about
1.1 km north–south, and at most that east–west); staff pages and the database keep the exact
value. Station coordinates are not coarsened: a station is public infrastructure, not a person.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

#: The public grid, in degrees (documented in docs/community-monitoring.md and docs/privacy.md).
PUBLIC_GPS_STEP = Decimal("0.01")


def public_coordinate(value: float | None) -> float | None:
    """A latitude or longitude snapped to the public grid (None stays None).

    Decimal arithmetic, so the published text is the grid value itself ("-12.35"), never a
    binary-float neighbour with more digits."""
    if value is None:
        return None
    snapped = Decimal(repr(value)).quantize(PUBLIC_GPS_STEP, rounding=ROUND_HALF_EVEN)
    return float(snapped) + 0.0  # + 0.0 turns -0.0 into 0.0
