"""Receiving an ODK Collect / KoboCollect submission: read the instance, call the web form's
services, and hold what they refuse for review.

Nothing is validated here that the services validate: the instance is only read (field names
back to codes, unit choices back to units) and handed to surveys.services.outbox_visit_submit,
the same path as the web form's offline outbox. Its ValidationProblem becomes a held submission
with the messages by field; its AccessDenied (and an area outside the user's) is a refusal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from openrosa.models import FormVersion, HeldStatus, HeldSubmission
from openrosa.xforms import (
    FORM_ID,
    NO,
    RESIDENT_FORM_ID,
    YES,
    FormSpec,
    build_spec,
    element_name,
)
from surveys.models import Area, Smoking, VocabularyCode
from surveys.pseudonyms import InvalidStudyId, pseudonymize
from surveys.selectors import areas_for_user, may_record_field_data, sees_all_records
from surveys.services import (
    AccessDenied,
    ObservationInput,
    ResidentRegistration,
    User,
    outbox_visit_submit,
    resident_find,
    resident_register_or_find,
)
from surveys.validation import FieldError, ValidationProblem


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"  # the same instance again: nothing new
    HELD = "held"  # kept for review


@dataclass(frozen=True)
class Received:
    outcome: Outcome
    messages: list[dict[str, str]]


class BadInstance(ValueError):
    """Not an instance of a HealthWatch form (not XML, no instanceID, another form)."""


def current_forms(user: User) -> list[FormSpec]:
    """The forms this user fills now (their areas, the active vocabulary), each recorded."""
    return [current_form(user, form_id) for form_id in (FORM_ID, RESIDENT_FORM_ID)]


def current_form(user: User, form_id: str = FORM_ID) -> FormSpec:
    """One form for this user now, recorded (FormVersion) so its submissions can be read."""
    codes = list(VocabularyCode.objects.filter(active=True))
    spec = build_spec(codes, list(areas_for_user(user)), form_id)
    FormVersion.objects.get_or_create(
        version=spec.version, defaults={"form_id": spec.form_id, "spec": spec.to_json()}
    )
    return spec


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _leaves(root: Element) -> dict[str, str]:
    """Answers by element name (names are unique in the generated form)."""
    return {
        _local(e.tag): (e.text or "").strip() for e in root.iter() if len(e) == 0 and e is not root
    }


def read_instance(xml: bytes) -> tuple[Element, dict[str, str], uuid.UUID]:
    try:
        root = SafeET.fromstring(xml)
    except Exception as error:  # defusedxml raises several kinds
        raise BadInstance(_("The submission is not well-formed XML (%s).") % error) from None
    answers = _leaves(root)
    raw_id = answers.get("instanceID", "")
    try:
        key = uuid.UUID(raw_id.removeprefix("uuid:"))
    except ValueError:
        raise BadInstance(_("The submission has no instanceID (meta/instanceID).")) from None
    return root, answers, key


def field_label(spec: FormSpec | None, field: str) -> str:
    """The question a service's field name stands for, as the worker saw it."""
    fixed = {
        "study_id": _("Study ID"),
        "area": _("Area"),
        "birth_year": _("Birth year"),
        "sex": _("Sex"),
        "enrolled_on": _("Enrolment date"),
        "latitude": _("Home location"),
        "longitude": _("Home location"),
        "smoking": _("Smoking"),
        "visited_on": _("Visit date"),
        "observations": _("Observations"),
        "form": _("Form"),
    }
    if field in fixed:
        return fixed[field]
    parts = {
        "value": _("value"),
        "unit": _("unit"),
        "lod": _("detection limit"),
        "below_lod": _("below the detection limit"),
        "code": _("code"),
    }
    code, _dot, part = field.rpartition(".")
    if spec is not None:
        for entry in spec.entries():
            if entry.code == code:
                return f"{entry.label} — {parts.get(part, part)}"
    return field


def _labelled(spec: FormSpec | None, message: str) -> str:
    """The services' messages name codes (lab.blood_lead); the review page shows labels."""
    if spec is not None:
        for entry in sorted(spec.entries(), key=lambda e: -len(e.code)):
            message = message.replace(entry.code, entry.label)
    return message


def _date(text: str, field: str, errors: list[FieldError]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(FieldError(field, _("“%(value)s” is not a date.") % {"value": text}, text))
        return None


def _observations(spec: FormSpec, answers: dict[str, str]) -> list[ObservationInput]:
    entries = [ObservationInput(b.code, answers.get(b.name, "")) for b in spec.booleans]
    for n in spec.numerics:
        if answers.get(f"{n.name}_measured") != YES:
            continue
        choice = answers.get(f"{n.name}_unit", "")
        index = int(choice[1:]) if choice[1:].isdigit() else -1
        unit = n.units[index] if 0 <= index < len(n.units) else choice
        entries.append(
            ObservationInput(
                n.code,
                answers.get(f"{n.name}_value", ""),
                unit=unit,
                below_lod=answers.get(f"{n.name}_below_lod", NO) == YES,
                lod=answers.get(f"{n.name}_lod", ""),
            )
        )
    return entries


def _registration(
    user: User, spec: FormSpec, answers: dict[str, str], errors: list[FieldError]
) -> ResidentRegistration | None:
    codes = {element_name(code): code for code, _name in spec.areas}
    area_code = codes.get(answers.get("area", ""))
    area = Area.objects.filter(code=area_code).first() if area_code else None
    if area is None:
        errors.append(FieldError("area", _("Choose an area."), answers.get("area", "")))
    elif not areas_for_user(user).filter(pk=area.pk).exists():
        raise AccessDenied(_("You are not assigned to area %(area)s.") % {"area": area.name})
    birth_year = answers.get("birth_year", "")
    if not birth_year.lstrip("-").isdigit():
        errors.append(FieldError("birth_year", _("A birth year is required."), birth_year))
    enrolled_on = _date(answers.get("enrolled_on", ""), "enrolled_on", errors)
    latitude = longitude = None
    if home := answers.get("home", ""):
        try:
            latitude, longitude = (float(x) for x in home.split()[:2])
        except ValueError:
            errors.append(FieldError("latitude", _("The home location is not a GPS point.")))
    if errors or area is None or enrolled_on is None:
        return None
    return ResidentRegistration(
        study_id=answers.get("study_id", ""),
        area=area,
        birth_year=int(birth_year),
        sex=answers.get("sex", ""),
        enrolled_on=enrolled_on,
        latitude=latitude,
        longitude=longitude,
        works_at_site=answers.get("works_at_site") == YES,
        smoking=answers.get("smoking") or Smoking.UNKNOWN,
    )


def submission_receive(*, user: User, xml: bytes, today: dt.date | None = None) -> Received:
    """Store the visit of one instance, or hold it for review; the instanceID is the key.

    Raises BadInstance (not an instance of our form) and AccessDenied (the user may not record
    field data, or names an area or resident outside their areas): nothing is stored then.
    """
    if not may_record_field_data(user):
        raise AccessDenied(_("Only health workers and admins send visits."))
    root, answers, key = read_instance(xml)
    if root.get("id") not in {FORM_ID, RESIDENT_FORM_ID}:
        raise BadInstance(_("This server does not know the form %r.") % root.get("id"))
    held = HeldSubmission.objects.filter(instance_id=str(key)).first()
    if held is not None and held.submitted_by_id != user.pk:
        raise BadInstance(_("This instanceID was already sent by someone else."))
    if held is not None:
        return Received(
            Outcome.DUPLICATE if held.status != HeldStatus.HELD else Outcome.HELD, held.messages
        )
    version = FormVersion.objects.filter(version=root.get("version", "")).first()
    errors: list[FieldError] = []
    spec = FormSpec.from_json(version.spec) if version else None
    if spec is None:
        errors.append(
            FieldError("form", _("This form version is unknown here: get the blank form again."))
        )
        return _hold(user, None, root, answers, key, xml, errors)
    if spec.form_id == RESIDENT_FORM_ID:
        return _register(user, spec, root, answers, key, xml)
    visited_on = _date(answers.get("visited_on", ""), "visited_on", errors)
    registration = None
    resident = None
    try:
        if answers.get("new_resident") == YES:
            registration = _registration(user, spec, answers, errors)
        else:
            resident = resident_find(user=user, study_id=answers.get("study_id", ""))
            if resident is None:
                errors.append(
                    FieldError(
                        "study_id",
                        _("No resident with this study ID in your areas: register them first."),
                    )
                )
        if errors or visited_on is None:
            raise ValidationProblem(errors)
        result = outbox_visit_submit(
            user=user,
            resident=resident,
            registration=registration,
            visited_on=visited_on,
            observations=_observations(spec, answers),
            submission_key=key,
            today=today,
        )
    except ValidationProblem as problem:
        return _hold(user, spec, root, answers, key, xml, problem.errors)
    return Received(Outcome.CREATED if result.visit_created else Outcome.DUPLICATE, [])


def _register(
    user: User,
    spec: FormSpec,
    root: Element,
    answers: dict[str, str],
    key: uuid.UUID,
    xml: bytes,
) -> Received:
    """The registration form: the resident with this study ID, registered or found (a resend
    finds the one the first send registered)."""
    errors: list[FieldError] = []
    try:
        registration = _registration(user, spec, answers, errors)
        if registration is None:
            raise ValidationProblem(errors)
        _resident, created = resident_register_or_find(user=user, registration=registration)
    except ValidationProblem as problem:
        return _hold(user, spec, root, answers, key, xml, problem.errors)
    return Received(Outcome.CREATED if created else Outcome.DUPLICATE, [])


def _hold(
    user: User,
    spec: FormSpec | None,
    root: Element,
    answers: dict[str, str],
    key: uuid.UUID,
    xml: bytes,
    errors: list[FieldError],
) -> Received:
    """Keep the submission for review: no study ID, no coordinates, no raw XML (its hash)."""
    messages = [
        {
            "field": e.field,
            "label": field_label(spec, e.field),
            "message": _labelled(spec, e.message),
        }
        for e in errors
    ]
    try:
        pseudonym = pseudonymize(answers.get("study_id", "")).value
    except InvalidStudyId:
        pseudonym = ""
    kept: dict[str, Any] = {
        k: v for k, v in answers.items() if k not in {"study_id", "home", "instanceName"}
    }
    kept["home_given"] = bool(answers.get("home"))
    try:
        with transaction.atomic():
            HeldSubmission.objects.create(
                instance_id=str(key),
                form_version=root.get("version", "")[:32],
                submitted_by=user,  # type: ignore[misc]  # checked by may_record_field_data
                pseudonym=pseudonym,
                answers=kept,
                messages=messages,
                xml_sha256=hashlib.sha256(xml).hexdigest(),
            )
    except IntegrityError:
        pass  # the same instance, held by a simultaneous request
    return Received(Outcome.HELD, messages)


def held_for_user(user: User) -> Any:
    """The review queue: data managers (epidemiologists, admins) see every held submission."""
    if not sees_all_records(user):
        return HeldSubmission.objects.none()
    return HeldSubmission.objects.select_related("submitted_by")


def held_submission_review(*, user: User, held_id: int, status: str, note: str) -> HeldSubmission:
    """Close a held submission: fixed (entered again correctly) or rejected, with a note."""
    if not sees_all_records(user):
        raise AccessDenied(_("Only data managers review held submissions."))
    errors = []
    if status not in {HeldStatus.FIXED, HeldStatus.REJECTED}:
        errors.append(FieldError("status", _("Choose fixed or rejected.")))
    if not note.strip():
        errors.append(FieldError("note", _("Say what was done and why.")))
    if errors:
        raise ValidationProblem(errors)
    with transaction.atomic():
        held = HeldSubmission.objects.select_for_update().get(pk=held_id)
        held.status = status
        held.review_note = note.strip()
        held.reviewed_by = user  # type: ignore[assignment]
        held.reviewed_at = timezone.now()
        held.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
    return held
