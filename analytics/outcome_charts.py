"""The staff outcome page's charts, drawn once when a part of a run finishes.

`render_part` turns one part's result rows (the tidy contract, as dicts) into the charts of
every outcome it covers; the service stores them with the result set (ResultChart) and the
outcome page serves them as stored. Chart text (titles, axes, legends) goes through gettext and
names outcomes, areas and sites by their labels; codes stay in the downloads.

The scan tables and the scan map share `scan_section`, so the map drawn with the run and the
tables the page shows come from the same reading of the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from analytics import charts, suite
from analytics.extraction import ACUTE_RESPIRATORY_LABEL
from analytics.stats import periods
from healthwatch.i18n import short_date

WEEKLY_CHART_WEEKS = 52
"""The aberration charts show the latest complete weeks with data, one year of them; the whole
monitored series is in the aberration CSV."""

SCAN_ANALYSES = ("spatial_scan_site", "spatial_scan")

# Chart positions on the page: trend, exposure–response, weekly series, biomonitoring, scans.
TREND, EXPOSURE, WEEKLY, BIOMONITORING, SCAN = 10, 20, 30, 500, 600


@dataclass(frozen=True)
class ChartSpec:
    outcome: str
    key: str
    position: int
    title: str
    svg: str


@dataclass
class Labels:
    """What the charts name things by: vocabulary labels, area and site names and places."""

    codes: dict[str, str] = field(default_factory=dict)
    reference_levels: dict[str, float | None] = field(default_factory=dict)
    areas: dict[str, dict[str, Any]] = field(default_factory=dict)  # code → name, lat, lon
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    per: float = 1000.0

    def outcome(self, code: str) -> str:
        if code == suite.ACUTE_RESPIRATORY:
            return _(ACUTE_RESPIRATORY_LABEL)
        return self.codes.get(code, code)

    def area(self, code: str) -> str:
        if code == suite.ALL_AREAS:
            return _("all areas")
        area = self.areas.get(code)
        return str(area["name"]) if area else code


def rate_measure(per: float) -> str:
    """The measure name of the age-standardized rate rows (analytics.stats.rates)."""
    label = f"{int(per)}" if float(per).is_integer() else f"{per:g}"
    return f"age_standardized_rate_per_{label}"


def _row_order(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in ("analysis", "area_code", "period", "stratum", "measure"))


def _by_outcome(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by outcome, each in the stored order (the charts are the same whether drawn from a
    part's output or from the rows stored)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=_row_order):
        grouped.setdefault(str(row["outcome"]), []).append(row)
    return grouped


def _flags(row: dict[str, Any]) -> list[str]:
    return [f for f in str(row.get("flags") or "").split(";") if f]


def rate_series(rows: Sequence[dict[str, Any]], per: float) -> list[dict[str, Any]]:
    """The all-areas age-standardized rates of one outcome by year (crude rates when no
    standardized rate could be computed), each marked whether its year is complete."""
    scoped = [r for r in rows if r["analysis"] == "rates" and r["area_code"] == suite.ALL_AREAS]
    measure = rate_measure(per)
    series = [r for r in scoped if r["measure"] == measure]
    if not series:
        series = [r for r in scoped if str(r["measure"]).startswith("rate_per_")]
    return [
        {**r, "partial": periods.PARTIAL_PERIOD in _flags(r)}
        for r in sorted(series, key=lambda r: str(r["period"]))
    ]


def trend_figure(outcome: str, rows: Sequence[dict[str, Any]], labels: Labels) -> ChartSpec | None:
    series = rate_series(rows, labels.per)
    if not series:
        return None
    standardized = series[0]["measure"] == rate_measure(labels.per)
    title = (
        _("%(outcome)s: age-standardized rate, all areas")
        if standardized
        else _("%(outcome)s: crude rate, all areas")
    ) % {"outcome": labels.outcome(outcome)}
    svg = charts.trend_chart(
        series,
        title=title,
        ylabel=_("per %(per)s resident-years") % {"per": _grouped(labels.per)},
    )
    return ChartSpec(outcome, "trend", TREND, title, svg)


def _grouped(number: float | str) -> str:
    """A rate's base (1000, 100000) in the active locale's format, grouped ("1,000" in English,
    "1 000" in French); anything not a number as it is."""
    try:
        value = float(number)
    except ValueError:
        return str(number)
    return number_format(value, 0 if value.is_integer() else None, force_grouping=True)


def measure_label(measure: str) -> str:
    """A measure as the tables name it (the code stays in the cell's tooltip and the CSV)."""
    if measure.startswith("age_standardized_rate_per_"):
        return _("age-standardized rate per %(per)s resident-years") % {
            "per": _grouped(measure.removeprefix("age_standardized_rate_per_"))
        }
    if measure.startswith("rate_per_"):
        return _("crude rate per %(per)s resident-years") % {
            "per": _grouped(measure.removeprefix("rate_per_"))
        }
    if measure.startswith("adjusted_rate_ratio_per_"):
        return _("adjusted rate ratio per %(step)s modelled") % {
            "step": measure.removeprefix("adjusted_rate_ratio_per_").replace("_", " ")
        }
    if len(measure) == 3 and measure.startswith("p") and measure[1:].isdigit():
        return _("percentile %(p)s") % {"p": measure[1:]}
    known = {
        "apc_percent_per_year": _("annual percent change (% per year)"),
        "aapc_percent_per_year": _("average annual percent change (% per year)"),
        "crude_rate_ratio": _("crude rate ratio"),
        "adjusted_rate_ratio": _("adjusted rate ratio"),
        "rate_ratio_per_score_unit": _("rate ratio per distance band (trend)"),
        "geometric_mean": _("geometric mean"),
        "gm_ratio": _("geometric-mean ratio"),
        "proportion_above_reference": _("share above the reference level"),
    }
    return known.get(measure, measure.replace("_", " "))


def stratum_label(stratum: str) -> str:
    if stratum.startswith("distance_band="):
        return _band_label(stratum)
    if stratum == "distance_band_trend":
        return _("trend across distance bands")
    return stratum.replace("_", " ")


def _band_label(stratum: str) -> str:
    band = stratum.removeprefix("distance_band=")
    return {
        "near": _("near the site"),
        "middle": _("middle distance"),
        "far": _("far from the site"),
        "all": _("everyone"),
    }.get(band, band)


def exposure_figure(
    outcome: str, rows: Sequence[dict[str, Any]], labels: Labels
) -> ChartSpec | None:
    ratios = [
        r
        for r in rows
        if r["analysis"] == "exposure_response"
        and "rate_ratio" in str(r["measure"])
        and r["estimate"]
    ]
    if not ratios:
        return None
    kinds = {"crude_rate_ratio": _("crude"), "adjusted_rate_ratio": _("adjusted")}

    def label(row: dict[str, Any]) -> str:
        measure = str(row["measure"])
        if measure in kinds:
            return f"{_band_label(str(row['stratum']))} ({kinds[measure]})"
        return _("per %(step)s modelled (adjusted)") % {
            "step": measure.removeprefix("adjusted_rate_ratio_per_").replace("_", " ")
        }

    title = _("%(outcome)s: rate ratios against the far band") % {
        "outcome": labels.outcome(outcome)
    }
    svg = charts.forest_chart(
        [{**r, "label": label(r)} for r in ratios], title=title, xlabel=_("rate ratio")
    )
    return ChartSpec(outcome, "exposure", EXPOSURE, title, svg)


def weekly_series(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The aberration rows of one outcome as weekly points per area (latest weeks last)."""
    by_area: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["analysis"] != "aberration":
            continue
        week = by_area.setdefault(str(row["area_code"]), {}).setdefault(
            str(row["period"]), {"period": str(row["period"])}
        )
        week[str(row["measure"])] = row["estimate"]
        if row["measure"] == "alarm" and "undetermined" in _flags(row):
            week["undetermined"] = True
    series = {}
    for area, weeks in sorted(by_area.items()):
        ordered = [weeks[k] for k in sorted(weeks)]
        for week in ordered:
            week["alarm"] = bool(week.get("alarm"))
        series[area] = ordered
    return series


def weekly_figures(outcome: str, rows: Sequence[dict[str, Any]], labels: Labels) -> list[ChartSpec]:
    figures = []
    for i, (area, weeks) in enumerate(weekly_series(rows).items()):
        shown = weeks[-WEEKLY_CHART_WEEKS:]
        title = _("%(outcome)s: weekly cases in %(area)s, weeks to %(last)s") % {
            "outcome": labels.outcome(outcome),
            "area": labels.area(area),
            "last": short_date(str(shown[-1]["period"])),
        }
        svg = charts.weekly_chart(shown, title=title)
        figures.append(ChartSpec(outcome, f"weekly:{area}", WEEKLY + i, title, svg))
    return figures


def biomonitoring_figure(
    outcome: str, rows: Sequence[dict[str, Any]], labels: Labels
) -> ChartSpec | None:
    means = [
        r for r in rows if r["analysis"] == "biomonitoring" and r["measure"] == "geometric_mean"
    ]
    if not means:
        return None
    title = _("%(outcome)s: geometric mean by distance band") % {"outcome": labels.outcome(outcome)}
    svg = charts.group_chart(
        [{**r, "label": _band_label(str(r["stratum"]))} for r in means],
        title=title,
        ylabel=_("geometric mean"),
        reference=labels.reference_levels.get(outcome),
    )
    return ChartSpec(outcome, "biomonitoring", BIOMONITORING, title, svg)


def _cell_position(label: str) -> tuple[float, float] | None:
    """A grid cell's label is its centre, "latitude,longitude"."""
    try:
        lat, lon = (float(part) for part in label.split(","))
    except ValueError:
        return None
    return lat, lon


def scan_title(analysis: str, outcome_label: str) -> str:
    return (
        _("%(outcome)s: raised risk around the production sites")
        if analysis == "spatial_scan_site"
        else _("%(outcome)s: spatial clusters over the areas")
    ) % {"outcome": outcome_label}


def scan_section(
    rows: Sequence[dict[str, Any]], analysis: str, labels: Labels, outcome: str
) -> dict[str, Any] | None:
    """The scan's clusters and its map-ready table (one row per location with coordinates,
    observed, expected, their ratio and the cluster it belongs to)."""
    rows = [r for r in rows if r["analysis"] == analysis]
    if not rows:
        return None

    def place(code: str) -> tuple[str, float | None, float | None]:
        for known in (labels.sites, labels.areas):
            if code in known:
                return str(known[code]["name"]), known[code]["latitude"], known[code]["longitude"]
        position = _cell_position(code)
        if position is not None:
            return _("grid cell at %(lat)s, %(lon)s") % {
                "lat": number_format(round(position[0], 4), 4),
                "lon": number_format(round(position[1], 4), 4),
            }, *position
        return code, None, None

    clusters: dict[str, dict[str, Any]] = {}
    locations = []
    for row in rows:
        if row["stratum"] == "location":
            name, lat, lon = place(str(row["area_code"]))
            member = str(row["flags"]).removeprefix("cluster=") if row["flags"] else ""
            locations.append(
                {
                    "code": row["area_code"],
                    "name": name,
                    "latitude": lat,
                    "longitude": lon,
                    "observed": row["numerator"],
                    "expected": row["denominator"],
                    "ratio": row["estimate"],
                    "cluster": member,
                    "p_value": row["p_value"],
                }
            )
            continue
        window = clusters.setdefault(
            str(row["stratum"]), {"rank": str(row["stratum"]).split("=")[1]}
        )
        window[str(row["measure"])] = row["estimate"]
        if row["measure"] == "relative_risk":
            name, lat, lon = place(str(row["area_code"]))
            window.update(
                code=row["area_code"],
                name=name,
                latitude=lat,
                longitude=lon,
                observed=row["numerator"],
                expected=row["denominator"],
                p_value=row["p_value"],
                significant="significant" in _flags(row),
            )
    ordered = sorted(clusters.values(), key=lambda c: int(c["rank"]))
    significant_ranks = {c["rank"] for c in ordered if c.get("significant")}
    for location in locations:
        location["significant"] = location["cluster"] in significant_ranks
    return {
        "analysis": analysis,
        "title": scan_title(analysis, labels.outcome(outcome)),
        "site_centred": analysis == "spatial_scan_site",
        "clusters": ordered,
        "locations": sorted(locations, key=lambda loc: (loc["cluster"] == "", loc["code"])),
    }


def scan_figures(outcome: str, rows: Sequence[dict[str, Any]], labels: Labels) -> list[ChartSpec]:
    figures = []
    for i, analysis in enumerate(SCAN_ANALYSES):
        section = scan_section(rows, analysis, labels, outcome)
        if section is None:
            continue
        svg = charts.scan_map(
            [loc for loc in section["locations"] if loc["latitude"] is not None],
            sites=[
                {"label": s["name"], "latitude": s["latitude"], "longitude": s["longitude"]}
                for s in labels.sites.values()
            ],
            clusters=[c for c in section["clusters"] if c.get("latitude") is not None],
            title=section["title"],
        )
        figures.append(ChartSpec(outcome, analysis, SCAN + i, section["title"], svg))
    return figures


def _single(
    figure: Callable[[str, Sequence[dict[str, Any]], Labels], ChartSpec | None],
) -> Callable[[str, Sequence[dict[str, Any]], Labels], list[ChartSpec]]:
    def many(outcome: str, rows: Sequence[dict[str, Any]], labels: Labels) -> list[ChartSpec]:
        drawn = figure(outcome, rows, labels)
        return [drawn] if drawn is not None else []

    return many


RENDERERS: dict[str, Callable[[str, Sequence[dict[str, Any]], Labels], list[ChartSpec]]] = {
    "rates": _single(trend_figure),
    "exposure": _single(exposure_figure),
    "aberration": weekly_figures,
    "biomonitoring": _single(biomonitoring_figure),
    "scan": scan_figures,
}
"""Which part draws which charts; parts without charts (trends, environment) are left out."""


def render_part(part: str, rows: Iterable[dict[str, Any]], labels: Labels) -> list[ChartSpec]:
    """Every chart of one part's rows, outcome by outcome."""
    renderer = RENDERERS.get(part)
    if renderer is None:
        return []
    drawn: list[ChartSpec] = []
    for outcome, outcome_rows in sorted(_by_outcome(rows).items()):
        drawn.extend(renderer(outcome, outcome_rows, labels))
    return drawn


def data_end_note(data_end: dt.date | None) -> str:
    if data_end is None:
        return ""
    return _(
        "Data up to %(date)s: a year, month or week that ends after this date is incomplete, "
        "left out of trend fits and alert detection, and marked where it is shown."
    ) % {"date": short_date(data_end)}
