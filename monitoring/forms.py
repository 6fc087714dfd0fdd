"""Forms of community monitoring: shape only; the services decide what a value means."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from monitoring.models import ComplaintKind
from surveys.forms import FieldUIForm, decimal_input
from surveys.models import MeasurementStatus, Medium, Station, VocabularyCode


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


def _now() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


class StationChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} · {obj.get_medium_display()}"


class KeyedForm(FieldUIForm):
    """A form with a one-time submission key, made when the form is shown: the same form sent
    twice (a double tap, the phone's outbox resending) stores one entry."""

    submission_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["submission_key"].initial = uuid.uuid4


class SampleForm(KeyedForm):
    """A sample taken by a community monitor (or a health worker)."""

    code = forms.CharField(
        label=_("Sample ID"),
        max_length=40,
        help_text=_("As written on the container label."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    station = StationChoice(
        label=_("Station"),
        queryset=Station.objects.none(),
        required=False,
        empty_label=_("None: an ad-hoc place (give GPS below)"),
    )
    latitude = forms.FloatField(label=_("GPS latitude"), required=False, widget=decimal_input())
    longitude = forms.FloatField(label=_("GPS longitude"), required=False, widget=decimal_input())
    medium = forms.ChoiceField(
        label=_("What was sampled (ad-hoc place only)"),
        choices=[("", "—"), *Medium.choices],
        required=False,
    )
    collected_at = forms.DateTimeField(label=_("Collected at"), widget=DateTimeInput())
    container = forms.CharField(label=_("Container"), max_length=100, required=False)
    preservation = forms.CharField(
        label=_("Preservation"),
        max_length=100,
        required=False,
        help_text=_("e.g. cooled to 4 °C, acidified with nitric acid."),
    )
    lab = forms.CharField(label=_("Handed to lab"), max_length=200, required=False)
    handed_at = forms.DateTimeField(
        label=_("Handed over at"), required=False, widget=DateTimeInput()
    )

    def __init__(self, *args: Any, stations: QuerySet[Station], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["station"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = stations
        self.fields["collected_at"].initial = _now


class SensorReadingForm(KeyedForm):
    """A community sensor's reading at an assigned station."""

    station = StationChoice(label=_("Station"), queryset=Station.objects.none())
    measured_at = forms.DateTimeField(label=_("Read at"), widget=DateTimeInput())
    pollutant = forms.ChoiceField(label=_("Pollutant"))
    value = forms.CharField(label=_("Value"), max_length=32, widget=decimal_input())
    unit = forms.ChoiceField(label=_("Unit"))
    method = forms.CharField(
        label=_("Sensor"), max_length=120, required=False, help_text=_("Make and model.")
    )

    def __init__(
        self,
        *args: Any,
        stations: QuerySet[Station],
        pollutants: list[VocabularyCode],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["station"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = stations
        self.fields["measured_at"].initial = _now
        pollutant = self.fields["pollutant"]
        assert isinstance(pollutant, forms.ChoiceField)
        pollutant.choices = [
            (p.code, f"{p.display_label} ({p.get_medium_display()})") for p in pollutants
        ]
        units = sorted({u for p in pollutants for u in (p.accepted_units or {})})
        unit = self.fields["unit"]
        assert isinstance(unit, forms.ChoiceField)
        unit.choices = [(u, u) for u in units]


class LabResultForm(FieldUIForm):
    sample_id = forms.CharField(label=_("Sample ID"), max_length=40)
    pollutant = forms.ChoiceField(label=_("Pollutant"))
    value = forms.CharField(label=_("Value"), max_length=32, required=False, widget=decimal_input())
    unit = forms.CharField(label=_("Unit"), max_length=16)
    below_lod = forms.BooleanField(label=_("Below the detection limit"), required=False)
    lod = forms.CharField(
        label=_("Detection limit (LOD)"), max_length=32, required=False, widget=decimal_input()
    )
    method = forms.CharField(label=_("Method"), max_length=120, required=False)
    lab = forms.CharField(label=_("Lab"), max_length=200, required=False)

    def __init__(self, *args: Any, pollutants: list[VocabularyCode], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["pollutant"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(p.code, p.display_label) for p in pollutants]


class LabCsvForm(FieldUIForm):
    file = forms.FileField(
        label=_("Lab results (CSV)"),
        help_text=_("Columns: sample_id, pollutant, value, unit, below_lod, lod, method, lab."),
    )


class ValidationForm(FieldUIForm):
    reading = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            (MeasurementStatus.VALIDATED, MeasurementStatus.VALIDATED.label),
            (MeasurementStatus.INVALID, MeasurementStatus.INVALID.label),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)


class CorrectionForm(FieldUIForm):
    """A validator's correction of a reading's value: stored as a new version beside the old."""

    value = forms.CharField(
        label=_("Corrected value"), max_length=32, required=False, widget=decimal_input()
    )
    unit = forms.ChoiceField(label=_("Unit"))
    below_lod = forms.BooleanField(label=_("Below the detection limit"), required=False)
    lod = forms.CharField(
        label=_("Detection limit (LOD)"), max_length=32, required=False, widget=decimal_input()
    )
    reason = forms.CharField(
        label=_("Reason for the correction"),
        max_length=300,
        help_text=_("Published with the new version, e.g. transcription error, lab re-run."),
    )

    def __init__(self, *args: Any, pollutant: VocabularyCode, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unit = self.fields["unit"]
        assert isinstance(unit, forms.ChoiceField)
        canonical = pollutant.canonical_unit
        units = [canonical, *(u for u in (pollutant.accepted_units or {}) if u != canonical)]
        unit.choices = [(u, u) for u in units]
        unit.initial = pollutant.canonical_unit


class ComplaintForm(FieldUIForm):
    kind = forms.ChoiceField(label=_("What did you see?"), choices=ComplaintKind.choices)
    description = forms.CharField(
        label=_("Describe it"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
    place = forms.CharField(
        label=_("Where"),
        max_length=200,
        help_text=_("A place name, road or landmark; not your home address."),
    )
    occurred_at = forms.DateTimeField(label=_("When"), widget=DateTimeInput())
    latitude = forms.FloatField(
        label=_("GPS latitude (optional)"),
        required=False,
        help_text=_("The public sees a GPS point only rounded to about 1 km."),
    )
    longitude = forms.FloatField(label=_("GPS longitude (optional)"), required=False)
    # A honeypot: people leave it empty, bots fill it in.
    website = forms.CharField(required=False, label=_("Leave this empty"))


class ComplaintLinkForm(FieldUIForm):
    complaint = forms.IntegerField(widget=forms.HiddenInput)
    sample_id = forms.CharField(label=_("Sample ID"), max_length=40)
