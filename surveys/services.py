"""Writes of field data. Keyword-only, validating, one transaction each.

Every service raises ValidationProblem with all the problems found (by field) and writes
nothing when there is one. The CSV import validates in bulk with the same rules
(surveys.validation) and writes with bulk operations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from healthwatch.i18n import short_date
from surveys.geo import coarse_location
from surveys.models import (
    REASON_MAX_LENGTH,
    Area,
    DataQualityFlag,
    Measurement,
    MeasurementStatus,
    Observation,
    ProductionSite,
    QualityFlagStatus,
    RecordAccess,
    Resident,
    Sex,
    Smoking,
    Station,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import InvalidStudyId, pseudonymize
from surveys.quality import flag_same_day_visits, flag_unusual_observations
from surveys.selectors import (
    areas_for_user,
    may_record_field_data,
    may_record_measurements,
    quality_flags_for_user,
    residents_for_user,
    sees_all_records,
    visits_for_user,
)
from surveys.validation import (
    CodedValue,
    FieldError,
    ValidationProblem,
    ValueRuleError,
    coded_value,
    parse_date,
)

User = AuthUser | AnonymousUser


class AccessDenied(PermissionError):
    pass


def _reason_problems(reason: str) -> list[FieldError]:
    """An audit reason longer than the history keeps would be cut or refused half-way."""
    if len(reason.strip()) > REASON_MAX_LENGTH:
        return [
            FieldError(
                "reason",
                ngettext(
                    "Keep the reason to %(max)s characters (this one has %(n)s).",
                    "Keep the reason to %(max)s characters (this one has %(n)s).",
                    len(reason.strip()),
                )
                % {"max": REASON_MAX_LENGTH, "n": len(reason.strip())},
            )
        ]
    return []


def _not_one_of(value: object, allowed: Iterable[object]) -> str:
    """The refusal of a value outside a fixed list of codes (the codes stay as they are)."""
    return _("'%(value)s' is not one of %(allowed)s.") % {
        "value": value,
        "allowed": ", ".join(str(a) for a in allowed),
    }


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise AccessDenied(message)


def resident_find(*, user: User, study_id: str) -> Resident | None:
    """The resident with this study ID among those the user may see, or None.

    The study ID is pseudonymized before the lookup and never stored or logged.
    """
    try:
        pseudonym = pseudonymize(study_id)
    except InvalidStudyId as error:
        raise ValidationProblem([FieldError("study_id", str(error))]) from None
    return residents_for_user(user).filter(pseudonym=pseudonym.value).first()


def resident_register(
    *,
    user: User,
    study_id: str,
    area: Area,
    birth_year: int,
    sex: str,
    enrolled_on: dt.date,
    latitude: float | None,
    longitude: float | None,
    works_at_site: bool = False,
    smoking: str = Smoking.UNKNOWN,
    today: dt.date | None = None,
) -> Resident:
    """Enrol a resident. Coordinates are turned into distance and grid cell, then dropped."""
    _require(may_record_field_data(user), _("Only health workers and admins register residents."))
    errors: list[FieldError] = []
    today = today or dt.date.today()
    try:
        pseudonym = pseudonymize(study_id)
    except InvalidStudyId as error:
        errors.append(FieldError("study_id", str(error)))
        pseudonym = None
    if not areas_for_user(user).filter(pk=area.pk).exists():
        errors.append(
            FieldError("area", _("You are not assigned to area %(area)s.") % {"area": area.code})
        )
    if not 1900 <= birth_year <= today.year:
        errors.append(
            FieldError(
                "birth_year",
                _("%(value)s is not a birth year (1900–%(year)s).")
                % {"value": birth_year, "year": today.year},
            )
        )
    if sex not in Sex.values:
        errors.append(FieldError("sex", _not_one_of(sex, Sex.values)))
    if smoking not in Smoking.values:
        errors.append(FieldError("smoking", _not_one_of(smoking, Smoking.values)))
    try:
        parse_date(enrolled_on, today=today)
    except ValueRuleError as error:
        errors.append(FieldError("enrolled_on", str(error)))
    if enrolled_on.year < birth_year:
        errors.append(FieldError("enrolled_on", _("Enrolment cannot be before the birth year.")))
    if (latitude is None) != (longitude is None):
        errors.append(FieldError("longitude", _("Give both latitude and longitude, or neither.")))
    if latitude is not None and not -90 <= latitude <= 90:
        errors.append(
            FieldError(
                "latitude", _("%(value)s is not a latitude (−90 to 90).") % {"value": latitude}
            )
        )
    if longitude is not None and not -180 <= longitude <= 180:
        errors.append(
            FieldError(
                "longitude",
                _("%(value)s is not a longitude (−180 to 180).") % {"value": longitude},
            )
        )
    if pseudonym and Resident.objects.filter(pseudonym=pseudonym.value).exists():
        errors.append(FieldError("study_id", _("This study ID is already registered.")))
    if errors:
        raise ValidationProblem(errors)
    assert pseudonym is not None
    location = None
    if latitude is not None and longitude is not None:
        sites = ProductionSite.objects.values_list("pk", "latitude", "longitude")
        location = coarse_location(latitude, longitude, list(sites))
    with transaction.atomic():
        try:
            return Resident.objects.create(
                pseudonym=pseudonym.value,
                key_version=pseudonym.key_version,
                area=area,
                birth_year=birth_year,
                sex=sex,
                enrolled_on=enrolled_on,
                nearest_site_id=location.nearest_site_id if location else None,
                distance_to_site_km=location.distance_to_site_km if location else None,
                grid_latitude=location.grid_latitude if location else None,
                grid_longitude=location.grid_longitude if location else None,
                works_at_site=works_at_site,
                smoking=smoking,
                created_by=user if user.is_authenticated else None,
            )
        except IntegrityError:
            raise ValidationProblem(
                [FieldError("study_id", _("This study ID is already registered."))]
            ) from None


def resident_register_or_find(
    *, user: User, registration: ResidentRegistration, today: dt.date | None = None
) -> tuple[Resident, bool]:
    """A registration made offline: the resident with this study ID if the user already sees
    one (registered meanwhile by another device or an earlier send), else a new one.

    Returns the resident and whether it is new. Two phones that registered the same study ID
    offline thus end with one resident; a race between them is decided by the pseudonym's
    unique constraint, and the loser gets the winner's resident.
    """
    existing = _visible_resident(user, registration.study_id)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            # The registration's fields are resident_register's arguments (not asdict: that
            # would deep-copy the area).
            typed = {
                f.name: getattr(registration, f.name) for f in dataclasses.fields(registration)
            }
            resident = resident_register(user=user, today=today, **typed)
    except ValidationProblem:
        existing = _visible_resident(user, registration.study_id)
        if existing is not None:
            return existing, False
        raise
    return resident, True


def _visible_resident(user: User, study_id: str) -> Resident | None:
    try:
        return resident_find(user=user, study_id=study_id)
    except ValidationProblem:
        return None  # resident_register names the bad study ID


@dataclass(frozen=True)
class ObservationInput:
    """One observation as entered: strings, as a form or a CSV gives them."""

    code: str
    value: str
    unit: str = ""
    below_lod: str | bool = False
    lod: str = ""


def _validated_observations(
    observations: list[ObservationInput],
) -> tuple[list[tuple[VocabularyCode, CodedValue]], list[FieldError]]:
    codes = {c.code: c for c in VocabularyCode.objects.filter(active=True)}
    errors: list[FieldError] = []
    ready: list[tuple[VocabularyCode, CodedValue]] = []
    seen: set[str] = set()
    for entry in observations:
        prefix = f"{entry.code}."
        code = codes.get(entry.code)
        if code is None:
            errors.append(
                FieldError(
                    prefix + "code",
                    _("unknown code '%(code)s'.") % {"code": entry.code},
                    entry.code,
                )
            )
            continue
        if entry.code in seen:
            errors.append(
                FieldError(
                    prefix + "code",
                    _("%(code)s is given twice.") % {"code": entry.code},
                    entry.code,
                )
            )
            continue
        seen.add(entry.code)
        value, problems = coded_value(
            code,
            value=entry.value,
            unit=entry.unit,
            below_lod=entry.below_lod,
            lod=entry.lod,
            prefix=prefix,
        )
        errors.extend(problems)
        if value is not None:
            ready.append((code, value))
    return ready, errors


def _write_observations(
    visit: Visit, ready: list[tuple[VocabularyCode, CodedValue]]
) -> list[Observation]:
    created = []
    for code, value in ready:
        created.append(
            Observation.objects.create(
                visit=visit,
                code=code,
                value=value.value,
                value_boolean=value.value_boolean,
                entered_unit=value.entered_unit,
                below_lod=value.below_lod,
                lod=value.lod,
            )
        )
    return created


class SubmissionKeyConflict(ValidationProblem):
    """A submission key already used for a different visit (other content or another person)."""


SUBMISSION_KEY_REUSED = gettext_lazy(
    "This submission key was already used for a different visit: open the form again (or send "
    "a new key) for a new visit."
)


def visit_record(
    *,
    user: User,
    resident: Resident,
    visited_on: dt.date,
    observations: list[ObservationInput],
    today: dt.date | None = None,
    submission_key: uuid.UUID | None = None,
) -> Visit:
    """Record a visit with its observations; flags unusual values and same-day visits.

    `submission_key` is the one-time key of the form or request that carries the visit: sent
    again (a double tap, a retry after a lost answer), it returns the visit already stored and
    stores nothing more (see visit_submit).
    """
    visit, _ = visit_submit(
        user=user,
        resident=resident,
        visited_on=visited_on,
        observations=observations,
        today=today,
        submission_key=submission_key,
    )
    return visit


def visit_submit(
    *,
    user: User,
    resident: Resident,
    visited_on: dt.date,
    observations: list[ObservationInput],
    today: dt.date | None = None,
    submission_key: uuid.UUID | None = None,
) -> tuple[Visit, bool]:
    """visit_record, also saying whether the visit is new (False: the key's stored visit).

    One rule for the web form's hidden key and the API's Idempotency-Key: a key belongs to one
    visit of one person. The same key from the same person with the same content returns the
    stored visit, even when both requests race (the key's unique constraint decides); the key
    with other content, or from someone else, is a SubmissionKeyConflict and stores nothing.
    """
    _require(may_record_field_data(user), _("Only health workers and admins record visits."))
    _require(
        residents_for_user(user).filter(pk=resident.pk).exists(),
        _("This resident is not in an area you are assigned to."),
    )
    fingerprint = _submission_fingerprint(resident, visited_on, observations)
    if submission_key is not None and (
        stored := _submitted(user, resident, submission_key, fingerprint)
    ):
        return stored, False
    errors: list[FieldError] = []
    try:
        parse_date(visited_on, today=today)
    except ValueRuleError as error:
        errors.append(FieldError("visited_on", str(error)))
    if visited_on < resident.enrolled_on:
        errors.append(
            FieldError(
                "visited_on",
                _("The resident was enrolled on %(date)s.")
                % {"date": short_date(resident.enrolled_on)},
            )
        )
    ready, problems = _validated_observations(observations)
    errors.extend(problems)
    if not observations:
        errors.append(FieldError("observations", _("Record at least one observation.")))
    if errors:
        raise ValidationProblem(errors)
    try:
        with transaction.atomic():
            visit = Visit.objects.create(
                resident=resident,
                visited_on=visited_on,
                health_worker=user if user.is_authenticated else None,
                submission_key=submission_key,
                submission_fingerprint=fingerprint if submission_key is not None else "",
            )
            created = _write_observations(visit, ready)
            flag_same_day_visits([visit])
            flag_unusual_observations(created)
    except IntegrityError:
        # The same submission, sent twice at once: the other request stored it first.
        if submission_key is not None and (
            stored := _submitted(user, resident, submission_key, fingerprint)
        ):
            return stored, False
        raise
    return visit, True


@dataclass(frozen=True)
class ResidentRegistration:
    """The registration of a resident as typed offline (surveys.forms.RegisterResidentForm)."""

    study_id: str
    area: Area
    birth_year: int
    sex: str
    enrolled_on: dt.date
    latitude: float | None = None
    longitude: float | None = None
    works_at_site: bool = False
    smoking: str = Smoking.UNKNOWN


@dataclass(frozen=True)
class OutboxResult:
    visit: Visit
    resident: Resident
    visit_created: bool
    resident_created: bool


def outbox_visit_submit(
    *,
    user: User,
    resident: Resident | None = None,
    registration: ResidentRegistration | None = None,
    visited_on: dt.date,
    observations: list[ObservationInput],
    submission_key: uuid.UUID,
    today: dt.date | None = None,
) -> OutboxResult:
    """One item of a phone's outbox: a visit of a known resident, or of a resident registered
    offline (the registration travels with each of its visits until the server's answer
    replaces the provisional entry on the phone).

    All or nothing: a visit refused leaves no resident behind. The submission key makes a
    resend (the answer was lost, the button was tapped twice) return the stored visit.
    """
    if (resident is None) == (registration is None):
        raise ValueError(_("Give either a resident or a registration."))
    with transaction.atomic():
        resident_created = False
        if registration is not None:
            resident, resident_created = resident_register_or_find(
                user=user, registration=registration, today=today
            )
        assert resident is not None
        visit, visit_created = visit_submit(
            user=user,
            resident=resident,
            visited_on=visited_on,
            observations=observations,
            today=today,
            submission_key=submission_key,
        )
    return OutboxResult(visit, resident, visit_created, resident_created)


def _submission_fingerprint(
    resident: Resident, visited_on: dt.date, observations: list[ObservationInput]
) -> str:
    """What a submission says, as a hash: equal for a repeat, different for other content."""
    content = {
        "resident": resident.pk,
        "visited_on": visited_on.isoformat(),
        "observations": sorted(
            [o.code, str(o.value).strip(), o.unit.strip(), str(o.below_lod).lower(), o.lod.strip()]
            for o in observations
        ),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _submitted(
    user: User, resident: Resident, submission_key: uuid.UUID, fingerprint: str
) -> Visit | None:
    """The visit stored under this submission key by this person with this content, if any.

    A key belongs to one visit: used by someone else, for another resident or with other
    content (the fingerprint; visits stored before it existed have none) it is a conflict.
    """
    stored = Visit.objects.filter(submission_key=submission_key).first()
    if stored is None:
        return None
    same = (
        stored.resident_id == resident.pk
        and stored.health_worker_id == (user.pk if user.is_authenticated else None)
        and stored.submission_fingerprint in ("", fingerprint)
        and visits_for_user(user).filter(pk=stored.pk).exists()
    )
    if not same:
        raise SubmissionKeyConflict([FieldError("submission_key", str(SUBMISSION_KEY_REUSED))])
    return stored


def visit_edit(
    *,
    user: User,
    visit: Visit,
    visited_on: dt.date,
    observations: list[ObservationInput],
    reason: str,
    today: dt.date | None = None,
) -> Visit:
    """Change a visit and replace its observations; the reason goes into the audit trail."""
    _require(may_record_field_data(user), _("Only health workers and admins edit visits."))
    _require(
        residents_for_user(user).filter(pk=visit.resident_id).exists(),
        _("This resident is not in an area you are assigned to."),
    )
    errors: list[FieldError] = []
    if not reason.strip():
        errors.append(FieldError("reason", _("Say why the visit is being changed.")))
    errors.extend(_reason_problems(reason))
    try:
        parse_date(visited_on, today=today)
    except ValueRuleError as error:
        errors.append(FieldError("visited_on", str(error)))
    ready, problems = _validated_observations(observations)
    errors.extend(problems)
    if not observations:
        errors.append(FieldError("observations", _("Record at least one observation.")))
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():
        visit.visited_on = visited_on
        reason = reason.strip()
        visit._change_reason = reason  # type: ignore[attr-defined]
        visit.save()
        existing = {o.code_id: o for o in visit.observations.all()}
        kept: list[Observation] = []
        for code, value in ready:
            observation = existing.pop(code.pk, None) or Observation(visit=visit, code=code)
            fields = ("value", "value_boolean", "entered_unit", "below_lod", "lod")
            changed = observation.pk is None or any(
                getattr(observation, f) != getattr(value, f) for f in fields
            )
            if changed:
                for f in fields:
                    setattr(observation, f, getattr(value, f))
                observation._change_reason = reason  # type: ignore[attr-defined]
                observation.save()
                kept.append(observation)
        for observation in existing.values():
            observation._change_reason = reason  # type: ignore[attr-defined]
            observation.delete()
        flag_same_day_visits([visit])
        flag_unusual_observations(kept)
    return visit


def station_register(
    *, user: User, code: str, name: str, medium: str, latitude: float, longitude: float
) -> Station:
    _require(may_record_measurements(user), _("Only health workers and admins add stations."))
    station = Station(
        code=code.strip(), name=name.strip(), medium=medium, latitude=latitude, longitude=longitude
    )
    errors = [
        FieldError(field, " ".join(messages)) for field, messages in _model_errors(station).items()
    ]
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():  # the station and its first history entry
        station.save()
    return station


def _model_errors(instance: object) -> dict[str, list[str]]:
    from django.core.exceptions import ValidationError

    try:
        instance.full_clean()  # type: ignore[attr-defined]
    except ValidationError as error:
        return {k if k != "__all__" else "non_field": v for k, v in error.message_dict.items()}
    return {}


def measurement_record(
    *,
    user: User,
    station: Station,
    sampled_on: dt.date,
    pollutant: str,
    value: str,
    unit: str,
    below_lod: str | bool = False,
    lod: str = "",
    status: str = MeasurementStatus.PRELIMINARY,
    today: dt.date | None = None,
) -> Measurement:
    _require(
        may_record_measurements(user), _("Only health workers and admins record measurements.")
    )
    errors: list[FieldError] = []
    code = VocabularyCode.objects.filter(code=pollutant, category="pollutant").first()
    if code is None:
        errors.append(
            FieldError(
                "pollutant", _("unknown pollutant '%(code)s'.") % {"code": pollutant}, pollutant
            )
        )
    elif code.medium != station.medium:
        errors.append(
            FieldError(
                "pollutant",
                _(
                    "%(pollutant)s is measured in %(medium)s, but station %(station)s "
                    "samples %(station_medium)s."
                )
                % {
                    "pollutant": pollutant,
                    "medium": code.medium,
                    "station": station.code,
                    "station_medium": station.medium,
                },
            )
        )
    try:
        parse_date(sampled_on, today=today)
    except ValueRuleError as error:
        errors.append(FieldError("sampled_on", str(error)))
    if status not in MeasurementStatus.values:
        errors.append(FieldError("status", _not_one_of(status, MeasurementStatus.values)))
    coded = None
    if code is not None:
        coded, problems = coded_value(code, value=value, unit=unit, below_lod=below_lod, lod=lod)
        errors.extend(problems)
        if Measurement.objects.filter(
            station=station, sampled_on=sampled_on, pollutant=code
        ).exists():
            errors.append(
                FieldError(
                    "sampled_on",
                    _("%(pollutant)s at %(station)s on %(date)s is already recorded.")
                    % {
                        "pollutant": pollutant,
                        "station": station.code,
                        "date": short_date(sampled_on),
                    },
                )
            )
    if errors:
        raise ValidationProblem(errors)
    assert code is not None and coded is not None
    with transaction.atomic():  # the measurement and its first history entry
        return Measurement.objects.create(
            station=station,
            sampled_on=sampled_on,
            pollutant=code,
            value=coded.value,
            entered_unit=coded.entered_unit,
            below_lod=coded.below_lod,
            lod=coded.lod,
            status=status,
            recorded_by=user if user.is_authenticated else None,
        )


def measurement_set_status(
    *, user: User, measurement: Measurement, status: str, reason: str
) -> Measurement:
    """Mark a measurement validated or invalid. Invalid values are kept, never deleted."""
    _require(
        may_record_measurements(user), _("Only health workers and admins validate measurements.")
    )
    errors = []
    if status not in MeasurementStatus.values:
        errors.append(FieldError("status", _not_one_of(status, MeasurementStatus.values)))
    if not reason.strip():
        errors.append(FieldError("reason", _("Say why the status changes.")))
    errors.extend(_reason_problems(reason))
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():  # the status and its reason are stored together, or neither
        measurement.status = status
        measurement._change_reason = reason.strip()  # type: ignore[attr-defined]
        measurement.save(update_fields=["status"])
    return measurement


def record_access_log(
    *, user: User, action: str, resource: str, detail: str = "", row_count: int | None = None
) -> RecordAccess:
    """Log a record-level read or export by staff (who, when, what). Never logs study IDs."""
    return RecordAccess.objects.create(
        user=user if user.is_authenticated else None,
        action=action,
        resource=resource,
        detail=detail[:500],
        row_count=row_count,
    )


# --- Added for the data-quality review queue (new functions only) ----------------------------

REVIEW_OUTCOMES = (QualityFlagStatus.CONFIRMED, QualityFlagStatus.CORRECTED)


def _review_problems(status: str, note: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if status not in REVIEW_OUTCOMES:
        errors.append(FieldError("status", _not_one_of(status, REVIEW_OUTCOMES)))
    if not note.strip():
        errors.append(FieldError("note", _("Say what you checked (a short note).")))
    return errors


def quality_flag_review(
    *, user: User, flag: DataQualityFlag, status: str, note: str
) -> DataQualityFlag:
    """An epidemiologist closes a data-quality flag: the value is right, or it was corrected."""
    _require(sees_all_records(user), _("Only epidemiologists and admins review data quality."))
    errors = _review_problems(status, note)
    if flag.status != QualityFlagStatus.OPEN:
        errors.append(FieldError("status", _("This flag has already been reviewed.")))
    if errors:
        raise ValidationProblem(errors)
    flag.status = status
    flag.review_note = note.strip()
    flag.reviewed_by = user if user.is_authenticated else None  # type: ignore[assignment]
    flag.reviewed_at = timezone.now()
    flag.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
    return flag


QUALITY_BULK_MAX = 500


@dataclass(frozen=True)
class BulkReview:
    """What one bulk review did: flags it closed now, and flags already closed before (by an
    earlier submission of the same form, or by a colleague), which it left as they were."""

    resolved: tuple[int, ...]
    already_reviewed: tuple[int, ...]


def quality_flags_resolve(*, user: User, flag_ids: list[int], status: str, note: str) -> BulkReview:
    """Close many data-quality flags with one outcome and one note, in one transaction.

    Exactly once: each flag is closed by a conditional UPDATE (still open → closed), so the same
    form sent twice, or two reviewers at once, close every flag once and keep the first note;
    the second submission reports the flags as already reviewed. Nothing is written when the
    outcome, the note or a flag id is wrong.
    """
    _require(sees_all_records(user), _("Only epidemiologists and admins review data quality."))
    errors = _review_problems(status, note)
    ids = sorted(set(flag_ids))
    if not ids:
        errors.append(FieldError("flags", _("Select at least one flag.")))
    elif len(ids) > QUALITY_BULK_MAX:
        message = _("Select at most %(max)d flags at once (%(n)d).")
        errors.append(FieldError("flags", message % {"max": QUALITY_BULK_MAX, "n": len(ids)}))
    else:
        known = set(quality_flags_for_user(user).filter(pk__in=ids).values_list("pk", flat=True))
        unknown = [pk for pk in ids if pk not in known]
        if unknown:
            listed = ", ".join(f"#{pk}" for pk in unknown[:10])
            errors.append(FieldError("flags", _("No such flag: %(ids)s.") % {"ids": listed}))
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():
        still_open = list(
            DataQualityFlag.objects.select_for_update()
            .filter(pk__in=ids, status=QualityFlagStatus.OPEN)
            .values_list("pk", flat=True)
        )
        DataQualityFlag.objects.filter(pk__in=still_open, status=QualityFlagStatus.OPEN).update(
            status=status,
            review_note=note.strip(),
            reviewed_by=user if user.is_authenticated else None,
            reviewed_at=timezone.now(),
        )
    resolved = tuple(still_open)
    return BulkReview(resolved, tuple(pk for pk in ids if pk not in set(resolved)))
