"""Reads of field data, and the one access chokepoint per resource.

Every view, API and export gets its rows through a `*_for_user` function here, so the rule of
who sees what lives in one place:
- health workers: residents, visits and observations of the areas assigned to them;
- epidemiologists and admins: everything (their record-level reads are logged);
- community reviewers: no record-level data (they review suppressed releases only);
- monitoring stations and measurements: every staff role reads them (they are open data).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import QuerySet

from healthwatch.roles import Role, has_role
from surveys.models import (
    Area,
    DataQualityFlag,
    Measurement,
    Observation,
    Resident,
    Station,
    Visit,
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
