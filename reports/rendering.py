"""Rendering at publication: the release page, its charts and its downloads, frozen.

A public request never renders from data: it serves what these functions produced when the
release was published (Release.rendered_html, ReleaseFile). Charts are server-side SVG.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string
from django.utils import formats
from django.utils.functional import Promise
from django.utils.html import escape
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from analytics import charts
from analytics.stats.results import ROW_COLUMNS
from healthwatch import text
from reports import maps

if TYPE_CHECKING:
    from reports.models import Release

StrOrPromise = str | Promise

OPEN_DATA_LICENCE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
COUNT_MEASURES = ("events", "tested", "above_reference")
SUPPRESSED = "suppressed"
UNRELIABLE = "unreliable"
# Measure labels: gettext_lazy, so each is translated when the page is frozen at publication.
MEASURE_LABELS = {
    "events": _("Cases"),
    "tested": _("Tested"),
    "above_reference": _("Above reference"),
    "resident_years": _("Resident-years"),
    "crude_rate_per_1000": _("Rate per 1,000 resident-years"),
    "dsr_per_1000": _("Age-standardized rate per 1,000"),
    "geometric_mean": _("Geometric mean"),
    "pct_above_reference": _("% above reference"),
    "adjusted_rate_ratio": _("Adjusted rate ratio vs far"),
    # xgettext:no-python-format
    "apc_percent_per_year": _("Annual % change"),
    "population": _("Population"),
    "mean": _("Annual mean"),
    "guideline": _("Guideline"),
    "n_exceed": _("Samples above guideline"),
    "n": _("Samples"),
    "max": _("Highest"),
    "p50": _("Median"),
    "p90": _("90th percentile"),
    "p98": _("98th percentile"),
    # xgettext:no-python-format
    "pct_exceed": _("% of samples above guideline"),
}
RATE = "crude_rate_per_1000"
BANDS = ("near", "middle", "far")


@dataclass(frozen=True)
class Topic:
    """One short section of the release page: a chart, a two-line reading, the full table."""

    key: str
    title: StrOrPromise
    outcomes: tuple[str, ...]  # the first one with published numbers is drawn
    table: str


TOPICS = (
    Topic(
        "respiratory",
        _("Breathing and lungs"),
        (
            "acute_respiratory",
            "symptom.cough",
            "symptom.wheeze",
            "dx.J45",
            "dx.J44",
            "symptom.dyspnoea",
        ),
        "indicators_by_distance",
    ),
    Topic("skin", _("Skin"), ("dx.L30", "symptom.skin_rash"), "indicators_by_distance"),
    Topic("kidney", _("Kidneys"), ("dx.N18",), "indicators_by_distance"),
    Topic(
        "biomarkers",
        _("Lead and other substances in blood and urine"),
        (
            "lab.blood_lead",
            "lab.urine_cadmium",
            "lab.urine_thorium",
            "lab.urine_uranium",
            "lab.blood_manganese",
            "lab.urine_fluoride",
        ),
        "biomonitoring",
    ),
    Topic("environment", _("Air around the site"), ("pm2_5", "pm10"), "environment"),
)


def metadata(release: Release) -> dict[str, Any]:
    return {
        "release_id": release.pk,
        "template": release.template,
        "site": {"code": release.site_code, "name": release.site_name},
        "year": release.year,
        "version": release.version,
        "supersedes_release_id": release.supersedes_id,
        "erratum": release.erratum,
        "disclosure_threshold": release.threshold,
        "licence": OPEN_DATA_LICENCE,
        "columns": list(ROW_COLUMNS),
    }


def content_hash(release: Release) -> str:
    """SHA-256 of the canonical JSON of the release's metadata and content."""
    canonical = json.dumps(
        {"metadata": metadata(release), "content": release.content},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def _digits(measure: str) -> int:
    if measure in (*COUNT_MEASURES, "population", "n", "n_exceed", "resident_years"):
        return 0
    return 2 if measure in ("geometric_mean", "adjusted_rate_ratio") else 1


def _cell_text(row: dict[str, Any]) -> dict[str, str]:
    flags = [f for f in str(row.get("flags") or "").split(";") if f]
    if row["estimate"] is None:
        return {
            "text": "–",
            "note": SUPPRESSED if SUPPRESSED in flags else (flags[0] if flags else ""),
        }
    digits = _digits(row["measure"])
    text = _fmt(row["estimate"], digits)
    if row.get("ci_lower") is not None and row.get("ci_upper") is not None:
        text += f" ({_fmt(row['ci_lower'], digits)}–{_fmt(row['ci_upper'], digits)})"
    return {"text": text, "note": UNRELIABLE if UNRELIABLE in flags else ""}


# --- labels: what a resident reads instead of the codes -------------------------------------


@dataclass
class Labels:
    """Names for every code a public page shows, read once at publication (staff side)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    areas: dict[str, str] = field(default_factory=dict)
    stations: dict[str, str] = field(default_factory=dict)
    near_km: float = 2.0
    far_km: float = 8.0

    def outcome(self, code: str) -> str:
        if code in self.outcomes:
            return self.outcomes[code]
        # never the code itself: its last part, in words ("lab.blood_lead" → "Blood lead")
        return code.rsplit(".", 1)[-1].replace("_", " ").capitalize()

    def area(self, code: str) -> str:
        if code in ("ALL", ""):
            return str(_("All areas")) if code else ""
        return self.areas.get(code, code)

    def band(self, band: str) -> str:
        names: dict[str, StrOrPromise] = {
            "near": _("Near (under %(km)s km)") % {"km": f"{self.near_km:g}"},
            "middle": _("Middle (%(near)s to %(far)s km)")
            % {"near": f"{self.near_km:g}", "far": f"{self.far_km:g}"},
            "far": _("Far (%(km)s km or more)") % {"km": f"{self.far_km:g}"},
            "ALL": _("All distances"),
        }
        return str(names.get(band, band))

    def stratum(self, stratum: str) -> str:
        kind, _sep, value = str(stratum).partition("=")
        if kind == "distance_band":
            return str(self.band(value))
        if kind == "station":
            return self.stations.get(value, value)
        if kind == "sex":
            return str({"F": _("Women"), "M": _("Men")}.get(value, value))
        return str(stratum)


def publication_labels(content: dict[str, Any]) -> Labels:
    """The vocabulary's, the areas' and the stations' names (read when the release is frozen;
    a public request never reads them)."""
    from surveys.labels import translated_labels
    from surveys.models import Station, VocabularyCode

    codes = {r["outcome"] for rows in content["tables"].values() for r in rows}
    vocabulary = {
        code: (label, unit)
        for code, label, unit in VocabularyCode.objects.filter(code__in=codes).values_list(
            "code", "label", "canonical_unit"
        )
    }
    parameters = content.get("parameters", {})
    translated = translated_labels()  # the vocabulary in the active language (English: none)
    return Labels(
        outcomes={
            **{code: label for code, (label, _unit) in vocabulary.items()},
            # Frozen in the content in English; the ones HealthWatch words itself are in the
            # message catalogues (gettext_noop in reports.layouts).
            **{code: gettext(label) for code, label in content["outcome_labels"].items()},
            **_derived_outcome_labels(content),
            **{code: label for code, label in translated.items() if code in vocabulary},
        },
        units={code: unit for code, (_label, unit) in vocabulary.items() if unit},
        areas={a["area_code"]: a["name"] for a in content.get("areas", [])},
        stations=dict(Station.objects.values_list("code", "name")),
        near_km=float(parameters.get("near_km", 2.0)),
        far_km=float(parameters.get("far_km", 8.0)),
    )


def display_table(rows: list[dict[str, Any]], labels: Labels) -> dict[str, Any]:
    """Tidy rows → one line per (outcome, area, period, stratum), one column per measure.

    Describing columns with one value throughout (every row "All areas") move to the table's
    note, so that a phone shows only what differs from row to row."""
    measures: list[str] = []
    lines: OrderedDict[tuple[str, str, str, str], dict[str, Any]] = OrderedDict()
    for row in rows:
        if row["measure"] not in measures:
            measures.append(row["measure"])
        key = (row["outcome"], row["area_code"], row["period"], row["stratum"])
        line = lines.setdefault(
            key,
            {
                "outcome": labels.outcome(row["outcome"]),
                "area": labels.area(str(row["area_code"])),
                "period": str(row["period"]).replace("-", "–"),
                "stratum": labels.stratum(str(row["stratum"])),
                "cells": {},
            },
        )
        line["cells"][row["measure"]] = _cell_text(row)
    describing = [
        ("area", _("Area")),
        ("period", _("Period")),
        ("stratum", _("Group")),
    ]
    shown: list[tuple[str, StrOrPromise]] = []
    fixed: list[dict[str, Any]] = []
    for name, title in describing:
        values = {line[name] for line in lines.values()}
        if len(values) > 1:
            shown.append((name, title))
        elif values and next(iter(values)):
            fixed.append({"title": title, "value": next(iter(values))})
    columns = [MEASURE_LABELS.get(m, m) for m in measures]
    return {
        "headers": [title for _key, title in shown],
        "columns": columns,
        "fixed": fixed,
        "lines": [
            {
                "outcome": line["outcome"],
                "describing": [{"title": title, "text": line[name]} for name, title in shown],
                "values": [
                    {**line["cells"].get(m, {"text": "", "note": ""}), "title": column}
                    for m, column in zip(measures, columns, strict=True)
                ],
            }
            for line in lines.values()
        ],
    }


# --- the release page: findings, then one short section per topic ---------------------------


def _index(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["outcome"], str(r["stratum"]), r["measure"]): r for r in rows}


def _value(row: dict[str, Any] | None, digits: int = 1) -> str | None:
    if row is None or row.get("estimate") is None:
        return None
    return _fmt(row["estimate"], digits)


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    bounds = (a.get("ci_lower"), a.get("ci_upper"), b.get("ci_lower"), b.get("ci_upper"))
    if any(x is None for x in bounds):
        return None
    return not (a["ci_upper"] < b["ci_lower"] or b["ci_upper"] < a["ci_lower"])


def _how_sure(near: dict[str, Any], far: dict[str, Any]) -> str:
    overlap = _overlap(near, far)
    if overlap is None:
        return str(_("There are too few numbers to say how sure this is."))
    if overlap:
        return str(
            _(
                # xgettext:no-python-format
                "The ranges of likely values (95% intervals) overlap: the difference may be "
                "due to chance."
            )
        )
    return str(
        _(
            # xgettext:no-python-format
            "The ranges of likely values (95% intervals) do not overlap: the difference is "
            "unlikely to be due to chance."
        )
    )


def _withheld(threshold: int) -> str:
    return str(
        _("Some numbers are withheld to protect privacy (counts below %(t)s).") % {"t": threshold}
    )


def _health_topic(topic: Topic, content: dict[str, Any], labels: Labels) -> dict[str, Any]:
    """The topic's chart from the first published source: this year's rates by distance band,
    else the rates by band over all the years of follow-up, else the rates year by year."""
    for outcome in topic.outcomes:
        drawn = _bands_section(topic, outcome, content, labels, "indicators_by_distance")
        if drawn:
            return drawn
    for outcome in topic.outcomes:
        drawn = _bands_section(topic, outcome, content, labels, "exposure_response")
        if drawn:
            return drawn
    for outcome in topic.outcomes:
        drawn = _trend_section(topic, outcome, content, labels)
        if drawn:
            return drawn
    return _topic(topic, "", "", [str(_("Not enough published numbers to draw a chart.")), ""])


def _bands_section(
    topic: Topic, outcome: str, content: dict[str, Any], labels: Labels, table: str
) -> dict[str, Any] | None:
    rows = _index(content["tables"].get(table, []))
    bands = [rows.get((outcome, f"distance_band={b}", RATE)) for b in BANDS]
    drawn = [(b, r) for b, r in zip(BANDS, bands, strict=True) if r and r["estimate"] is not None]
    if len(drawn) < 2:
        return None
    name = labels.outcome(outcome)
    period = str(drawn[0][1]["period"]).replace("-", "–")
    title = _("%(outcome)s: cases per 1,000 resident-years by distance to the site, %(period)s") % {
        "outcome": name,
        "period": period,
    }
    shown = ", ".join(
        _("%(band)s %(rate)s") % {"band": labels.band(b).split(" (")[0].lower(), "rate": _value(r)}
        for b, r in drawn
    )
    first = _("%(outcome)s, cases per 1,000 resident-years in %(period)s: %(shown)s.") % {
        "outcome": name,
        "period": period,
        "shown": shown,
    }
    ratio = _index(content["tables"].get("exposure_response", [])).get(
        (outcome, f"distance_band={drawn[0][0]}", "adjusted_rate_ratio")
    )
    near, far = bands[0], bands[2]
    if ratio and ratio["estimate"] is not None and ratio["ci_lower"] is not None:
        second = _(
            "Taking age, sex, smoking and work at the site into account, people living at "
            "%(band)s distance had it %(ratio)s times as often as people far away (95%% interval "
            "%(low)s to %(high)s)."
        ) % {
            "band": labels.band(drawn[0][0]).split(" (")[0].lower(),
            "ratio": _fmt(ratio["estimate"]),
            "low": _fmt(ratio["ci_lower"]),
            "high": _fmt(ratio["ci_upper"]),
        }
    elif near and far and near["estimate"] is not None and far["estimate"] is not None:
        second = _how_sure(near, far)
    else:
        second = _withheld(content["threshold"])
    chart = charts.group_chart(
        [{**r, "label": labels.band(b).split(" (")[0]} for b, r in drawn],
        title=str(title),
        ylabel=str(_("per 1,000 resident-years")),
    )
    return _topic(topic, str(title), chart, [str(first), str(second)])


def _trend_section(
    topic: Topic, outcome: str, content: dict[str, Any], labels: Labels
) -> dict[str, Any] | None:
    rows = content["tables"].get("trend", [])
    points = [
        r
        for r in rows
        if r["outcome"] == outcome and r["measure"] == RATE and r["estimate"] is not None
    ]
    if len(points) < 2:
        return None
    name = labels.outcome(outcome)
    title = _("%(outcome)s: cases per 1,000 resident-years, year by year (all areas)") % {
        "outcome": name
    }
    first_point, last_point = points[0], points[-1]
    first = _(
        "%(outcome)s: %(last)s cases per 1,000 resident-years in %(last_year)s, %(first)s in "
        "%(first_year)s."
    ) % {
        "outcome": name,
        "last": _value(last_point),
        "last_year": last_point["period"],
        "first": _value(first_point),
        "first_year": first_point["period"],
    }
    change = next(
        (r for r in rows if r["outcome"] == outcome and r["measure"] == "apc_percent_per_year"),
        None,
    )
    if change and change["estimate"] is not None and change["ci_lower"] is not None:
        second = _("Change: %(apc)s%% a year (95%% interval %(low)s%% to %(high)s%%).") % {
            "apc": f"{change['estimate']:+.0f}",
            "low": f"{change['ci_lower']:+.0f}",
            "high": f"{change['ci_upper']:+.0f}",
        }
    elif len(points) < len(content.get("years", [])):
        second = str(
            _(
                "Years not shown are withheld to protect privacy; no trend over the years can be "
                "estimated from what is published."
            )
        )
    else:
        second = str(_("No trend over the years could be estimated from these numbers."))
    chart = charts.trend_chart(points, title=str(title), ylabel=str(_("per 1,000 resident-years")))
    return _topic(topic, str(title), chart, [str(first), str(second)])


def _biomarker_topic(topic: Topic, content: dict[str, Any], labels: Labels) -> dict[str, Any]:
    rows = _index(content["tables"].get(topic.table, []))
    for outcome in topic.outcomes:
        bands = [rows.get((outcome, f"distance_band={b}", "geometric_mean")) for b in BANDS]
        drawn = [
            (b, r) for b, r in zip(BANDS, bands, strict=True) if r and r["estimate"] is not None
        ]
        if len(drawn) < 2:
            continue
        name, unit = labels.outcome(outcome), labels.units.get(outcome, "")
        reference = content.get("reference_levels", {}).get(outcome)
        title = _("%(outcome)s: typical level (geometric mean) by distance to the site") % {
            "outcome": name
        }
        near, far = bands[0], bands[2]
        if _value(near, 2) is not None and _value(far, 2) is not None:
            assert near is not None and far is not None
            first = _(
                "Typical %(outcome)s in %(year)s: %(near)s %(unit)s near the site, %(far)s "
                "%(unit)s far from it."
            ) % {
                "outcome": name.lower(),
                "year": content["year"],
                "near": _value(near, 2),
                "far": _value(far, 2),
                "unit": unit,
            }
            above = rows.get((outcome, "distance_band=ALL", "pct_above_reference"))
            if above and above["estimate"] is not None and reference is not None:
                second = _(
                    "%(pct)s%% of the residents tested were above the reference value of "
                    "%(ref)s %(unit)s. %(sure)s"
                ) % {
                    "pct": _fmt(above["estimate"], 0),
                    "ref": f"{reference:g}",
                    "unit": unit,
                    "sure": _how_sure(near, far),
                }
            else:
                second = _how_sure(near, far)
        else:
            first = _(
                "%(outcome)s: the levels near and far from the site cannot both be shown."
            ) % {"outcome": name}
            second = _withheld(content["threshold"])
        chart = charts.group_chart(
            [{**r, "label": labels.band(b).split(" (")[0]} for b, r in drawn],
            title=str(title),
            ylabel=unit or str(_("geometric mean")),
            reference=reference,
        )
        return _topic(topic, str(title), chart, [str(first), str(second)])
    return _topic(topic, "", "", [str(_("Not enough published numbers to draw a chart.")), ""])


def _environment_topic(topic: Topic, content: dict[str, Any], labels: Labels) -> dict[str, Any]:
    rows = content["tables"].get(topic.table, [])
    for pollutant in topic.outcomes:
        means = [
            r
            for r in rows
            if r["outcome"] == pollutant and r["measure"] == "mean" and r["estimate"] is not None
        ]
        if not means:
            continue
        guideline = next(
            (
                r["estimate"]
                for r in rows
                if r["outcome"] == pollutant and r["measure"] == "guideline"
            ),
            None,
        )
        name, unit = labels.outcome(pollutant), labels.units.get(pollutant, "µg/m³")
        title = _("%(pollutant)s: %(year)s annual mean by monitoring station (%(unit)s)") % {
            "pollutant": name,
            "year": content["year"],
            "unit": unit,
        }
        highest = max(means, key=lambda r: r["estimate"])
        first = _("The highest annual mean was %(value)s %(unit)s, at %(station)s.") % {
            "value": _fmt(highest["estimate"]),
            "unit": unit,
            "station": labels.stratum(highest["stratum"]),
        }
        if guideline is not None:
            above = sum(1 for r in means if r["estimate"] > guideline)
            second = _(
                "%(above)s of %(total)s stations were above the WHO guideline of %(guideline)s "
                "%(unit)s (dashed line)."
            ) % {"above": above, "total": len(means), "guideline": f"{guideline:g}", "unit": unit}
        else:
            second = str(_("There is no WHO guideline value to compare with."))
        chart = charts.group_chart(
            [
                {
                    **r,
                    "label": labels.stratum(r["stratum"]),
                    "ci_lower": r["estimate"],
                    "ci_upper": r["estimate"],
                }
                for r in means
            ],
            title=str(title),
            ylabel=unit,
            reference=guideline,
        )
        return _topic(topic, str(title), chart, [str(first), str(second)])
    return _topic(topic, "", "", [str(_("No measurements were published.")), ""])


def _topic(topic: Topic, title: str, chart: str, reading: list[str]) -> dict[str, Any]:
    if chart:
        # The chart's text alternative states its finding, not only its title.
        alternative = " ".join([f"{title}.", *reading]).strip()
        head, _sep, rest = chart.partition("</title>")
        chart = head[: head.index("<title>")] + "<title>" + escape(alternative) + "</title>" + rest
    return {
        "key": topic.key,
        "title": topic.title,
        "table": topic.table,
        "chart_title": title,
        "svg": chart,
        "reading": [line for line in reading if line],
    }


def topics(content: dict[str, Any], labels: Labels) -> list[dict[str, Any]]:
    drawn = []
    for topic in TOPICS:
        if topic.table == "biomonitoring":
            drawn.append(_biomarker_topic(topic, content, labels))
        elif topic.table == "environment":
            drawn.append(_environment_topic(topic, content, labels))
        else:
            drawn.append(_health_topic(topic, content, labels))
    return drawn


def version_line(release: Release) -> str:
    """ "2025 report, version 2 (corrects version 1: …)"."""
    line = _("%(year)s report, version %(version)s") % {
        "year": release.year,
        "version": release.version,
    }
    if release.supersedes_id and release.supersedes is not None:
        line = _("%(line)s (corrects version %(earlier)s: %(erratum)s)") % {
            "line": line,
            "earlier": release.supersedes.version,
            "erratum": release.erratum.rstrip(".") or _("see the erratum"),
        }
    return str(line)


def _table_pages(release: Release, labels: Labels) -> list[dict[str, Any]]:
    content = release.content
    return [
        {
            "name": name,
            "title": gettext(content["table_titles"].get(name, name)),
            **display_table(rows, labels),
        }
        for name, rows in content["tables"].items()
    ]


def release_map(release: Release) -> dict[str, Any]:
    """The map and its text equivalent, drawn at publication (staff/task side: reads the
    surveys tables for the site's, the areas' and the stations' stored coordinates).

    Returns the context of reports/public/_map.html: {"svg", "areas", "indicator"}. Raises
    MapError when the map cannot be drawn (e.g. an area of the release has no coordinates)."""
    from surveys.models import Area, ProductionSite, Station

    content = release.content
    site_row = ProductionSite.objects.filter(code=release.site_code).first()
    if site_row is None:
        raise MapError(
            gettext("the site %(site)s has no stored coordinates") % {"site": release.site_name}
        )
    site = maps.Place(site_row.code, site_row.name, site_row.latitude, site_row.longitude)
    rows = maps.key_indicator_rows(content)
    coordinates = {a.code: a for a in Area.objects.filter(code__in=[r["area_code"] for r in rows])}
    missing = [r["name"] for r in rows if r["area_code"] not in coordinates]
    if missing:
        raise MapError(
            ngettext(
                "no stored coordinates for the area %(areas)s",
                "no stored coordinates for the areas %(areas)s",
                len(missing),
            )
            % {"areas": ", ".join(missing)}
        )
    areas = [
        (
            maps.Place(
                r["area_code"],
                r["name"],
                coordinates[r["area_code"]].latitude,
                coordinates[r["area_code"]].longitude,
            ),
            r,
        )
        for r in rows
    ]
    reach = max([r["distance_km"] for r in rows], default=0.0) + 2.0
    probe = maps._Projection(site, 1.0)
    stations = [
        maps.Place(s.code, s.name, s.latitude, s.longitude, s.medium)
        for s in Station.objects.order_by("code")
    ]
    stations = [s for s in stations if math.hypot(*probe.km(s)) <= reach]
    parameters = content.get("parameters", {})
    rings = sorted({float(parameters.get("near_km", 2.0)), float(parameters.get("far_km", 8.0))})
    rings += [k for k in (15.0, 20.0) if k <= reach and k > rings[-1]]
    outcome = maps.key_outcome(content)
    indicator = _outcome_label(content, outcome) if outcome else gettext("Key indicator")
    svg = maps.draw_map(
        site=site, areas=areas, stations=stations, rings_km=rings, indicator=indicator
    )
    return {"svg": svg, "areas": rows, "indicator": indicator, "year": content["year"]}


def _outcome_label(content: dict[str, Any], outcome: str) -> str:
    """An outcome's label in the active language: the vocabulary's translation, else the
    content's (English) label through the catalogues."""
    from surveys.labels import translated_labels

    translated = translated_labels().get(outcome)
    derived = _derived_outcome_labels(content).get(outcome)
    return translated or derived or gettext(content["outcome_labels"].get(outcome, outcome))


def _derived_outcome_labels(content: dict[str, Any]) -> dict[str, str]:
    """The derived outcome by its one current name, also in a release frozen with an older one."""
    from analytics.extraction import ACUTE_RESPIRATORY, ACUTE_RESPIRATORY_LABEL

    if ACUTE_RESPIRATORY not in content.get("outcome_labels", {}):
        return {}
    return {ACUTE_RESPIRATORY: gettext(ACUTE_RESPIRATORY_LABEL)}


class MapError(RuntimeError):
    """The map cannot be drawn from the stored data (the message says why)."""


_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.(\d+))?")


def _localized_number(text: str) -> str:
    """An English-digit number from the content in the active language's notation
    ("1.6" → "1,6" in French); years and other text unchanged."""
    match = _PLAIN_NUMBER.fullmatch(text)
    if match is None or (match.group(1) is None and len(text.lstrip("+-")) == 4):
        return text  # not a number, or a year (never grouped: 2025, not 2 025)
    decimals = len(match.group(1) or "")
    sign = "+" if text.startswith("+") else ""
    return sign + formats.number_format(float(text), decimal_pos=decimals)


def findings(content: dict[str, Any], labels: Labels) -> list[str]:
    """The plain-language findings in the active language (older content: as frozen)."""
    messages = content.get("finding_messages")
    if messages is None:
        return list(content["findings"])
    sentences = []
    for finding in messages:
        params = {k: _localized_number(v) for k, v in finding["params"].items()}
        if "outcome" in params:
            params["outcome"] = labels.outcome(finding["params"]["outcome"])
        if "outcome_lower" in params:
            params["outcome_lower"] = labels.outcome(finding["params"]["outcome_lower"]).lower()
        sentences.append(gettext(finding["message"]) % params)
    return sentences


def render_release(
    release: Release, labels: Labels | None = None, release_map: dict[str, Any] | None = None
) -> str:
    """The frozen page body. ``release_map`` (from :func:`release_map`) is drawn at
    publication; a draft's preview goes without it."""
    content = release.content
    labels = labels or publication_labels(content)
    return render_to_string(
        "reports/public/release_body.html",
        {
            "release": release,
            "content": content,
            "findings": findings(content, labels),
            "version_line": version_line(release),
            "topics": topics(content, labels),
            "tables": [
                {"name": name, "title": gettext(content["table_titles"].get(name, name))}
                for name in content["tables"]
            ],
            "map": release_map,
            "metadata": metadata(release),
        },
    )


@dataclass(frozen=True)
class RenderedPages:
    html: str  # the release page's body
    tables: dict[str, str]  # each full table's page body


def render_pages(
    release: Release, labels: Labels, release_map: dict[str, Any] | None
) -> RenderedPages:
    """The release page and its table pages, in the active language."""
    return RenderedPages(
        html=render_release(release, labels, release_map), tables=render_tables(release, labels)
    )


def render_tables(release: Release, labels: Labels | None = None) -> dict[str, str]:
    """Each full table's page body, frozen at publication: {table name: HTML}."""
    labels = labels or publication_labels(release.content)
    return {
        table["name"]: render_to_string(
            "reports/public/table_body.html",
            {
                "release": release,
                "content": release.content,
                "version_line": version_line(release),
                "table": table,
            },
        )
        for table in _table_pages(release, labels)
    }


def table_csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = text.csv_writer(buffer, lineterminator="\n")
    writer.writerow(ROW_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in ROW_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def table_json(release: Release, name: str, rows: list[dict[str, Any]]) -> bytes:
    document = {
        "metadata": {**metadata(release), "table": name, "content_hash": release.content_hash},
        "rows": rows,
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def release_files(release: Release) -> list[tuple[str, str, bytes]]:
    """Every download of a release: each table as CSV and JSON, and the whole as a zip."""
    files: list[tuple[str, str, bytes]] = []
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, rows in release.content["tables"].items():
            csv_bytes, json_bytes = table_csv(rows), table_json(release, name, rows)
            files.append((f"{name}.csv", "text/csv; charset=utf-8", csv_bytes))
            files.append((f"{name}.json", "application/json", json_bytes))
            bundle.writestr(f"{name}.csv", csv_bytes)
            bundle.writestr(f"{name}.json", json_bytes)
        meta = {
            **metadata(release),
            "content_hash": release.content_hash,
            "published_at": release.published_at.isoformat() if release.published_at else None,
            "findings": release.content["findings"],
            "privacy": release.content["privacy"],
        }
        bundle.writestr("metadata.json", json.dumps(meta, ensure_ascii=False, indent=1))
    files.append(("release.zip", "application/zip", archive.getvalue()))
    return files


def open_data_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All measurements with station metadata (staff/task side: reads the surveys tables)."""
    from surveys.models import Measurement, Station

    stations = [
        {
            "station_code": s.code,
            "name": s.name,
            "medium": s.medium,
            "latitude": s.latitude,
            "longitude": s.longitude,
        }
        for s in Station.objects.order_by("code")
    ]
    rows = [
        {
            "station_code": station,
            "sampled_on": sampled_on.isoformat(),
            "pollutant": pollutant,
            "value": value,
            "unit": unit,
            "below_lod": below_lod,
            "lod": lod,
            "status": status,
        }
        for station, sampled_on, pollutant, value, unit, below_lod, lod, status in (
            Measurement.objects.order_by("station__code", "sampled_on", "pollutant__code")
            .values_list(
                "station__code",
                "sampled_on",
                "pollutant__code",
                "value",
                "pollutant__canonical_unit",
                "below_lod",
                "lod",
                "status",
            )
            .iterator(chunk_size=5000)
        )
    ]
    return rows, stations


OPEN_DATA_COLUMNS = (
    "station_code",
    "sampled_on",
    "pollutant",
    "value",
    "unit",
    "below_lod",
    "lod",
    "status",
)


def open_data_csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = text.csv_writer(buffer, lineterminator="\n")
    writer.writerow(OPEN_DATA_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                ("true" if row[c] else "false")
                if c == "below_lod"
                else ("" if row[c] is None else row[c])
                for c in OPEN_DATA_COLUMNS
            ]
        )
    return buffer.getvalue().encode("utf-8")
