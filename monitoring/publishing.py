"""Freeze what the public sees of community monitoring (monitoring.models.PublicSnapshot).

Rendered once per change, served stored: the public pages never query the record tables, and a
page view costs no chart rendering.

Out of the write path: a monitoring write calls `public_snapshot_request()` in its transaction,
which records a SnapshotDemand and, once the write commits, enqueues `monitoring.tasks.
refresh_public(demand_id)`. A job queue that is down does not fail the write (it is already
committed): the demand stays, and `monitoring.tasks.sweep_public` (every few minutes, beat)
refreshes the snapshot when it finds one. Refreshing is idempotent: a redelivered or repeated
task whose demand a later refresh already covered does nothing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone, translation

from monitoring import selectors
from monitoring.charts import guideline_chart
from monitoring.models import PublicSnapshot, SnapshotDemand
from monitoring.opendata import open_data_zip
from surveys.models import Station

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Snapshots kept (older ones are deleted when a new one is written).
KEEP = 3


def _in_every_language(make: Callable[[], T]) -> dict[str, T]:
    """What `make` returns in each shipped language: a public request picks its language's
    copy, so a snapshot is rendered once per change, never per request (issue #15)."""
    made = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            made[code] = make()
    return made


def in_language(texts: dict[str, T] | T) -> T:
    """The active language's copy of a snapshot's text (English when it has none); a snapshot
    written before the languages held one text, which is returned as it is."""
    if not isinstance(texts, dict):
        return texts
    return texts.get(translation.get_language() or "", texts.get("en", next(iter(texts.values()))))


def _station_body(station: Station) -> str:
    rows = []
    for check in selectors.station_checks(station):
        reading = check.reading
        rows.append(
            {
                "check": check,
                "chart": guideline_chart(
                    check.history,
                    check.guidelines,
                    title=reading.pollutant.display_label,
                    unit=reading.pollutant.canonical_unit,
                ),
                "versions": reading.history.order_by("history_date", "history_id"),
                "custody": reading.sample.custody.all() if reading.sample else [],
                "collector": selectors.role_label(reading.collector_role),
            }
        )
    return render_to_string("monitoring/public/_station_body.html", {"rows": rows})


def _station(station: Station) -> dict[str, Any]:
    return {
        "code": station.code,
        "name": station.name,
        "medium": _in_every_language(station.get_medium_display),
        "latitude": station.latitude,
        "longitude": station.longitude,
        "exceeded": any(c.exceeded for c in selectors.station_checks(station)),
        "html": _in_every_language(partial(_station_body, station)),
    }


def _complaints() -> list[dict[str, Any]]:
    return [
        {
            "kind": _in_every_language(c.get_kind_display),
            "place": c.place,
            "occurred_on": timezone.localtime(c.occurred_at).date().isoformat(),
            "description": c.description,
            "samples": [s.code for s in c.samples.all()],
        }
        for c in selectors.public_complaints().prefetch_related("samples")[:50]
    ]


def public_snapshot_refresh() -> PublicSnapshot:
    """Write a new snapshot of everything public, now (a worker's job; see the module doc)."""
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


def public_snapshot_request() -> SnapshotDemand:
    """Ask for a new snapshot after this write: call inside the write's transaction."""
    demand = SnapshotDemand.objects.create()
    transaction.on_commit(partial(_enqueue_refresh, demand.pk))
    return demand


def _enqueue_refresh(demand_id: int) -> None:
    from monitoring.tasks import refresh_public

    try:
        refresh_public.apply_async((demand_id,))
    except Exception as error:  # kombu/redis connection errors share no useful base
        # The write is stored; its demand row stays and the sweep refreshes the snapshot.
        log.warning("monitoring snapshot %s not queued, the sweep will do it: %s", demand_id, error)


def public_snapshot_serve(demand_id: int | None) -> PublicSnapshot | None:
    """Refresh for a demand (None: unconditionally) and delete every demand this covered.

    Returns None, doing nothing, when the demand is gone: a later refresh already saw its write.
    The demands are read before the snapshot, so each deleted one's write is in it; a demand
    that arrives meanwhile stays for its own task."""
    if demand_id is not None and not SnapshotDemand.objects.filter(pk=demand_id).exists():
        return None
    covered = SnapshotDemand.objects.aggregate(last=Max("id"))["last"]
    snapshot = public_snapshot_refresh()
    if covered is not None:
        SnapshotDemand.objects.filter(id__lte=covered).delete()
    return snapshot


def public_snapshot_sweep() -> PublicSnapshot | None:
    """Serve the demands whose task the queue never got (it was down), if any."""
    if not SnapshotDemand.objects.exists():
        return None
    return public_snapshot_serve(None)


def latest() -> PublicSnapshot | None:
    return PublicSnapshot.objects.order_by("-id").first()
