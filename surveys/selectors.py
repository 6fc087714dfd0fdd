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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import QuerySet

from healthwatch.roles import Role, has_role
from surveys.models import (
    Area,
    DataQualityFlag,
    ImportJob,
    Measurement,
    Observation,
    ProductionSite,
    QualityFlagStatus,
    Resident,
    Station,
    Visit,
    VocabularyCode,
)

User = AuthUser | AnonymousUser


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
    if has_role(user, *Role):
        return Station.objects.all()
    return Station.objects.none()


def measurements_for_user(user: User) -> QuerySet[Measurement]:
    if has_role(user, *Role):
        return Measurement.objects.all()
    return Measurement.objects.none()


def quality_flags_for_user(user: User) -> QuerySet[DataQualityFlag]:
    if sees_all_records(user):
        return DataQualityFlag.objects.all()
    return DataQualityFlag.objects.none()


# --- Added for the field UI and the API (new functions only) ---------------------------------


def sites_for_user(user: User) -> QuerySet[ProductionSite]:
    """Production sites: reference data, readable by every staff role."""
    if has_role(user, *Role):
        return ProductionSite.objects.all()
    return ProductionSite.objects.none()


def vocabulary_for_user(user: User) -> QuerySet[VocabularyCode]:
    """The code vocabulary: readable by every staff role."""
    if has_role(user, *Role):
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


@dataclass(frozen=True)
class AuditChange:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class AuditEntry:
    """One historical record: who did what when, why, and which fields changed."""

    subject: str
    object_id: int
    at: dt.datetime
    user: str
    action: str  # created | changed | deleted
    reason: str
    changes: tuple[AuditChange, ...]


_HISTORY_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
_AUDIT_HIDDEN_FIELDS = frozenset({"pseudonym", "key_version"})


def _audit_entries(subject: str, records: Iterable[Any]) -> list[AuditEntry]:
    """Turn simple_history records (any order) into entries with field-level changes."""
    entries: list[AuditEntry] = []
    previous_by_object: dict[int, Any] = {}
    for record in sorted(records, key=lambda r: (r.history_date, r.history_id)):
        object_id = record.id
        previous = previous_by_object.get(object_id)
        changes: list[AuditChange] = []
        fields = [
            f.attname
            for f in record.instance_type._meta.concrete_fields
            if f.attname not in _AUDIT_HIDDEN_FIELDS and f.attname != "id"
        ]
        if previous is None:
            if record.history_type != "-":
                changes = [AuditChange(f, None, getattr(record, f)) for f in fields]
        else:
            changes = [
                AuditChange(f, getattr(previous, f), getattr(record, f))
                for f in fields
                if getattr(previous, f) != getattr(record, f)
            ]
        previous_by_object[object_id] = record
        entries.append(
            AuditEntry(
                subject=subject,
                object_id=object_id,
                at=record.history_date,
                user=record.history_user.get_username() if record.history_user else "system",
                action=_HISTORY_ACTIONS.get(record.history_type, record.history_type),
                reason=record.history_change_reason or "",
                changes=tuple(changes),
            )
        )
    return entries


def resident_audit_trail(user: User, pk: int) -> tuple[Resident, list[AuditEntry]]:
    """The history of one resident (epidemiologists and admins; Resident.DoesNotExist else)."""
    if not sees_all_records(user):
        raise Resident.DoesNotExist
    resident = residents_for_user(user).get(pk=pk)
    records = Resident.history.filter(id=pk).select_related("history_user")  # type: ignore[attr-defined]
    return resident, _audit_entries("resident", records)


def visit_audit_trail(user: User, pk: int) -> tuple[Visit, list[AuditEntry]]:
    """The history of a visit and of its observations, including deleted ones."""
    if not sees_all_records(user):
        raise Visit.DoesNotExist
    visit = visits_for_user(user).select_related("resident").get(pk=pk)
    visit_records = Visit.history.filter(id=pk).select_related("history_user")  # type: ignore[attr-defined]
    observation_records = Observation.history.filter(visit_id=pk).select_related(  # type: ignore[attr-defined]
        "history_user"
    )
    entries = _audit_entries("visit", visit_records) + _audit_entries(
        "observation", observation_records
    )
    entries.sort(key=lambda e: e.at)
    return visit, entries


def measurement_audit_trail(user: User, pk: int) -> tuple[Measurement, list[AuditEntry]]:
    if not sees_all_records(user):
        raise Measurement.DoesNotExist
    measurement = measurements_for_user(user).select_related("station", "pollutant").get(pk=pk)
    records = Measurement.history.filter(id=pk).select_related("history_user")  # type: ignore[attr-defined]
    return measurement, _audit_entries("measurement", records)


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
