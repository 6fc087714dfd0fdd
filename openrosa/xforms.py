"""The visit form for ODK Collect / KoboCollect, generated from the active vocabulary.

A `FormSpec` is what the form asks, in plain data: the boolean codes (yes/no), the numeric codes
with their units and valid ranges, and the areas the user may register residents in. The spec
is turned into an XLSForm (a dict of sheets, as pyxform reads it) and then into an XForm with
pyxform. The form version is a hash of the spec, so any change of the vocabulary (a label, a
unit, a range, a code added or retired) or of the user's areas gives a new version. The spec is
also what a submission is read with (openrosa.instances): field names map back to codes, unit
choices back to units.

Validation stays in surveys.services: the constraints here only help the worker on the phone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from pyxform.xls2xform import convert

from surveys.forms import VISIT_CATEGORIES
from surveys.models import Area, CodeCategory, CodeKind, Sex, Smoking, VocabularyCode

FORM_ID = "healthwatch_visit"
RESIDENT_FORM_ID = "healthwatch_resident"  # registration only, e.g. a household round
YES, NO = "yes", "no"


@dataclass(frozen=True)
class NumericCode:
    code: str
    name: str  # the XML element name (codes contain dots, element names may not)
    label: str
    units: list[str]  # accepted units; the choice names are u0, u1, ... in this order
    canonical_unit: str
    factors: list[float]  # factor to the canonical unit, per unit
    min_value: float | None
    max_value: float | None


@dataclass(frozen=True)
class BooleanCode:
    code: str
    name: str
    label: str


@dataclass(frozen=True)
class FormSpec:
    form_id: str
    title: str
    booleans: list[BooleanCode] = field(default_factory=list)
    numerics: list[NumericCode] = field(default_factory=list)
    areas: list[tuple[str, str]] = field(default_factory=list)  # (code, name)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormSpec:
        return cls(
            form_id=data["form_id"],
            title=data["title"],
            booleans=[BooleanCode(**b) for b in data["booleans"]],
            numerics=[NumericCode(**n) for n in data["numerics"]],
            areas=[(a[0], a[1]) for a in data["areas"]],
        )

    def entries(self) -> list[BooleanCode | NumericCode]:
        return [*self.booleans, *self.numerics]

    @property
    def version(self) -> str:
        """A hash of what the form asks: equal specs, equal versions; any change, a new one."""
        asked = {k: v for k, v in self.to_json().items() if k != "title"}  # title: translated
        content = json.dumps(asked, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def element_name(code: str) -> str:
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in code)


def build_spec(codes: list[VocabularyCode], areas: list[Area], form_id: str = FORM_ID) -> FormSpec:
    """The visit form for these active codes (the web visit form's) and these areas; or, with
    RESIDENT_FORM_ID, the registration form (no codes)."""
    if form_id == RESIDENT_FORM_ID:
        return FormSpec(
            form_id=RESIDENT_FORM_ID,
            title=_("HealthWatch resident registration"),
            areas=sorted((a.code, a.name) for a in areas),
        )
    wanted = [c for c in codes if c.active and c.category in VISIT_CATEGORIES]
    booleans = sorted(
        (c for c in wanted if c.kind == CodeKind.BOOLEAN),
        key=lambda c: (c.category != CodeCategory.SYMPTOM, c.label, c.code),
    )
    numerics = sorted((c for c in wanted if c.kind == CodeKind.NUMERIC), key=lambda c: c.code)
    return FormSpec(
        form_id=FORM_ID,
        title=_("HealthWatch visit"),
        booleans=[BooleanCode(c.code, element_name(c.code), c.label) for c in booleans],
        numerics=[
            NumericCode(
                code=c.code,
                name=element_name(c.code),
                label=c.label,
                units=list(c.accepted_units or {c.canonical_unit: 1}),
                canonical_unit=c.canonical_unit,
                factors=[float(f) for f in (c.accepted_units or {c.canonical_unit: 1}).values()],
                min_value=c.min_value,
                max_value=c.max_value,
            )
            for c in numerics
        ],
        areas=sorted((a.code, a.name) for a in areas),
    )


def _num(x: float) -> str:
    return repr(float(x))


def _range_constraint(code: NumericCode) -> str:
    """The valid range in the canonical unit, for whichever unit the worker picked."""
    parts = []
    for index, factor in enumerate(code.factors):
        bounds = [f"${{{code.name}_unit}} = 'u{index}'"]
        if code.min_value is not None:
            bounds.append(f". * {_num(factor)} >= {_num(code.min_value)}")
        if code.max_value is not None:
            bounds.append(f". * {_num(factor)} <= {_num(code.max_value)}")
        parts.append("(" + " and ".join(bounds) + ")")
    return " or ".join(parts)


def xlsform(spec: FormSpec) -> dict[str, list[dict[str, Any]]]:
    """The XLSForm of the spec, as the sheets pyxform reads (survey, choices, settings)."""
    survey: list[dict[str, Any]] = [
        {
            "type": "text",
            "name": "study_id",
            "label": _("Study ID"),
            "hint": _("Turned into a pseudonym on the server; never stored."),
            "required": "yes",
        },
        {
            "type": "select_one yesno",
            "name": "new_resident",
            "label": _("Is this a new resident (first visit)?"),
            "required": "yes",
        },
        {
            "type": "begin group",
            "name": "registration",
            "label": _("Registration"),
            "relevant": f"${{new_resident}} = '{YES}'",
        },
        {"type": "select_one area", "name": "area", "label": _("Area"), "required": "yes"},
        {
            "type": "integer",
            "name": "birth_year",
            "label": _("Birth year"),
            "required": "yes",
            "constraint": ". >= 1900 and . <= number(format-date(today(), '%Y'))",
            "constraint_message": _("A birth year between 1900 and this year."),
        },
        {"type": "select_one sex", "name": "sex", "label": _("Sex"), "required": "yes"},
        {
            "type": "date",
            "name": "enrolled_on",
            "label": _("Enrolment date"),
            "required": "yes",
            "constraint": ". <= today()",
            "constraint_message": _("The date cannot be in the future."),
        },
        {
            "type": "geopoint",
            "name": "home",
            "label": _("Home location (optional)"),
            "hint": _("Used once to compute the distance to the nearest site; then discarded."),
        },
        {
            "type": "select_one yesno",
            "name": "works_at_site",
            "label": _("Works at a production site"),
            "required": "yes",
        },
        {"type": "select_one smoking", "name": "smoking", "label": _("Smoking"), "required": "yes"},
        {"type": "end group", "name": "", "label": ""},
        {
            "type": "date",
            "name": "visited_on",
            "label": _("Visit date"),
            "required": "yes",
            "default": "today()",
            "constraint": ". <= today()",
            "constraint_message": _("The visit date cannot be in the future."),
        },
        {"type": "begin group", "name": "checklist", "label": _("Symptoms and new diagnoses")},
    ]
    for flag in spec.booleans:
        survey.append(
            {"type": "select_one yesno", "name": flag.name, "label": flag.label, "required": "yes"}
        )
    survey.append({"type": "end group", "name": "", "label": ""})
    for code in spec.numerics:
        measured = f"${{{code.name}_measured}} = '{YES}'"
        below = f"${{{code.name}_below_lod}} = '{YES}'"
        canonical = (
            code.units.index(code.canonical_unit) if code.canonical_unit in code.units else 0
        )
        survey += [
            {"type": "begin group", "name": code.name, "label": code.label},
            {
                "type": "select_one yesno",
                "name": f"{code.name}_measured",
                "label": _("Measured at this visit?"),
                "required": "yes",
                "default": NO,
            },
            {
                "type": f"select_one {code.name}_units",
                "name": f"{code.name}_unit",
                "label": _("Unit"),
                "required": "yes",
                "default": f"u{canonical}",
                "relevant": measured,
            },
            {
                "type": "select_one yesno",
                "name": f"{code.name}_below_lod",
                "label": _("Below the detection limit?"),
                "required": "yes",
                "default": NO,
                "relevant": measured,
            },
            {
                "type": "decimal",
                "name": f"{code.name}_value",
                "label": _("Value"),
                "required": "yes",
                "relevant": f"{measured} and not({below})",
                "constraint": _range_constraint(code),
                "constraint_message": _("Outside the valid range (%(low)s–%(high)s %(unit)s).")
                % {
                    "low": "…" if code.min_value is None else f"{code.min_value:g}",
                    "high": "…" if code.max_value is None else f"{code.max_value:g}",
                    "unit": code.canonical_unit,
                },
            },
            {
                "type": "decimal",
                "name": f"{code.name}_lod",
                "label": _("Detection limit (LOD)"),
                "required": "yes",
                "relevant": f"{measured} and {below}",
                "constraint": ". > 0",
                "constraint_message": _("A positive detection limit."),
            },
            {"type": "end group", "name": "", "label": ""},
        ]
    choices: list[dict[str, Any]] = [
        {"list_name": "yesno", "name": YES, "label": _("Yes")},
        {"list_name": "yesno", "name": NO, "label": _("No")},
    ]
    choices += [{"list_name": "sex", "name": v, "label": str(lbl)} for v, lbl in Sex.choices]
    choices += [
        {"list_name": "smoking", "name": v, "label": str(lbl)} for v, lbl in Smoking.choices
    ]
    choices += [
        {"list_name": "area", "name": element_name(c), "label": name} for c, name in spec.areas
    ]
    for code in spec.numerics:
        choices += [
            {"list_name": f"{code.name}_units", "name": f"u{i}", "label": unit}
            for i, unit in enumerate(code.units)
        ]
    instance_name = "concat(${study_id}, ' ', ${visited_on})"
    if spec.form_id == RESIDENT_FORM_ID:
        # The registration alone: no "new resident?" question, no visit.
        end = next(i for i, row in enumerate(survey) if row["name"] == "visited_on")
        survey = [dict(row) for row in survey[:end] if row["name"] != "new_resident"]
        for row in survey:
            row.pop("relevant", None)
        choices = [c for c in choices if not c["list_name"].endswith("_units")]
        instance_name = "${study_id}"
    settings = [
        {
            "form_title": spec.title,
            "form_id": spec.form_id,
            "version": spec.version,
            "instance_name": instance_name,
        }
    ]
    return {"survey": survey, "choices": choices, "settings": settings}


def xform(spec: FormSpec) -> str:
    """The XForm (XML) of the spec, made by pyxform."""
    return convert(xlsform(spec), form_name="data").xform
