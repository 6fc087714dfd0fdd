"""The complete open data of environmental monitoring, as a Frictionless data package (zip).

Every reading is in it — preliminary, validated and invalid, and every version a correction
replaced (`corrects` points to the version it replaces) — with its status history and reasons,
the collector's role (never a name), method, detection limit, lab and the sample's custody
steps; and every station measurement of the field app with its status history. Nothing is
dropped, except precision: an ad-hoc GPS point is published on a 0.01° grid (monitoring.places).
`datapackage.json` (CC BY 4.0) describes each file's columns.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils import timezone

from monitoring.models import CustodyEvent, Guideline, Reading, Sample
from monitoring.places import public_coordinate
from surveys.models import Measurement, Station

LICENCE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0",
}

# An ad-hoc sample may be taken where a complainant stood: published on the grid only.
AD_HOC_LATITUDE = (
    "GPS latitude of an ad-hoc sample, snapped to a 0.01 degree grid (about 1 km); "
    "the exact point is kept by staff only."
)
AD_HOC_LONGITUDE = "GPS longitude of an ad-hoc sample, snapped to a 0.01 degree grid."

# name, Table Schema type, description: the contract of each file.
Field = tuple[str, str, str]
RESOURCES: dict[str, tuple[str, Sequence[Field]]] = {
    "readings": (
        "Every reading (lab result or sensor), every version and status.",
        (
            ("reading_id", "integer", "Identifier of this version of the reading."),
            ("corrects", "integer", "The reading_id this version corrects (empty if none)."),
            ("corrected_by", "integer", "The reading_id that corrects this one (empty if none)."),
            ("sample_id", "string", "The sample it was measured in (empty for sensors)."),
            ("station_code", "string", "Station (empty for an ad-hoc GPS sample)."),
            ("latitude", "number", AD_HOC_LATITUDE),
            ("longitude", "number", AD_HOC_LONGITUDE),
            ("measured_at", "datetime", "When the sample was taken or the sensor read."),
            ("pollutant", "string", "Pollutant code of the vocabulary."),
            ("value", "number", "Value in the canonical unit (empty if below the LOD)."),
            ("unit", "string", "Canonical unit."),
            ("entered_unit", "string", "Unit the value was reported in."),
            ("below_lod", "boolean", "Below the limit of detection."),
            ("lod", "number", "Limit of detection, canonical unit."),
            ("method", "string", "Analytical method or sensor."),
            ("lab", "string", "Laboratory."),
            ("status", "string", "preliminary, validated or invalid."),
            ("status_reason", "string", "Why the status was set."),
            ("collector_role", "string", "Role of who collected it (never a name)."),
            ("community_collected", "boolean", "Collected by a community monitor."),
        ),
    ),
    "reading_status_history": (
        "Every status a reading held, when, and why.",
        (
            ("reading_id", "integer", "The reading."),
            ("status", "string", "preliminary, validated or invalid."),
            ("reason", "string", "The reason given."),
            ("changed_at", "datetime", "When."),
        ),
    ),
    "samples": (
        "Every sample and where it was taken.",
        (
            ("sample_id", "string", "Sample ID on the container."),
            ("medium", "string", "air, water or soil."),
            ("station_code", "string", "Station (empty for an ad-hoc GPS sample)."),
            ("latitude", "number", AD_HOC_LATITUDE),
            ("longitude", "number", AD_HOC_LONGITUDE),
            ("collected_at", "datetime", "When it was taken."),
            ("collector_role", "string", "Role of who collected it (never a name)."),
            ("community_collected", "boolean", "Collected by a community monitor."),
            ("container", "string", "Container."),
            ("preservation", "string", "Preservation."),
            ("lab", "string", "Laboratory it was handed to."),
            ("handed_at", "datetime", "When it was handed to the lab."),
            ("complaint_id", "integer", "The public complaint it checked (if any)."),
        ),
    ),
    "custody": (
        "The chain of custody: every step of every sample.",
        (
            ("sample_id", "string", "The sample."),
            ("step", "string", "collected, handed_to_lab, result_attached, validated, …"),
            ("at", "datetime", "When."),
            ("actor_role", "string", "Role of who did it (never a name)."),
            ("note", "string", "Lab, method or reason."),
        ),
    ),
    "station_measurements": (
        "Every measurement entered by the field app or imported, with its status.",
        (
            ("measurement_id", "integer", "Identifier."),
            ("station_code", "string", "Station."),
            ("sampled_on", "date", "Day of sampling."),
            ("pollutant", "string", "Pollutant code."),
            ("value", "number", "Value in the canonical unit (empty if below the LOD)."),
            ("unit", "string", "Canonical unit."),
            ("below_lod", "boolean", "Below the limit of detection."),
            ("lod", "number", "Limit of detection."),
            ("status", "string", "preliminary, validated or invalid."),
            ("status_history", "string", "Earlier statuses and reasons, oldest first."),
        ),
    ),
    "stations": (
        "Monitoring stations.",
        (
            ("station_code", "string", "Code."),
            ("name", "string", "Name."),
            ("medium", "string", "air, water or soil."),
            ("latitude", "number", "Latitude."),
            ("longitude", "number", "Longitude."),
        ),
    ),
    "guidelines": (
        "Guideline and limit values the readings are compared with.",
        (
            ("pollutant", "string", "Pollutant code."),
            ("value", "number", "Guideline value."),
            ("unit", "string", "Unit."),
            ("averaging", "string", "Averaging period."),
            ("authority", "string", "WHO, national…"),
            ("source", "string", "Document."),
        ),
    ),
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _csv(fields: Sequence[Field], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _type, _doc in fields])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def _reading_rows() -> Iterable[Sequence[Any]]:
    corrected_by = dict(
        Reading.objects.filter(corrects__isnull=False).values_list("corrects_id", "id")
    )
    readings = Reading.objects.select_related("pollutant", "station", "sample").order_by("id")
    for r in readings:
        yield (
            r.pk,
            r.corrects_id,
            corrected_by.get(r.pk),
            r.sample.code if r.sample else None,
            r.station.code if r.station else None,
            public_coordinate(r.latitude),
            public_coordinate(r.longitude),
            r.measured_at,
            r.pollutant.code,
            r.value,
            r.pollutant.canonical_unit,
            r.entered_unit,
            r.below_lod,
            r.lod,
            r.method,
            r.lab,
            r.status,
            r.status_reason,
            r.collector_role,
            r.community_collected,
        )


def _status_changes(versions: Iterable[Any]) -> list[tuple[Any, str, str, Any]]:
    """(record id, status, reason, when) each time the status changed, oldest first."""
    changes = []
    last: dict[int, str] = {}
    for v in versions:
        if last.get(v.id) != v.status:
            changes.append((v.id, v.status, v.history_change_reason or "", v.history_date))
            last[v.id] = v.status
    return changes


def _history_rows() -> Iterable[Sequence[Any]]:
    versions = Reading.history.order_by("id", "history_date", "history_id")
    return _status_changes(versions)


def _sample_rows() -> Iterable[Sequence[Any]]:
    for s in Sample.objects.select_related("station").order_by("id"):
        yield (
            s.code,
            s.medium,
            s.station.code if s.station else None,
            public_coordinate(s.latitude),
            public_coordinate(s.longitude),
            s.collected_at,
            s.collector_role,
            s.community_collected,
            s.container,
            s.preservation,
            s.lab,
            s.handed_at,
            s.complaint_id,
        )


def _custody_rows() -> Iterable[Sequence[Any]]:
    for e in CustodyEvent.objects.select_related("sample").order_by("sample_id", "at", "id"):
        yield (e.sample.code, e.step, e.at, e.actor_role, e.note)


def _measurement_rows() -> Iterable[Sequence[Any]]:
    history: dict[int, list[str]] = {}
    versions = Measurement.history.order_by("id", "history_date", "history_id")
    for pk, status, reason, when in _status_changes(versions):
        history.setdefault(pk, []).append(
            f"{when.date().isoformat()} {status}" + (f" ({reason})" if reason else "")
        )
    for m in Measurement.objects.select_related("station", "pollutant").order_by("id"):
        yield (
            m.pk,
            m.station.code,
            m.sampled_on,
            m.pollutant.code,
            m.value,
            m.pollutant.canonical_unit,
            m.below_lod,
            m.lod,
            m.status,
            "; ".join(history.get(m.pk, [])),
        )


def _station_rows() -> Iterable[Sequence[Any]]:
    for s in Station.objects.order_by("code"):
        yield (s.code, s.name, s.medium, s.latitude, s.longitude)


def _guideline_rows() -> Iterable[Sequence[Any]]:
    for g in Guideline.objects.filter(active=True).select_related("pollutant"):
        yield (g.pollutant.code, g.value, g.unit, g.averaging, g.authority, g.source)


ROWS = {
    "readings": _reading_rows,
    "reading_status_history": _history_rows,
    "samples": _sample_rows,
    "custody": _custody_rows,
    "station_measurements": _measurement_rows,
    "stations": _station_rows,
    "guidelines": _guideline_rows,
}


def datapackage(created: str) -> dict[str, Any]:
    """The Frictionless descriptor of the files."""
    return {
        "profile": "tabular-data-package",
        "name": "healthwatch-environmental-monitoring",
        "title": "HealthWatch environmental monitoring: complete data",
        "description": (
            "Every environmental reading, sample and custody step, with status history. "
            "Preliminary and invalid values are included and marked; corrections are new "
            "versions that point to the version they replace."
        ),
        "created": created,
        "licenses": [LICENCE],
        "resources": [
            {
                "name": name,
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": description,
                "schema": {
                    "fields": [
                        {"name": field, "type": kind, "description": doc}
                        for field, kind, doc in fields
                    ]
                },
            }
            for name, (description, fields) in RESOURCES.items()
        ],
    }


def open_data_zip() -> bytes:
    """The zip of every file and its descriptor, built now."""
    buffer = io.BytesIO()
    created = timezone.now().replace(microsecond=0).isoformat()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (_description, fields) in RESOURCES.items():
            archive.writestr(f"{name}.csv", _csv(fields, ROWS[name]()))
        archive.writestr("datapackage.json", json.dumps(datapackage(created), indent=2))
    return buffer.getvalue()
