"""Rendering at publication: the release page, its charts and its downloads, frozen.

A public request never renders from data: it serves what these functions produced when the
release was published (Release.rendered_html, ReleaseFile). Charts are server-side SVG.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string
from django.utils.translation import gettext

from analytics import charts
from analytics.stats.results import ROW_COLUMNS
from healthwatch import text
from reports import maps

if TYPE_CHECKING:
    from reports.models import Release

OPEN_DATA_LICENCE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
COUNT_MEASURES = ("events", "tested", "above_reference")
SUPPRESSED = "suppressed"
UNRELIABLE = "unreliable"
MEASURE_LABELS = {
    "events": "Cases",
    "tested": "Tested",
    "above_reference": "Above reference",
    "crude_rate_per_1000": "Rate per 1,000 resident-years",
    "dsr_per_1000": "Age-standardized rate per 1,000",
    "geometric_mean": "Geometric mean",
    "pct_above_reference": "% above reference",
    "adjusted_rate_ratio": "Adjusted rate ratio vs far",
    "apc_percent_per_year": "Annual % change",
    "population": "Population",
    "resident_years": "Resident-years",
    "mean": "Annual mean",
    "guideline": "Guideline",
    "n_exceed": "Samples above guideline",
    "n": "Samples",
}
CHART_OUTCOMES = ("symptom.cough", "symptom.wheeze", "acute_respiratory")


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


def _cell_text(row: dict[str, Any]) -> dict[str, str]:
    flags = [f for f in str(row.get("flags") or "").split(";") if f]
    if row["estimate"] is None:
        return {
            "text": "–",
            "note": SUPPRESSED if SUPPRESSED in flags else (flags[0] if flags else ""),
        }
    digits = (
        0
        if row["measure"] in (*COUNT_MEASURES, "population", "resident_years", "n", "n_exceed")
        else (2 if row["measure"] in ("geometric_mean", "adjusted_rate_ratio") else 1)
    )
    text = _fmt(row["estimate"], digits)
    if row.get("ci_lower") is not None and row.get("ci_upper") is not None:
        text += f" ({_fmt(row['ci_lower'], digits)}–{_fmt(row['ci_upper'], digits)})"
    return {"text": text, "note": UNRELIABLE if UNRELIABLE in flags else ""}


def display_table(rows: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    """Tidy rows → one line per (outcome, area, period, stratum), one column per measure."""
    measures: list[str] = []
    lines: OrderedDict[tuple[str, str, str, str], dict[str, Any]] = OrderedDict()
    for row in rows:
        if row["measure"] not in measures:
            measures.append(row["measure"])
        key = (row["outcome"], row["area_code"], row["period"], row["stratum"])
        line = lines.setdefault(
            key,
            {
                "outcome": labels.get(row["outcome"], row["outcome"]),
                "area": row["area_code"],
                "period": row["period"],
                "stratum": str(row["stratum"])
                .replace("distance_band=", "")
                .replace("station=", ""),
                "cells": {},
            },
        )
        line["cells"][row["measure"]] = _cell_text(row)
    return {
        "columns": [MEASURE_LABELS.get(m, m) for m in measures],
        "lines": [
            {**line, "values": [line["cells"].get(m, {"text": "", "note": ""}) for m in measures]}
            for line in lines.values()
        ],
    }


def _charts(content: dict[str, Any]) -> list[dict[str, str]]:
    tables = content["tables"]
    labels = content["outcome_labels"]
    figures = []
    for outcome in CHART_OUTCOMES:
        points = [
            r
            for r in tables.get("trend", [])
            if r["outcome"] == outcome
            and r["measure"] == "crude_rate_per_1000"
            and r["estimate"] is not None
        ]
        if len(points) >= 2:
            figures.append(
                {
                    "title": f"{labels.get(outcome, outcome)}: rate by year",
                    "svg": charts.trend_chart(
                        points,
                        title=f"{labels.get(outcome, outcome)}: rate by year",
                        ylabel="per 1,000 resident-years",
                    ),
                }
            )
    ratios = [
        {**r, "label": f"{labels.get(r['outcome'], r['outcome'])}, {r['stratum'].split('=')[1]}"}
        for r in tables.get("exposure_response", [])
        if r["measure"] == "adjusted_rate_ratio"
        and r["estimate"] is not None
        and r["ci_lower"] is not None
        and r["ci_upper"] not in (None, float("inf"))
    ]
    if ratios:
        figures.append(
            {
                "title": "Exposure–response",
                "svg": charts.forest_chart(
                    ratios, title="Rate ratios, living near vs far from the site (adjusted)"
                ),
            }
        )
    for code in ("lab.blood_lead", "lab.urine_thorium"):
        groups = [
            {**r, "label": r["stratum"].replace("distance_band=", "")}
            for r in tables.get("biomonitoring", [])
            if r["outcome"] == code
            and r["measure"] == "geometric_mean"
            and r["estimate"] is not None
            and r["stratum"] != "distance_band=ALL"
        ]
        if groups:
            figures.append(
                {
                    "title": f"{labels.get(code, code)} by distance",
                    "svg": charts.group_chart(
                        groups,
                        title=f"{labels.get(code, code)}: geometric mean by distance band",
                        ylabel="geometric mean",
                        reference=content["reference_levels"].get(code),
                    ),
                }
            )
    pm = [
        r
        for r in tables.get("environment", [])
        if r["outcome"] == "pm2_5" and r["measure"] == "mean" and r["estimate"] is not None
    ]
    if pm:
        guideline = next(
            (
                r["estimate"]
                for r in tables["environment"]
                if r["outcome"] == "pm2_5" and r["measure"] == "guideline"
            ),
            None,
        )
        figures.append(
            {
                "title": "PM2.5 by station",
                "svg": charts.group_chart(
                    [
                        {
                            **r,
                            "label": r["stratum"].replace("station=", ""),
                            "ci_lower": r["estimate"],
                            "ci_upper": r["estimate"],
                        }
                        for r in pm
                    ],
                    title="PM2.5 annual mean by station (µg/m³)",
                    ylabel="µg/m³",
                    reference=guideline,
                ),
            }
        )
    return figures


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
            gettext("no stored coordinates for the area(s) %(areas)s")
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
    indicator = (
        content["outcome_labels"].get(outcome, outcome) if outcome else gettext("Key indicator")
    )
    svg = maps.draw_map(
        site=site, areas=areas, stations=stations, rings_km=rings, indicator=indicator
    )
    return {"svg": svg, "areas": rows, "indicator": indicator, "year": content["year"]}


def print_labels() -> dict[str, dict[str, str]]:
    """What the PDF names codes by that the release content does not carry (vocabulary labels
    for the pollutants, station names for the environment table's groups)."""
    from surveys.models import Station, VocabularyCode

    return {
        "outcomes": dict(VocabularyCode.objects.values_list("code", "label")),
        "stations": dict(Station.objects.values_list("code", "name")),
    }


class MapError(RuntimeError):
    """The map cannot be drawn from the stored data (the message says why)."""


def render_release(release: Release, release_map: dict[str, Any] | None = None) -> str:
    """The frozen page body. `release_map` (from release_map) is drawn at publication; a
    draft's preview goes without it."""
    content = release.content
    labels = content["outcome_labels"]
    tables = [
        {
            "name": name,
            "title": content["table_titles"].get(name, name),
            **display_table(rows, labels),
        }
        for name, rows in content["tables"].items()
    ]
    return render_to_string(
        "reports/public/release_body.html",
        {
            "release": release,
            "content": content,
            "tables": tables,
            "figures": _charts(content),
            "metadata": metadata(release),
            "map": release_map,
        },
    )


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
