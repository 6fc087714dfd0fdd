"""Writes of community monitoring: samples and their custody, readings, lab results (form, API,
CSV), validation, corrections, complaints. Each is one transaction that writes all or nothing;
every step leaves a custody event and a history version (django-simple-history). The public
snapshot is refreshed by a worker after the write commits (monitoring.publishing), never inside it.

Who may do what (checked here, whatever the caller):
- a community monitor records samples and sensor readings at the stations assigned to them, or
  at a GPS point (ad-hoc sampling at a complaint site);
- health workers and admins record them anywhere;
- epidemiologists and admins attach lab results and validate: they already own data quality
  (the quality queue), so validation needs no new role.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from healthwatch.roles import Role, has_role, primary_role
from monitoring.models import (
    Complaint,
    ComplaintKind,
    ComplaintStatus,
    CustodyEvent,
    CustodyStep,
    Guideline,
    MonitorAssignment,
    Reading,
    Sample,
)
from monitoring.publishing import public_snapshot_request
from surveys.models import REASON_MAX_LENGTH, MeasurementStatus, Medium, Station, VocabularyCode
from surveys.services import AccessDenied, SubmissionKeyConflict
from surveys.validation import FieldError, ValidationProblem, coded_value

User = AbstractBaseUser | AnonymousUser

COLLECTORS = (Role.COMMUNITY_MONITOR, Role.HEALTH_WORKER, Role.ADMIN)
VALIDATORS = (Role.EPIDEMIOLOGIST, Role.ADMIN)
MODERATORS = (Role.EPIDEMIOLOGIST, Role.COMMUNITY_REVIEWER, Role.ADMIN)
COMPLAINTS_PER_CLIENT_PER_DAY = 5
LAB_CSV_COLUMNS = ("sample_id", "pollutant", "value", "unit", "below_lod", "lod", "method", "lab")


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise AccessDenied(message)


def _role_of(user: User) -> str:
    role = primary_role(user)
    return role.value if role else ""


def _actor(user: User) -> Any:
    return user if isinstance(user, AbstractBaseUser) and user.is_authenticated else None


def _custody(
    sample: Sample, step: str, *, user: User, at: dt.datetime | None = None, note: str = ""
) -> CustodyEvent:
    return CustodyEvent.objects.create(
        sample=sample,
        step=step,
        at=at or timezone.now(),
        actor=_actor(user),
        actor_role=_role_of(user),
        note=note[:300],
    )


def may_record_at(user: User, station: Station | None) -> bool:
    """A monitor records at their assigned stations (or a GPS point); staff collectors anywhere."""
    if has_role(user, Role.HEALTH_WORKER, Role.ADMIN):
        return True
    if not has_role(user, Role.COMMUNITY_MONITOR):
        return False
    if station is None:
        return True
    return MonitorAssignment.objects.filter(monitor_id=user.pk, station=station).exists()


def _place_problems(
    station: Station | None, latitude: float | None, longitude: float | None
) -> list[FieldError]:
    if station is not None:
        return []
    if latitude is None or longitude is None:
        return [
            FieldError("station", _("Choose a station, or give the GPS latitude and longitude."))
        ]
    errors = []
    if not -90 <= latitude <= 90:
        errors.append(FieldError("latitude", _("A latitude is between -90 and 90.")))
    if not -180 <= longitude <= 180:
        errors.append(FieldError("longitude", _("A longitude is between -180 and 180.")))
    return errors


def _when_problems(field: str, when: dt.datetime | None) -> list[FieldError]:
    if when is None:
        return [FieldError(field, _("Give the date and time."))]
    if when > timezone.now() + dt.timedelta(minutes=5):
        return [FieldError(field, _("This time is in the future."))]
    return []


KEY_REUSED = gettext_lazy(
    "This submission key was already used for a different entry: open the form again for a new "
    "entry."
)
Keyed = TypeVar("Keyed", Sample, Reading)


def _fingerprint(**content: Any) -> str:
    """SHA-256 of what was submitted with a key: a repeat has the same, a reused key not."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _stored_under(
    model: type[Keyed], owner: str, user: User, key: uuid.UUID | None, fingerprint: str
) -> Keyed | None:
    """What this key stored earlier, if anything: the same entry sent again (a double tap, a
    phone's outbox resending after a lost answer). A key used by someone else or for other
    content is a conflict and stores nothing."""
    if key is None:
        return None
    stored = model.objects.filter(submission_key=key).first()
    if stored is None:
        return None
    if getattr(stored, owner + "_id") != user.pk or stored.submission_fingerprint != fingerprint:
        raise SubmissionKeyConflict([FieldError("submission_key", str(KEY_REUSED))])
    return stored


def monitor_assign(*, user: User, monitor: AbstractBaseUser, station: Station) -> MonitorAssignment:
    """An admin assigns a station to a community monitor."""
    _require(has_role(user, Role.ADMIN), _("Only admins assign stations."))
    _require(
        has_role(monitor, Role.COMMUNITY_MONITOR), _("Stations are assigned to community monitors.")
    )
    assignment, _created = MonitorAssignment.objects.get_or_create(monitor=monitor, station=station)
    return assignment


def sample_record(
    *,
    user: User,
    code: str,
    station: Station | None,
    latitude: float | None = None,
    longitude: float | None = None,
    medium: str = "",
    collected_at: dt.datetime | None,
    container: str = "",
    preservation: str = "",
    lab: str = "",
    handed_at: dt.datetime | None = None,
    complaint: Complaint | None = None,
    submission_key: uuid.UUID | None = None,
) -> Sample:
    """A sample taken: it starts its chain of custody (collected; handed to the lab if said).

    With a `submission_key` (the form's one-time key), sending the same sample again returns
    the one stored and stores nothing more."""
    _require(may_record_at(user, station), _("You may record samples only at your stations."))
    fingerprint = _fingerprint(
        code=code.strip(),
        station=station.pk if station else None,
        latitude=latitude,
        longitude=longitude,
        medium=medium,
        collected_at=collected_at,
        container=container.strip(),
        preservation=preservation.strip(),
        lab=lab.strip(),
        handed_at=handed_at,
        complaint=complaint.pk if complaint else None,
    )
    if stored := _stored_under(Sample, "collected_by", user, submission_key, fingerprint):
        return stored
    errors = _place_problems(station, latitude, longitude)
    errors += _when_problems("collected_at", collected_at)
    code = code.strip()
    if not code:
        errors.append(FieldError("code", _("Give the sample ID written on the container.")))
    elif Sample.objects.filter(code=code).exists():
        errors.append(
            FieldError("code", _("Sample ID %(code)s is already recorded.") % {"code": code})
        )
    medium = station.medium if station is not None else medium
    if medium not in Medium.values:
        errors.append(FieldError("medium", _("Choose what was sampled: air, water or soil.")))
    if handed_at is not None and not lab.strip():
        errors.append(FieldError("lab", _("Say which lab the sample was handed to.")))
    if handed_at is not None and collected_at is not None and handed_at < collected_at:
        errors.append(FieldError("handed_at", _("A sample is handed over after it is collected.")))
    if errors:
        raise ValidationProblem(errors)
    assert collected_at is not None
    try:
        with transaction.atomic():
            sample = Sample.objects.create(
                code=code,
                medium=medium,
                collected_by=_actor(user),
                collector_role=_role_of(user),
                community_collected=has_role(user, Role.COMMUNITY_MONITOR)
                and primary_role(user) == Role.COMMUNITY_MONITOR,
                station=station,
                latitude=None if station else latitude,
                longitude=None if station else longitude,
                collected_at=collected_at,
                container=container.strip(),
                preservation=preservation.strip(),
                lab=lab.strip(),
                handed_at=handed_at,
                complaint=complaint,
                submission_key=submission_key,
                submission_fingerprint=fingerprint if submission_key else "",
            )
            _custody(sample, CustodyStep.COLLECTED, user=user, at=collected_at)
            if handed_at is not None:
                _custody(
                    sample, CustodyStep.HANDED_TO_LAB, user=user, at=handed_at, note=lab.strip()
                )
            public_snapshot_request()
    except IntegrityError:
        # Sent twice at once (a double tap, two tabs): the other request stored it first.
        if stored := _stored_under(Sample, "collected_by", user, submission_key, fingerprint):
            return stored
        raise ValidationProblem(
            [FieldError("code", _("Sample ID %(code)s is already recorded.") % {"code": code})]
        ) from None
    return sample


def _pollutant(
    code: str, medium: str, field: str = "pollutant"
) -> tuple[VocabularyCode | None, list[FieldError]]:
    pollutant = VocabularyCode.objects.filter(code=code.strip(), category="pollutant").first()
    if pollutant is None:
        return None, [FieldError(field, _("Unknown pollutant “%(code)s”.") % {"code": code})]
    if pollutant.medium != medium:
        return None, [
            FieldError(
                field,
                _("%(pollutant)s is measured in %(medium)s, not in this sample.")
                % {"pollutant": pollutant.display_label, "medium": pollutant.medium},
            )
        ]
    return pollutant, []


def sensor_reading_record(
    *,
    user: User,
    station: Station,
    measured_at: dt.datetime | None,
    pollutant: str,
    value: str,
    unit: str,
    method: str = "",
    submission_key: uuid.UUID | None = None,
) -> Reading:
    """A reading of a community sensor at a station: preliminary until validated.

    With a `submission_key` (the form's one-time key), sending the same reading again returns
    the one stored and stores nothing more."""
    _require(may_record_at(user, station), _("You may record readings only at your stations."))
    fingerprint = _fingerprint(
        station=station.pk,
        measured_at=measured_at,
        pollutant=pollutant.strip(),
        value=value.strip(),
        unit=unit.strip(),
        method=method.strip(),
    )
    if stored := _stored_under(Reading, "recorded_by", user, submission_key, fingerprint):
        return stored
    code, errors = _pollutant(pollutant, station.medium)
    errors += _when_problems("measured_at", measured_at)
    coded = None
    if code is not None:
        coded, problems = coded_value(code, value=value, unit=unit)
        errors += problems
    if errors:
        raise ValidationProblem(errors)
    assert code is not None and coded is not None and measured_at is not None
    try:
        with transaction.atomic():
            reading = Reading.objects.create(
                station=station,
                measured_at=measured_at,
                pollutant=code,
                value=coded.value,
                entered_unit=coded.entered_unit,
                below_lod=coded.below_lod,
                lod=coded.lod,
                method=method.strip() or _("community sensor"),
                recorded_by=_actor(user),
                collector_role=_role_of(user),
                community_collected=primary_role(user) == Role.COMMUNITY_MONITOR,
                submission_key=submission_key,
                submission_fingerprint=fingerprint if submission_key else "",
            )
            public_snapshot_request()
    except IntegrityError:
        # Sent twice at once: the other request stored it first (only the key is unique here).
        if stored := _stored_under(Reading, "recorded_by", user, submission_key, fingerprint):
            return stored
        raise
    return reading


@dataclass(frozen=True)
class LabResult:
    """One lab result for one sample, as a form, the API or a CSV row gives it."""

    sample_code: str
    pollutant: str
    value: str
    unit: str
    below_lod: str | bool = False
    lod: str = ""
    method: str = ""
    lab: str = ""


def _result_problems(result: LabResult, prefix: str) -> tuple[Reading | None, list[FieldError]]:
    """Check one result; return the unsaved reading or the errors (fields prefixed)."""
    sample = Sample.objects.filter(code=result.sample_code.strip()).first()
    if sample is None:
        return None, [
            FieldError(
                prefix + "sample_id",
                _("No sample with ID “%(code)s”.") % {"code": result.sample_code},
                result.sample_code,
            )
        ]
    code, errors = _pollutant(result.pollutant, sample.medium, prefix + "pollutant")
    coded = None
    if code is not None:
        coded, problems = coded_value(
            code,
            value=result.value,
            unit=result.unit,
            below_lod=result.below_lod,
            lod=result.lod,
            prefix=prefix,
        )
        errors += problems
        if Reading.objects.filter(
            sample=sample, pollutant=code, corrected_by__isnull=True
        ).exists():
            errors.append(
                FieldError(
                    prefix + "pollutant",
                    _("Sample %(sample)s already has a %(pollutant)s result; correct it instead.")
                    % {"sample": sample.code, "pollutant": code.display_label},
                )
            )
    if errors:
        return None, errors
    assert code is not None and coded is not None
    reading = Reading(
        sample=sample,
        station=sample.station,
        latitude=sample.latitude,
        longitude=sample.longitude,
        measured_at=sample.collected_at,
        pollutant=code,
        value=coded.value,
        entered_unit=coded.entered_unit,
        below_lod=coded.below_lod,
        lod=coded.lod,
        method=result.method.strip(),
        lab=result.lab.strip() or sample.lab,
        recorded_by=sample.collected_by,
        collector_role=sample.collector_role,
        community_collected=sample.community_collected,
    )
    return reading, []


def lab_results_attach(*, user: User, results: list[LabResult], source: str) -> list[Reading]:
    """Attach lab results to their samples: all of them, or none (errors name row and field).

    `source` says how they came (form, API, the CSV's file name) in each custody step."""
    _require(has_role(user, *VALIDATORS), _("Only epidemiologists and admins attach lab results."))
    readings: list[Reading] = []
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for number, result in enumerate(results, start=1):
        prefix = f"row {number}: " if len(results) > 1 or source.endswith(".csv") else ""
        key = (result.sample_code.strip(), result.pollutant.strip())
        if key in seen:
            errors.append(
                FieldError(prefix + "pollutant", _("This sample and pollutant appear twice."))
            )
            continue
        seen.add(key)
        reading, problems = _result_problems(result, prefix)
        errors += problems
        if reading is not None:
            readings.append(reading)
    if not results:
        errors.append(FieldError("file", _("No lab results were given.")))
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():
        for reading in readings:
            reading._change_reason = _("lab result (%(source)s)") % {"source": source}  # type: ignore[attr-defined]
            reading.save()
            assert reading.sample is not None
            _custody(
                reading.sample,
                CustodyStep.RESULT_ATTACHED,
                user=user,
                note=f"{reading.pollutant.code} · {reading.lab} · {source}",
            )
        public_snapshot_request()
    return readings


def lab_results_from_csv(text: str) -> list[LabResult]:
    """Parse a lab's CSV (sample_id, pollutant, value, unit, below_lod, lod, method, lab)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("sample_id", "pollutant", "value", "unit") if c not in header]
    if missing:
        raise ValidationProblem(
            [
                FieldError(
                    "file",
                    ngettext(
                        "The header lacks the column %(columns)s; expected %(expected)s.",
                        "The header lacks the columns %(columns)s; expected %(expected)s.",
                        len(missing),
                    )
                    % {"columns": ", ".join(missing), "expected": ", ".join(LAB_CSV_COLUMNS)},
                )
            ]
        )
    results = []
    for row in reader:
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        results.append(
            LabResult(
                sample_code=clean.get("sample_id", ""),
                pollutant=clean.get("pollutant", ""),
                value=clean.get("value", ""),
                unit=clean.get("unit", ""),
                below_lod=clean.get("below_lod", ""),
                lod=clean.get("lod", ""),
                method=clean.get("method", ""),
                lab=clean.get("lab", ""),
            )
        )
    return results


def reading_set_status(*, user: User, reading: Reading, status: str, reason: str) -> Reading:
    """A validator marks a reading validated or invalid, with a reason. Nothing is deleted."""
    _require(has_role(user, *VALIDATORS), _("Only epidemiologists and admins validate readings."))
    errors = []
    if status not in (MeasurementStatus.VALIDATED, MeasurementStatus.INVALID):
        errors.append(FieldError("status", _("Choose validated or invalid.")))
    if not reason.strip():
        errors.append(FieldError("reason", _("Say why.")))
    if len(reason.strip()) > REASON_MAX_LENGTH:
        errors.append(
            FieldError(
                "reason", _("Keep the reason to %(n)s characters.") % {"n": REASON_MAX_LENGTH}
            )
        )
    if hasattr(reading, "corrected_by"):
        errors.append(
            FieldError("status", _("This reading was corrected; validate the correction."))
        )
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():
        reading.status = status
        reading.status_reason = reason.strip()
        reading.status_changed_at = timezone.now()
        reading._change_reason = reason.strip()  # type: ignore[attr-defined]
        reading.save(update_fields=["status", "status_reason", "status_changed_at"])
        if reading.sample is not None:
            step = (
                CustodyStep.VALIDATED
                if status == MeasurementStatus.VALIDATED
                else CustodyStep.INVALIDATED
            )
            _custody(reading.sample, step, user=user, note=reason.strip())
        if status == MeasurementStatus.VALIDATED and exceeded_guidelines(reading):
            from notifications.services import notify_exceedance_validated

            notify_exceedance_validated(reading_id=reading.pk)
        public_snapshot_request()
    return reading


def reading_correct(
    *,
    user: User,
    reading: Reading,
    value: str,
    unit: str,
    below_lod: str | bool = False,
    lod: str = "",
    reason: str,
) -> Reading:
    """A correction: a new preliminary reading that points to the old one (kept as it was)."""
    _require(has_role(user, *VALIDATORS), _("Only epidemiologists and admins correct readings."))
    errors: list[FieldError] = []
    if hasattr(reading, "corrected_by"):
        errors.append(FieldError("value", _("This reading was corrected already.")))
    if not reason.strip():
        errors.append(FieldError("reason", _("Say why.")))
    coded, problems = coded_value(
        reading.pollutant, value=value, unit=unit, below_lod=below_lod, lod=lod
    )
    errors += problems
    if errors:
        raise ValidationProblem(errors)
    assert coded is not None
    with transaction.atomic():
        new = Reading.objects.get(pk=reading.pk)
        new.pk = None
        new.id = None
        new.value, new.entered_unit = coded.value, coded.entered_unit
        new.below_lod, new.lod = coded.below_lod, coded.lod
        new.status = MeasurementStatus.PRELIMINARY
        new.status_reason = ""
        new.status_changed_at = None
        new.corrects = reading
        new.submission_key, new.submission_fingerprint = None, ""  # the form's key is the old one's
        new._change_reason = reason.strip()  # type: ignore[attr-defined]
        new.save(force_insert=True)
        if reading.sample is not None:
            _custody(reading.sample, CustodyStep.CORRECTED, user=user, note=reason.strip())
        public_snapshot_request()
    return new


def exceeded_guidelines(reading: Reading) -> list[Guideline]:
    """The active guideline values this reading is above (below-LOD readings exceed nothing)."""
    if reading.value is None:
        return []
    return [
        g
        for g in Guideline.objects.filter(pollutant=reading.pollutant, active=True)
        if reading.value > g.value
    ]


# --- complaints ----------------------------------------------------------------------------


def complaint_submit(
    *,
    kind: str,
    description: str,
    place: str,
    occurred_at: dt.datetime | None,
    latitude: float | None = None,
    longitude: float | None = None,
    address: str,
) -> Complaint:
    from reports.services import client_fingerprint

    errors: list[FieldError] = []
    if kind not in ComplaintKind.values:
        errors.append(FieldError("kind", _("Choose what you saw.")))
    if not description.strip():
        errors.append(FieldError("description", _("Describe what you saw.")))
    if len(description) > 2000:
        errors.append(FieldError("description", _("Keep it under 2,000 characters.")))
    if not place.strip():
        errors.append(FieldError("place", _("Say where it was.")))
    errors += _when_problems("occurred_at", occurred_at)
    if (latitude is None) != (longitude is None):
        errors.append(FieldError("latitude", _("Give both latitude and longitude, or neither.")))
    fingerprint = client_fingerprint(address, "complaint:" + timezone.now().date().isoformat())
    if Complaint.objects.filter(client_hash=fingerprint).count() >= COMPLAINTS_PER_CLIENT_PER_DAY:
        errors.append(
            FieldError("description", _("Too many reports today; please come back tomorrow."))
        )
    if errors:
        raise ValidationProblem(errors)
    assert occurred_at is not None
    return Complaint.objects.create(
        kind=kind,
        description=description.strip(),
        place=place.strip(),
        latitude=latitude,
        longitude=longitude,
        occurred_at=occurred_at,
        client_hash=fingerprint,
    )


def complaint_moderate(*, user: User, complaint: Complaint, approve: bool) -> Complaint:
    _require(has_role(user, *MODERATORS), _("Only moderators moderate complaints."))
    complaint.status = ComplaintStatus.APPROVED if approve else ComplaintStatus.REJECTED
    complaint.moderated_by = _actor(user)  # type: ignore[assignment]
    complaint.moderated_at = timezone.now()
    complaint._change_reason = _("moderated")  # type: ignore[attr-defined]
    with transaction.atomic():
        complaint.save(update_fields=["status", "moderated_by", "moderated_at"])
        public_snapshot_request()
    return complaint


def complaint_link_sample(*, user: User, complaint: Complaint, sample: Sample) -> Sample:
    """Staff link a complaint to the sample taken to check it."""
    _require(has_role(user, *VALIDATORS, Role.HEALTH_WORKER), _("Only staff link complaints."))
    with transaction.atomic():
        sample.complaint = complaint
        sample._change_reason = _("linked to a complaint")  # type: ignore[attr-defined]
        sample.save(update_fields=["complaint"])
        _custody(
            sample,
            CustodyStep.LINKED_TO_COMPLAINT,
            user=user,
            note=_("complaint %(id)s") % {"id": complaint.pk},
        )
        public_snapshot_request()
    return sample
