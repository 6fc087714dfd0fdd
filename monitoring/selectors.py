"""Reads of community monitoring: who sees which entries, and the public's view of a station."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from healthwatch.i18n import localized_decimal, short_date
from healthwatch.roles import ROLE_LABELS, STAFF_ROLES, Role, has_role
from monitoring.models import (
    Complaint,
    ComplaintStatus,
    Guideline,
    MonitorAssignment,
    Reading,
    Sample,
)
from monitoring.places import public_coordinate
from surveys.models import MeasurementStatus, Station

User = AbstractBaseUser | AnonymousUser


def role_label(code: str) -> str:
    """A collector's role as the public reads it (never a name)."""
    try:
        return str(ROLE_LABELS[Role(code)])
    except ValueError:
        return _("Unknown")


def place_label(reading: Reading | Sample) -> str:
    """Where a reading or sample was taken, as the public may read it: an ad-hoc GPS point only
    on the public grid (monitoring.places), since it may be where a complainant stood."""
    if reading.station_id is not None:
        assert reading.station is not None
        return reading.station.name
    return _("GPS point %(lat)s, %(lon)s") % {
        "lat": localized_decimal(public_coordinate(reading.latitude) or 0.0, 2),
        "lon": localized_decimal(public_coordinate(reading.longitude) or 0.0, 2),
    }


def stations_for_monitor(user: User) -> QuerySet[Station]:
    """The stations a user may record community samples at: a monitor's assigned ones; all of
    them for health workers and admins."""
    if has_role(user, Role.HEALTH_WORKER, Role.ADMIN):
        return Station.objects.all()
    if not has_role(user, Role.COMMUNITY_MONITOR):
        return Station.objects.none()
    ids = MonitorAssignment.objects.filter(monitor_id=user.pk).values("station_id")
    return Station.objects.filter(pk__in=ids)


def samples_for_user(user: User) -> QuerySet[Sample]:
    """Staff see every sample; a community monitor only their own."""
    if has_role(user, *STAFF_ROLES):
        return Sample.objects.all()
    if has_role(user, Role.COMMUNITY_MONITOR):
        return Sample.objects.filter(collected_by_id=user.pk)
    return Sample.objects.none()


def readings_for_user(user: User) -> QuerySet[Reading]:
    if has_role(user, *STAFF_ROLES):
        return Reading.objects.all()
    if has_role(user, Role.COMMUNITY_MONITOR):
        return Reading.objects.filter(recorded_by_id=user.pk)
    return Reading.objects.none()


def readings_to_validate() -> QuerySet[Reading]:
    """Preliminary readings not replaced by a correction: the validator's queue."""
    return (
        Reading.objects.filter(status=MeasurementStatus.PRELIMINARY, corrected_by__isnull=True)
        .select_related("pollutant", "station", "sample")
        .order_by("measured_at", "id")
    )


def readings_decided(limit: int = 50) -> QuerySet[Reading]:
    """The latest validated or invalid readings not yet corrected: what a validator may still
    correct once the queue is empty (a correction is a new version; see reading_correct)."""
    return (
        Reading.objects.filter(corrected_by__isnull=True)
        .exclude(status=MeasurementStatus.PRELIMINARY)
        .select_related("pollutant", "station", "sample")
        .order_by("-status_changed_at", "-id")[:limit]
    )


def public_complaints() -> QuerySet[Complaint]:
    return Complaint.objects.filter(status=ComplaintStatus.APPROVED)


@dataclass(frozen=True)
class GuidelineCheck:
    """The latest reading of one pollutant at a station against its guideline values."""

    pollutant: str
    reading: Reading
    guidelines: list[Guideline]
    exceeded: list[Guideline]
    line: str
    history: list[Reading]


STATUS_WORDS: dict[str, Any] = {
    MeasurementStatus.PRELIMINARY: gettext_lazy("preliminary, not yet validated"),
    MeasurementStatus.VALIDATED: gettext_lazy("validated"),
    MeasurementStatus.INVALID: gettext_lazy("invalid"),
}


#: The averaging periods of monitoring/data/guidelines.json, in the reader's language. A guideline's
#: source stays as its document is titled (a citation); an averaging period added by an
#: administrator that is not listed here is shown as written.
AVERAGING_WORDS: dict[str, Any] = {
    "24-hour mean": gettext_lazy("24-hour mean"),
    "single sample": gettext_lazy("single sample"),
}


def averaging_label(averaging: str) -> str:
    return str(AVERAGING_WORDS.get(averaging, averaging))


def _plain_line(reading: Reading, guidelines: list[Guideline], exceeded: list[Guideline]) -> str:
    """One sentence a resident can read: the latest value against the guideline."""
    what = {
        "pollutant": reading.pollutant.display_label,
        "value": "—" if reading.value is None else localized_decimal(reading.value),
        "unit": reading.pollutant.canonical_unit,
        "date": short_date(timezone.localtime(reading.measured_at).date()),
        "status": STATUS_WORDS.get(reading.status, reading.status),
    }
    if reading.value is None:
        return _("%(pollutant)s on %(date)s was below what the lab can detect (%(status)s).") % what
    if not guidelines:
        return (
            _("%(pollutant)s on %(date)s: %(value)s %(unit)s (%(status)s).") % what
            + " "
            + _("No guideline value is set.")
        )
    value = reading.value
    if exceeded:
        worst = max(exceeded, key=lambda g: value / g.value)
        return _(
            "%(pollutant)s on %(date)s was %(value)s %(unit)s: %(times)s times the %(source)s "
            "value of %(limit)s %(unit)s (%(averaging)s) (%(status)s)."
        ) % {
            **what,
            # rounded as %.1f rounds (Django's number_format cuts the digits off instead)
            "times": localized_decimal(value / worst.value, 1),
            "source": worst.source,
            "limit": localized_decimal(worst.value),
            "averaging": averaging_label(worst.averaging),
        }
    lowest = min(guidelines, key=lambda g: g.value)
    return _(
        "%(pollutant)s on %(date)s was %(value)s %(unit)s: within the %(source)s value of "
        "%(limit)s %(unit)s (%(averaging)s) (%(status)s)."
    ) % {
        **what,
        "source": lowest.source,
        "limit": localized_decimal(lowest.value),
        "averaging": averaging_label(lowest.averaging),
    }


def station_checks(station: Station, *, history_length: int = 20) -> list[GuidelineCheck]:
    """Per pollutant, the latest current (uncorrected, not invalid) reading against guidelines."""
    readings = (
        Reading.objects.filter(station=station, corrected_by__isnull=True)
        .exclude(status=MeasurementStatus.INVALID)
        .select_related("pollutant", "sample")
        .order_by("-measured_at", "-id")
    )
    latest: dict[str, list[Reading]] = {}
    for reading in readings:
        latest.setdefault(reading.pollutant.code, []).append(reading)
    checks = []
    for code, series in sorted(latest.items()):
        reading = series[0]
        guidelines = list(Guideline.objects.filter(pollutant=reading.pollutant, active=True))
        exceeded = [g for g in guidelines if reading.value is not None and reading.value > g.value]
        checks.append(
            GuidelineCheck(
                pollutant=code,
                reading=reading,
                guidelines=guidelines,
                exceeded=exceeded,
                line=_plain_line(reading, guidelines, exceeded),
                history=list(reversed(series[:history_length])),
            )
        )
    return checks
