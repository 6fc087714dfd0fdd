"""The release map: the site, its areas by name, the monitoring stations and distance rings, as
SVG drawn at publication from the stored coordinates (no tile server, no external request).

Disclosure: the map shows only what the release's audited tables publish. An area's shade is
its key indicator's published rate; where the count is withheld the area is hatched and carries
no number and no bound (the shade classes are drawn from published values only). Area
centroids, station and site positions are not health data (the stations are open data).

`key_indicator_rows` and `draw_map` are pure (plain dicts in, text out); `rendering.release_map`
gathers the coordinates from the surveys tables at publication.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext

# The indicator an area is shaded by: the first of these that the area table carries.
KEY_OUTCOMES = ("acute_respiratory", "symptom.cough", "symptom.wheeze")
PUBLISHED = "published"
SUPPRESSED = "suppressed"
NOT_PUBLISHED = "not_published"  # the count is published but no rate (small denominator)
# Grey shades (light → dark) so that the map prints in black and white.
SHADES = ("#e6e6e6", "#a6a6a6", "#595959")
SIZE = 600
MARGIN = 40
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_EQUATOR = 111.320


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    latitude: float
    longitude: float
    kind: str = ""


def _estimate(rows: list[dict[str, Any]], outcome: str, area: str, measure: str) -> Any:
    for row in rows:
        if row["outcome"] == outcome and row["area_code"] == area and row["measure"] == measure:
            return row
    return None


def key_outcome(content: dict[str, Any]) -> str | None:
    """The outcome the areas are shaded by: the first of KEY_OUTCOMES with a published area
    count this year, else the outcome with the most published area counts (on a small
    programme most single-area counts are withheld), else the first KEY_OUTCOMES present."""
    year = str(content["year"])
    rows = [
        r
        for r in content["tables"].get("indicators_by_area", [])
        if r["measure"] == "events" and r["period"] == year and r["area_code"] != "ALL"
    ]
    published: dict[str, int] = {}
    for row in rows:
        published.setdefault(row["outcome"], 0)
        if row["estimate"] is not None:
            published[row["outcome"]] += 1
    for outcome in KEY_OUTCOMES:
        if published.get(outcome):
            return outcome
    best = max(published.items(), key=lambda item: item[1], default=None)
    if best is not None and best[1] > 0:
        return best[0]
    return next((o for o in KEY_OUTCOMES if o in published), next(iter(published), None))


def key_indicator_rows(content: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per area of the release: name, distance, and the key indicator as published.

    A withheld count gives state "suppressed" and no number at all (not the rate either)."""
    rows = content["tables"].get("indicators_by_area", [])
    outcome = key_outcome(content)
    year = str(content["year"])
    result = []
    for area in content["areas"]:
        code = area["area_code"]
        events = rate = None
        if outcome is not None:
            events = _estimate([r for r in rows if r["period"] == year], outcome, code, "events")
            rate = _estimate(
                [r for r in rows if r["period"] == year], outcome, code, "crude_rate_per_1000"
            )
        if events is None or events["estimate"] is None:
            state, cases, value = SUPPRESSED, None, None
        else:
            cases = int(events["estimate"])
            value = None if rate is None else rate["estimate"]
            state = PUBLISHED if value is not None else NOT_PUBLISHED
        result.append(
            {
                "area_code": code,
                "name": area["name"],
                "distance_km": area["distance_km"],
                "band": area.get("band", ""),
                "state": state,
                "cases": cases,
                "rate": value,
            }
        )
    return result


def shade_classes(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Up to three equal-width classes spanning the published rates (none when none is)."""
    values = sorted(r["rate"] for r in rows if r["state"] == PUBLISHED)
    if not values:
        return []
    low, high = values[0], values[-1]
    if math.isclose(low, high):
        return [(low, high)]
    step = (high - low) / len(SHADES)
    return [(low + i * step, low + (i + 1) * step) for i in range(len(SHADES))]


def shade_of(rate: float, classes: list[tuple[float, float]]) -> str:
    for index, (_, upper) in enumerate(classes):
        if rate <= upper + 1e-9:
            return SHADES[min(index, len(SHADES) - 1)]
    return SHADES[min(len(classes), len(SHADES)) - 1]


class _Projection:
    """Azimuthal projection centred on the site: directions are true, and the distance from
    the site is drawn on a square-root scale so that the areas near the site (where the
    questions are) do not pile up on it. Rings are drawn on the same scale."""

    def __init__(self, centre: Place, extent_km: float) -> None:
        self.lat0 = centre.latitude
        self.lon0 = centre.longitude
        self.kx = KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(self.lat0))
        self.scale = (SIZE / 2 - MARGIN) / math.sqrt(extent_km)  # px per √km

    def km(self, place: Place) -> tuple[float, float]:
        return (
            (place.longitude - self.lon0) * self.kx,
            (place.latitude - self.lat0) * KM_PER_DEGREE_LAT,
        )

    def radius(self, km: float) -> float:
        return math.sqrt(max(km, 0.0)) * self.scale

    def xy(self, place: Place) -> tuple[float, float]:
        x, y = self.km(place)
        distance = math.hypot(x, y)
        if distance == 0:
            return SIZE / 2, SIZE / 2
        r = self.radius(distance)
        return SIZE / 2 + x / distance * r, SIZE / 2 - y / distance * r


def _fmt(value: float) -> str:
    return f"{value:,.1f}"


def _text(x: float, y: float, body: str, **attributes: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(body)}</text>'


def draw_map(
    *,
    site: Place,
    areas: list[tuple[Place, dict[str, Any]]],
    stations: list[Place],
    rings_km: list[float],
    indicator: str,
    map_id: str = "hw-map",
) -> str:
    """The SVG map. `areas` pairs each area's centroid with its key_indicator_rows row."""
    placed = [place for place, _ in areas] + stations
    projection_probe = _Projection(site, 1.0)
    farthest = max(
        [math.hypot(*projection_probe.km(p)) for p in placed] + [max(rings_km, default=1.0)]
    )
    projection = _Projection(site, farthest * 1.08)
    rows = [row for _, row in areas]
    classes = shade_classes(rows)
    hatch = f"{map_id}-hatch"
    title = gettext("Map of %(site)s, the areas around it and the monitoring stations") % {
        "site": site.name
    }
    suppressed_names = [r["name"] for r in rows if r["state"] == SUPPRESSED]
    desc = gettext(
        "%(indicator)s by area, darker grey for a higher rate; hatched areas have their "
        "numbers withheld to protect privacy (%(withheld)s). Rings mark distances from the "
        "site (the scale widens near the site); triangles are air monitors and squares "
        "water monitors. The table beside the map gives the same information."
    ) % {
        "indicator": indicator,
        "withheld": ", ".join(suppressed_names) or gettext("none"),
    }
    height = SIZE + 1  # replaced by the legend's bottom once it is drawn
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {height}" '
        f'role="img" aria-labelledby="{map_id}-title {map_id}-desc" class="release-map" '
        f'font-family="sans-serif" font-size="19" data-map="{escape(site.code)}">',
        f'<title id="{map_id}-title">{escape(title)}</title>',
        f'<desc id="{map_id}-desc">{escape(desc)}</desc>',
        "<defs>"
        f'<pattern id="{hatch}" patternUnits="userSpaceOnUse" width="8" height="8" '
        'patternTransform="rotate(45)">'
        '<rect width="8" height="8" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#000000" stroke-width="3"/>'
        "</pattern></defs>",
        f'<rect x="0" y="0" width="{SIZE}" height="{SIZE}" fill="#ffffff" stroke="#000000"/>',
    ]
    centre = SIZE / 2
    for ring in sorted(rings_km):
        radius = projection.radius(ring)
        parts.append(
            f'<circle cx="{centre}" cy="{centre}" r="{radius:.1f}" fill="none" '
            'stroke="#555555" stroke-dasharray="6 4" data-ring=""/>'
        )
        parts.append(
            _text(
                centre + 4,
                centre - radius - 4,
                gettext("%(km)s km") % {"km": f"{ring:g}"},
                fill="#333333",
                font_size="16",
            )
        )
    area_radius = 13
    for place, row in areas:
        x, y = projection.xy(place)
        if row["state"] == SUPPRESSED:
            fill = f"url(#{hatch})"
        elif row["state"] == PUBLISHED:
            fill = shade_of(row["rate"], classes)
        else:
            fill = "#ffffff"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{area_radius}" fill="{fill}" '
            f'stroke="#000000" stroke-width="1.5" data-area="{escape(row["area_code"])}" '
            f'data-state="{row["state"]}"><title>{escape(_area_words(row))}</title></circle>'
        )
        label = row["name"]
        if row["state"] == PUBLISHED:
            label += f" ({_fmt(row['rate'])})"
        anchor = "start" if x < SIZE * 0.7 else "end"
        dx = area_radius + 3 if anchor == "start" else -(area_radius + 3)
        parts.append(
            _text(
                x + dx,
                y + 5,
                label,
                text_anchor=anchor,
                fill="#000000",
                stroke="#ffffff",
                stroke_width="3",
                paint_order="stroke",
            )
        )
    for station in stations:
        x, y = projection.xy(station)
        if station.kind == "water":
            shape = f'<rect x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12"'
        else:
            corners = f"{x:.1f},{y - 8:.1f} {x - 7:.1f},{y + 6:.1f} {x + 7:.1f},{y + 6:.1f}"
            shape = f'<polygon points="{corners}"'
        parts.append(
            f'{shape} fill="#ffffff" stroke="#000000" stroke-width="2" '
            f'data-station="{escape(station.code)}"><title>{escape(station.name)}</title>'
            + ("</rect>" if station.kind == "water" else "</polygon>")
        )
    parts.append(
        f'<path d="M{centre - 10} {centre}h20M{centre} {centre - 10}v20" stroke="#000000" '
        f'stroke-width="4" data-site="{escape(site.code)}">'
        f"<title>{escape(site.name)}</title></path>"
    )
    legend, bottom = _legend(classes, hatch, indicator, site.name, top=SIZE + 8)
    parts.extend(legend)
    parts.append("</svg>")
    parts[0] = parts[0].replace(f"0 0 {SIZE} {SIZE + 1}", f"0 0 {SIZE} {bottom:.0f}")
    return "".join(parts)


def _area_words(row: dict[str, Any]) -> str:
    if row["state"] == SUPPRESSED:
        return gettext("%(area)s: withheld to protect privacy") % {"area": row["name"]}
    if row["state"] == NOT_PUBLISHED:
        return gettext("%(area)s: %(cases)s cases, no rate published") % {
            "area": row["name"],
            "cases": row["cases"],
        }
    return gettext("%(area)s: %(rate)s per 1,000 resident-years (%(cases)s cases)") % {
        "area": row["name"],
        "rate": _fmt(row["rate"]),
        "cases": row["cases"],
    }


def _legend(
    classes: list[tuple[float, float]], hatch: str, indicator: str, site_name: str, *, top: float
) -> tuple[list[str], float]:
    """One entry per line (legible on a phone): the shades with their ranges of published
    rates, the hatch, the symbols. Returns the parts and the legend's bottom."""
    parts = [
        _text(
            10,
            top + 20,
            indicator + " " + gettext("(per 1,000 resident-years)"),
            font_weight="bold",
            fill="#000000",
        )
    ]
    y = top + 34
    swatches: list[tuple[str, str]] = [
        (SHADES[i], f"{_fmt(lo)}–{_fmt(hi)}") for i, (lo, hi) in enumerate(classes)
    ]
    swatches.append((f"url(#{hatch})", gettext("withheld to protect privacy")))
    swatches.append(("#ffffff", gettext("no rate published")))
    for fill, words in swatches:
        parts.append(
            f'<rect x="10" y="{y:.0f}" width="30" height="20" fill="{fill}" stroke="#000000"/>'
        )
        parts.append(_text(50, y + 16, words, fill="#000000"))
        y += 28
    y += 14
    parts.append(
        f'<polygon points="25,{y - 9:.0f} 17,{y + 7:.0f} 33,{y + 7:.0f}" fill="#ffffff" '
        'stroke="#000000" stroke-width="2"/>'
    )
    parts.append(_text(50, y + 6, gettext("air monitor"), fill="#000000"))
    y += 28
    parts.append(
        f'<rect x="19" y="{y - 6:.0f}" width="12" height="12" fill="#ffffff" stroke="#000000" '
        'stroke-width="2"/>'
    )
    parts.append(_text(50, y + 6, gettext("water monitor"), fill="#000000"))
    y += 28
    parts.append(f'<path d="M15 {y:.0f}h20M25 {y - 10:.0f}v20" stroke="#000000" stroke-width="4"/>')
    parts.append(
        _text(50, y + 6, gettext("the site: %(site)s") % {"site": site_name}, fill="#000000")
    )
    y += 28
    parts.append(
        f'<line x1="10" y1="{y:.0f}" x2="40" y2="{y:.0f}" stroke="#555555" stroke-dasharray="6 4"/>'
    )
    parts.append(_text(50, y + 6, gettext("distance from the site"), fill="#000000"))
    y += 24
    parts.append(_text(50, y + 6, gettext("(the scale widens near the site)"), fill="#000000"))
    return parts, y + 20
