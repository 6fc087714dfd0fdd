"""Forms of the field UI. They check shape only; the services decide what a value means.

Field names match the names services use in FieldError, so a service's message lands next to
the input it is about: "study_id", "birth_year", and for observations "<code>.value",
"<code>.unit", "<code>.below_lod", "<code>.lod" (e.g. "lab.blood_lead.value").
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from healthwatch.i18n import localized_decimal
from healthwatch.text import validate_identifier
from surveys.audit import RECORD_TYPES, AuditFilter
from surveys.models import (
    REASON_MAX_LENGTH,
    Area,
    CodeCategory,
    CodeKind,
    MeasurementStatus,
    Medium,
    QualityFlagKind,
    QualityFlagStatus,
    Sex,
    Smoking,
    Station,
    Visit,
    VocabularyCode,
)
from surveys.selectors import QueueFilter
from surveys.services import ObservationInput
from surveys.validation import FieldError

IMPORT_KINDS = (
    "sites",
    "areas",
    "population",
    "stations",
    "measurements",
    "residents",
    "observations",
)

IMPORT_KIND_LABELS = {
    "sites": _("Production sites"),
    "areas": _("Areas"),
    "population": _("Population (census)"),
    "stations": _("Monitoring stations"),
    "measurements": _("Environmental measurements"),
    "residents": _("Residents"),
    "observations": _("Observations of visits"),
}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def normalize_decimal(text: str) -> str:
    """A number typed with the active language's decimal separator, with a point instead
    (a French health worker types "23,4": the services read "23.4"). A point is accepted in
    every language; anything else is left for the services to refuse with their message."""
    separator = str(formats.get_format("DECIMAL_SEPARATOR"))
    text = text.strip()
    if separator != "." and separator in text and "." not in text:
        text = text.replace(separator, ".", 1) if text.count(separator) == 1 else text
    return text


class DecimalTextField(forms.CharField):
    """A number as text (the services parse it), in the locale's notation: "23,4" in French."""

    def to_python(self, value: Any) -> str:
        return normalize_decimal(super().to_python(value) or "")


def decimal_input(**attrs: Any) -> forms.TextInput:
    """A text input that brings up the numeric keypad on phones (type=number hides typos)."""
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", **attrs})


class FieldUIForm(forms.Form):
    """Marks invalid inputs with aria-invalid and links them to their message."""

    def add_service_errors(self, errors: list[FieldError]) -> None:
        for error in errors:
            shown = error.field in self.fields and not self.fields[error.field].widget.is_hidden
            field = error.field if shown else None
            self.add_error(field, error.message)

    def full_clean(self) -> None:
        super().full_clean()
        self.mark_invalid()

    def mark_invalid(self) -> None:
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["aria-invalid"] = "true"
                field_id = self.auto_id_for(name)
                described = f"{field_id}-error"
                if self.fields[name].help_text:
                    described += f" {field_id}_helptext"
                widget.attrs["aria-describedby"] = described

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self.mark_invalid()

    def auto_id_for(self, name: str) -> str:
        return self[name].auto_id or name


class FindResidentForm(FieldUIForm):
    study_id = forms.CharField(
        label=_("Study ID"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
        help_text=_("As written on the participant's study card."),
    )


class RegisterResidentForm(FieldUIForm):
    study_id = FindResidentForm.base_fields["study_id"]
    area = forms.ModelChoiceField(queryset=Area.objects.none(), label=_("Area"))
    birth_year = forms.IntegerField(
        label=_("Birth year"),
        min_value=1900,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    sex = forms.ChoiceField(choices=Sex.choices, label=_("Sex"), widget=forms.RadioSelect)
    enrolled_on = forms.DateField(label=_("Enrolment date"), widget=DateInput())
    latitude = forms.FloatField(
        localize=True,
        label=_("Home latitude (optional)"),
        required=False,
        widget=decimal_input(placeholder="25.0123"),
    )
    longitude = forms.FloatField(
        localize=True,
        label=_("Home longitude (optional)"),
        required=False,
        widget=decimal_input(placeholder="110.0456"),
        help_text=_(
            "Used once to compute the distance to the nearest production site and a ~500 m "
            "grid cell, then discarded: the exact position is never stored."
        ),
    )
    works_at_site = forms.BooleanField(label=_("Works at a production site"), required=False)
    smoking = forms.ChoiceField(
        choices=Smoking.choices, label=_("Smoking"), initial=Smoking.UNKNOWN
    )

    def __init__(self, *args: Any, areas: QuerySet[Area], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["area"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = areas
        if len(areas) == 1:
            field.initial = areas[0]
            field.empty_label = None
        self.fields["enrolled_on"].initial = dt.date.today()


@dataclass(frozen=True)
class NumericRow:
    """The bound inputs of one numeric code in the visit form."""

    code: VocabularyCode
    value: forms.BoundField
    unit: forms.BoundField
    below_lod: forms.BoundField
    lod: forms.BoundField

    @property
    def errors(self) -> list[Any]:
        return [e for f in (self.value, self.unit, self.below_lod, self.lod) for e in f.errors]


class VisitForm(FieldUIForm):
    """A visit: the date, a yes/no checklist of symptoms and new diagnoses, numeric rows."""

    visited_on = forms.DateField(label=_("Visit date"), widget=DateInput())
    checklist_asked = forms.BooleanField(
        label=_("I asked about every symptom and diagnosis below"),
        required=False,
        initial=True,
        help_text=_("Ticked items are recorded as yes, the others as no. Untick if not asked."),
    )

    # One-time key generated when the form is shown: the same form sent twice stores one visit.
    submission_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, codes: list[VocabularyCode], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["visited_on"].initial = dt.date.today()
        if "submission_key" in self.fields:
            self.fields["submission_key"].initial = uuid.uuid4
        self.boolean_codes = sorted(
            (c for c in codes if c.kind == CodeKind.BOOLEAN),
            key=lambda c: (c.category != CodeCategory.SYMPTOM, c.display_label),
        )
        self.numeric_codes = [c for c in codes if c.kind == CodeKind.NUMERIC]
        for code in self.boolean_codes:
            self.fields[f"{code.code}.value"] = forms.BooleanField(
                label=code.display_label, required=False
            )
        for code in self.numeric_codes:
            units = list(code.accepted_units or {code.canonical_unit: 1})
            self.fields[f"{code.code}.value"] = DecimalTextField(
                label=_("%(code)s value") % {"code": code.display_label},
                required=False,
                max_length=32,
                widget=decimal_input(),
            )
            self.fields[f"{code.code}.unit"] = forms.ChoiceField(
                label=_("%(code)s unit") % {"code": code.display_label},
                choices=[(u, u) for u in units],
                initial=code.canonical_unit,
                required=False,  # blank means the canonical unit
            )
            self.fields[f"{code.code}.below_lod"] = forms.BooleanField(
                label=_("Below detection limit"), required=False
            )
            self.fields[f"{code.code}.lod"] = DecimalTextField(
                label=_("Detection limit (LOD)"),
                required=False,
                max_length=32,
                widget=decimal_input(),
            )

    @classmethod
    def initial_for(cls, visit: Visit) -> dict[str, Any]:
        """Form values showing a stored visit, in the units it was entered in."""
        initial: dict[str, Any] = {"visited_on": visit.visited_on}
        observations = list(visit.observations.select_related("code"))
        initial["checklist_asked"] = any(o.value_boolean is not None for o in observations)
        for o in observations:
            code = o.code
            if code.kind == CodeKind.BOOLEAN:
                initial[f"{code.code}.value"] = bool(o.value_boolean)
                continue
            factor = float((code.accepted_units or {}).get(o.entered_unit, 1) or 1)
            initial[f"{code.code}.unit"] = o.entered_unit or code.canonical_unit
            if o.value is not None:
                initial[f"{code.code}.value"] = localized_decimal(o.value / factor)
            initial[f"{code.code}.below_lod"] = o.below_lod
            if o.lod is not None:
                initial[f"{code.code}.lod"] = localized_decimal(o.lod / factor)
        return initial

    @property
    def checklist(self) -> list[forms.BoundField]:
        return [self[f"{c.code}.value"] for c in self.boolean_codes]

    @property
    def numeric_rows(self) -> list[NumericRow]:
        return [
            NumericRow(
                code=c,
                value=self[f"{c.code}.value"],
                unit=self[f"{c.code}.unit"],
                below_lod=self[f"{c.code}.below_lod"],
                lod=self[f"{c.code}.lod"],
            )
            for c in self.numeric_codes
        ]

    def observations(self) -> list[ObservationInput]:
        """What was entered, as the service takes it. Blank numeric rows are not recorded."""
        data = self.cleaned_data
        entries: list[ObservationInput] = []
        if data.get("checklist_asked"):
            for code in self.boolean_codes:
                checked = bool(data.get(f"{code.code}.value"))
                entries.append(ObservationInput(code.code, "yes" if checked else "no"))
        for code in self.numeric_codes:
            value = (data.get(f"{code.code}.value") or "").strip()
            below = bool(data.get(f"{code.code}.below_lod"))
            lod = (data.get(f"{code.code}.lod") or "").strip()
            if value or below or lod:
                entries.append(
                    ObservationInput(
                        code.code,
                        value,
                        unit=data.get(f"{code.code}.unit") or code.canonical_unit,
                        below_lod=below,
                        lod=lod,
                    )
                )
        return entries


class VisitEditForm(VisitForm):
    submission_key = None  # type: ignore[assignment]  # an edit replaces, so a repeat is harmless
    reason = forms.CharField(
        label=_("Reason for the change"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=REASON_MAX_LENGTH,
        help_text=_("Kept in the audit trail, e.g. 'lab result corrected by the laboratory'."),
    )


class StationForm(FieldUIForm):
    code = forms.CharField(label=_("Station code"), max_length=32, validators=[validate_identifier])
    name = forms.CharField(label=_("Name"), max_length=200)
    medium = forms.ChoiceField(label=_("Medium"), choices=Medium.choices)
    latitude = forms.FloatField(label=_("Latitude"), localize=True, widget=decimal_input())
    longitude = forms.FloatField(label=_("Longitude"), localize=True, widget=decimal_input())


class MeasurementForm(FieldUIForm):
    """A measurement at one station; pollutants and units are those of the station's medium."""

    sampled_on = forms.DateField(label=_("Sampling date"), widget=DateInput())
    pollutant = forms.ChoiceField(label=_("Pollutant"))
    value = DecimalTextField(
        label=_("Value"), required=False, max_length=32, widget=decimal_input()
    )
    unit = forms.ChoiceField(label=_("Unit"), required=False)
    below_lod = forms.BooleanField(label=_("Below detection limit"), required=False)
    lod = DecimalTextField(
        label=_("Detection limit (LOD)"), required=False, max_length=32, widget=decimal_input()
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=MeasurementStatus.choices,
        initial=MeasurementStatus.PRELIMINARY,
    )

    def __init__(self, *args: Any, station: Station, pollutants: list[VocabularyCode], **kw: Any):
        super().__init__(*args, **kw)
        self.fields["sampled_on"].initial = dt.date.today()
        self.pollutants = {p.code: p for p in pollutants if p.medium == station.medium}
        pollutant = self.fields["pollutant"]
        assert isinstance(pollutant, forms.ChoiceField)
        pollutant.choices = [
            (p.code, f"{p.display_label} ({p.canonical_unit})")  # a label and a unit: data
            for p in self.pollutants.values()
        ]
        units: list[str] = []
        for p in self.pollutants.values():
            units.extend(u for u in p.accepted_units or {} if u not in units)
        unit = self.fields["unit"]
        assert isinstance(unit, forms.ChoiceField)
        unit.choices = [("", _("the pollutant's standard unit")), *((u, u) for u in units)]

    def unit_for_service(self) -> str:
        """A blank unit means the pollutant's canonical unit."""
        unit: str = self.cleaned_data.get("unit") or ""
        code = self.pollutants.get(self.cleaned_data.get("pollutant", ""))
        return unit or (code.canonical_unit if code else "")


class MeasurementStatusForm(FieldUIForm):
    status = forms.ChoiceField(
        label=_("New status"),
        choices=[
            (MeasurementStatus.VALIDATED, pgettext_lazy("measurement status", "Validated")),
            (MeasurementStatus.INVALID, _("Invalid (the value is kept, flagged, excluded)")),
            (MeasurementStatus.PRELIMINARY, _("Back to preliminary")),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class ImportForm(FieldUIForm):
    kind = forms.ChoiceField(
        label=_("What the file contains"),
        choices=[(k, IMPORT_KIND_LABELS[k]) for k in IMPORT_KINDS],
    )
    file = forms.FileField(label=_("CSV file (UTF-8)"))
    dry_run = forms.BooleanField(
        label=_("Check only (dry run): report problems without writing anything"),
        required=False,
        initial=True,
    )


NUMERIC_VISIT_CATEGORIES = (CodeCategory.BIOMARKER, CodeCategory.MEASURE)
VISIT_CATEGORIES = (CodeCategory.SYMPTOM, CodeCategory.DIAGNOSIS, *NUMERIC_VISIT_CATEGORIES)


# --- The data-quality queue ------------------------------------------------------------------

QUEUE_RULE_LABELS = {
    QualityFlagKind.OUTLIER: _("Unusual value (beyond 3.29 SD)"),
    QualityFlagKind.ABOVE_REFERENCE: _("Above 10× the reference level"),
    QualityFlagKind.SAME_DAY_VISIT: _("Second visit on the same day"),
}
QUEUE_SORT_LABELS = {
    "oldest": _("Oldest flag first"),
    "newest": _("Newest flag first"),
    "visit_date": _("Latest visit first"),
    "code": _("Code"),
    "area": _("Area"),
    "worker": _("Health worker"),
}


class QueueFilterForm(forms.Form):
    """The queue's filters, read from the query string (a GET form: links keep them)."""

    rule = forms.ChoiceField(label=_("Rule"), required=False)
    code = forms.ChoiceField(label=_("Code"), required=False)
    area = forms.ChoiceField(label=_("Area"), required=False)
    worker = forms.ChoiceField(label=_("Health worker"), required=False)
    visited_from = forms.DateField(label=_("Visits from"), required=False, widget=DateInput())
    visited_to = forms.DateField(label=_("Visits to"), required=False, widget=DateInput())
    sort = forms.ChoiceField(
        label=_("Sort"), required=False, choices=list(QUEUE_SORT_LABELS.items())
    )

    def __init__(self, *args: Any, choices: dict[str, list[tuple[str, str]]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        anything = [("", _("Any"))]
        self.fields["rule"].choices = anything + list(QUEUE_RULE_LABELS.items())  # type: ignore[attr-defined]
        for name in ("code", "area", "worker"):
            self.fields[name].choices = anything + choices[name]  # type: ignore[attr-defined]

    def queue_filter(self) -> QueueFilter:
        """The filter to apply: what is valid of the query string (a stale value is dropped)."""
        self.is_valid()
        data = self.cleaned_data
        return QueueFilter(
            rule=data.get("rule") or "",
            code=data.get("code") or "",
            area=data.get("area") or "",
            worker=data.get("worker") or "",
            visited_from=data.get("visited_from"),
            visited_to=data.get("visited_to"),
            sort=data.get("sort") or "oldest",
        )


class BulkResolveForm(FieldUIForm):
    """Many flags, one outcome, one note."""

    status = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (QualityFlagStatus.CONFIRMED, _("Value is right")),
            (QualityFlagStatus.CORRECTED, _("Value was corrected")),
        ],
    )
    note = forms.CharField(
        label=_("Note for the selected flags"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    query = forms.CharField(required=False, widget=forms.HiddenInput)


# --- The audit trail -------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    """The audit trail's filters, from the query string."""

    record_type = forms.ChoiceField(label=_("Record"), required=False)
    user = forms.ChoiceField(label=_("Person"), required=False)
    date_from = forms.DateField(label=_("Changed from"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("Changed to"), required=False, widget=DateInput())

    def __init__(self, *args: Any, people: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        anything = [("", _("Any"))]
        self.fields["record_type"].choices = anything + list(RECORD_TYPES.items())  # type: ignore[attr-defined]
        self.fields["user"].choices = anything + [(p, p) for p in people]  # type: ignore[attr-defined]

    def audit_filter(self) -> AuditFilter:
        """What is valid of the query string (an unknown value is dropped)."""
        self.is_valid()
        data = self.cleaned_data
        return AuditFilter(
            record_type=data.get("record_type") or "",
            user=data.get("user") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
