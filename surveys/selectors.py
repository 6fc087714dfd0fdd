"""Reads of field data, and the one access chokepoint per resource.

Every view, API and export gets its rows through a `*_for_user` function here, so the rule of
who sees what lives in one place:
- health workers: residents, visits and observations of the areas assigned to them;
- epidemiologists and admins: everything (their record-level reads are logged);
- community reviewers: no record-level data (they review suppressed releases only);
- monitoring stations and measurements: every staff role reads them (they are open data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import Count, Max, QuerySet

from healthwatch.roles import STAFF_ROLES, Role, has_role
from surveys.labels import code_label
from surveys.models import (
    Area,
    DataChange,
    DataQualityFlag,
    ImportJob,
    Measurement,
    Observation,
    ProductionSite,
    QualityFlagKind,
    QualityFlagStatus,
    Resident,
    Station,
    Visit,
    VocabularyCode,
)

User = AuthUser | AnonymousUser


def data_change_marker() -> str:
    """The state of the analysed tables in one cheap read (DataChange: the number of logged
    writes and the latest one's id). Any committed insert, update or delete of a row an analysis
    reads gives another marker; equal markers mean nothing was written in between."""
    logged = DataChange.objects.aggregate(count=Count("id"), latest=Max("id"))
    return f"{logged['count']}:{logged['latest'] or 0}"


def sees_all_records(user: User) -> bool:
    return has_role(user, Role.EPIDEMIOLOGIST, Role.ADMIN)


def may_record_field_data(user: User) -> bool:
    return has_role(user, Role.HEALTH_WORKER, Role.ADMIN)


def may_record_measurements(user: User) -> bool:
    return has_role(user, Role.HEALTH_WORKER, Role.ADMIN)


def areas_for_user(user: User) -> QuerySet[Area]:
    """Areas whose residents the user may see (and, for health workers, change)."""
    if sees_all_records(user):
        return Area.objects.all()
    if has_role(user, Role.HEALTH_WORKER):
        return Area.objects.filter(areaassignment__user=user.pk).distinct()
    return Area.objects.none()


def residents_for_user(user: User) -> QuerySet[Resident]:
    if sees_all_records(user):
        return Resident.objects.all()
    return Resident.objects.filter(area__in=areas_for_user(user))


def visits_for_user(user: User) -> QuerySet[Visit]:
    return Visit.objects.filter(resident__in=residents_for_user(user))


def observations_for_user(user: User) -> QuerySet[Observation]:
    return Observation.objects.filter(visit__in=visits_for_user(user))


def stations_for_user(user: User) -> QuerySet[Station]:
    if has_role(user, *STAFF_ROLES):
        return Station.objects.all()
    return Station.objects.none()


def measurements_for_user(user: User) -> QuerySet[Measurement]:
    if has_role(user, *STAFF_ROLES):
        return Measurement.objects.all()
    return Measurement.objects.none()


def quality_flags_for_user(user: User) -> QuerySet[DataQualityFlag]:
    if sees_all_records(user):
        return DataQualityFlag.objects.all()
    return DataQualityFlag.objects.none()


# --- Added for the field UI and the API (new functions only) ---------------------------------


def sites_for_user(user: User) -> QuerySet[ProductionSite]:
    """Production sites: reference data, readable by every staff role."""
    if has_role(user, *STAFF_ROLES):
        return ProductionSite.objects.all()
    return ProductionSite.objects.none()


def vocabulary_for_user(user: User) -> QuerySet[VocabularyCode]:
    """The code vocabulary: readable by every staff role."""
    if has_role(user, *STAFF_ROLES):
        return VocabularyCode.objects.all()
    return VocabularyCode.objects.none()


def visits_recorded_by(user: User) -> QuerySet[Visit]:
    """'My recent visits': visits this user recorded, among those they may still see."""
    if not user.is_authenticated:
        return Visit.objects.none()
    return (
        visits_for_user(user)
        .filter(health_worker=user.pk)
        .select_related("resident", "resident__area")
        .order_by("-visited_on", "-created_at", "-id")
    )


def open_quality_flags_for_user(user: User) -> QuerySet[DataQualityFlag]:
    """The review queue: open flags first-come first-served, with what they point at."""
    return (
        quality_flags_for_user(user)
        .filter(status=QualityFlagStatus.OPEN)
        .select_related(
            "visit", "visit__resident", "observation", "observation__code", "observation__visit"
        )
        .order_by("created_at", "id")
    )


def import_jobs_for_user(user: User) -> QuerySet[ImportJob]:
    """The import jobs a person sees: their own uploads (a job shows the file's problems)."""
    if not user.is_authenticated:
        return ImportJob.objects.none()
    return ImportJob.objects.filter(requested_by=user)


# --- The data-quality queue: filters, sorting, counts by rule --------------------------------

QUEUE_SORTS: dict[str, tuple[str, ...]] = {
    "oldest": ("created_at", "id"),
    "newest": ("-created_at", "-id"),
    "visit_date": ("-visited_on", "id"),
    "code": ("code_label", "id"),
    "area": ("area_name", "id"),
    "worker": ("worker_name", "id"),
}


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: every field optional (empty = no restriction)."""

    rule: str = ""
    code: str = ""  # a vocabulary code (the label is shown)
    area: str = ""  # an area code (its name is shown)
    worker: str = ""  # the username of the visit's health worker
    visited_from: dt.date | None = None
    visited_to: dt.date | None = None
    sort: str = "oldest"


def _queue_rows(user: User) -> Any:  # annotated: the plugin cannot check names made here
    """The user's flags with what a reviewer reads: visit date, area, worker and code label,
    whether the flag is about a visit or one of its observations."""
    from django.db.models import F
    from django.db.models.functions import Coalesce

    return quality_flags_for_user(user).annotate(
        visit_pk=Coalesce(F("visit_id"), F("observation__visit_id")),
        visited_on=Coalesce(F("visit__visited_on"), F("observation__visit__visited_on")),
        area_code=Coalesce(
            F("visit__resident__area__code"), F("observation__visit__resident__area__code")
        ),
        area_name=Coalesce(
            F("visit__resident__area__name"), F("observation__visit__resident__area__name")
        ),
        worker_name=Coalesce(
            F("visit__health_worker__username"),
            F("observation__visit__health_worker__username"),
        ),
        code_value=F("observation__code__code"),
        code_label=F("observation__code__label"),
        value=F("observation__value"),
        unit=F("observation__code__canonical_unit"),
    )


def _filtered(rows: Any, f: QueueFilter) -> Any:
    if f.code:
        rows = rows.filter(code_value=f.code)
    if f.area:
        rows = rows.filter(area_code=f.area)
    if f.worker:
        rows = rows.filter(worker_name=f.worker)
    if f.visited_from:
        rows = rows.filter(visited_on__gte=f.visited_from)
    if f.visited_to:
        rows = rows.filter(visited_on__lte=f.visited_to)
    return rows


def quality_queue(user: User, f: QueueFilter) -> QuerySet[DataQualityFlag]:
    """The open flags the user may review, filtered and sorted as asked (unknown sort: oldest
    first), each annotated with visit_pk, visited_on, area_name, worker_name, code_label,
    value and unit."""
    rows = _filtered(_queue_rows(user).filter(status=QualityFlagStatus.OPEN), f)
    if f.rule:
        rows = rows.filter(kind=f.rule)
    ordered: QuerySet[DataQualityFlag] = rows.order_by(
        *QUEUE_SORTS.get(f.sort, QUEUE_SORTS["oldest"])
    )
    return ordered


def quality_queue_counts_by_rule(user: User, f: QueueFilter) -> dict[str, int]:
    """Open flags per rule under the other filters (the rule filter itself left out), every
    rule present (0 when none)."""
    from django.db.models import Count

    rows = _filtered(_queue_rows(user).filter(status=QualityFlagStatus.OPEN), f)
    counts = dict(rows.order_by().values_list("kind").annotate(n=Count("id")))
    return {kind: counts.get(kind, 0) for kind in QualityFlagKind.values}


def quality_queue_choices(user: User) -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices for the queue's filters, from every flag the user may see (a
    filter stays valid when its last open flag is resolved)."""
    rows = _queue_rows(user).order_by()
    # The vocabulary labels in the reader's language (the stored label is the English one).
    codes = sorted(
        {
            (code, code_label(code, label))
            for code, label in rows.exclude(code_value=None).values_list("code_value", "code_label")
        },
        key=lambda c: c[1],
    )
    areas = sorted(
        set(rows.exclude(area_code=None).values_list("area_code", "area_name")),
        key=lambda a: a[1],
    )
    workers = sorted(set(rows.exclude(worker_name=None).values_list("worker_name", flat=True)))
    return {"code": codes, "area": areas, "worker": [(w, w) for w in workers]}
