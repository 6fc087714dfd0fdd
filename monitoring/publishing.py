"""Freeze what the public sees of community monitoring (monitoring.models.PublicSnapshot).

Rendered once per change, served stored: the public pages never query the record tables, and a
page view costs no chart rendering."""

from __future__ import annotations

import hashlib
from typing import Any

from django.template.loader import render_to_string

from monitoring import selectors
from monitoring.charts import guideline_chart
from monitoring.models import PublicSnapshot
from monitoring.opendata import open_data_zip
from surveys.models import Station

#: Snapshots kept (older ones are deleted when a new one is written).
KEEP = 3


def _station(station: Station) -> dict[str, Any]:
    rows = []
    for check in selectors.station_checks(station):
        reading = check.reading
        rows.append(
            {
                "check": check,
                "chart": guideline_chart(
                    check.history,
                    check.guidelines,
                    title=str(reading.pollutant.label),
                    unit=reading.pollutant.canonical_unit,
                ),
                "versions": reading.history.order_by("history_date", "history_id"),
                "custody": reading.sample.custody.all() if reading.sample else [],
                "collector": selectors.role_label(reading.collector_role),
            }
        )
    return {
        "code": station.code,
        "name": station.name,
        "medium": str(station.get_medium_display()),
        "latitude": station.latitude,
        "longitude": station.longitude,
        "exceeded": any(r["check"].exceeded for r in rows),
        "html": render_to_string("monitoring/public/_station_body.html", {"rows": rows}),
    }


def _complaints() -> list[dict[str, Any]]:
    return [
        {
            "kind": str(c.get_kind_display()),
            "place": c.place,
            "occurred_on": c.occurred_at.date().isoformat(),
            "description": c.description,
            "samples": [s.code for s in c.samples.all()],
        }
        for c in selectors.public_complaints().prefetch_related("samples")[:50]
    ]


def public_snapshot_refresh() -> PublicSnapshot:
    """Write a new snapshot of everything public; call inside the write's transaction."""
    archive = open_data_zip()
    snapshot = PublicSnapshot.objects.create(
        stations=[_station(s) for s in Station.objects.order_by("code")],
        complaints=_complaints(),
        archive=archive,
        sha256=hashlib.sha256(archive).hexdigest(),
    )
    old = PublicSnapshot.objects.order_by("-id").values_list("id", flat=True)[KEEP:]
    PublicSnapshot.objects.filter(id__in=list(old)).delete()
    return snapshot


def latest() -> PublicSnapshot | None:
    return PublicSnapshot.objects.order_by("-id").first()
