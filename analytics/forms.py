from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics import suite


class RunForm(forms.Form):
    """Parameters of the standard suite, with the defaults documented in docs/methods.md."""

    near_km = forms.FloatField(
        initial=suite.DEFAULT_PARAMETERS["near_km"], min_value=0.1, label=_("Near band: under (km)")
    )
    far_km = forms.FloatField(
        initial=suite.DEFAULT_PARAMETERS["far_km"], min_value=0.2, label=_("Far band: from (km)")
    )
    standard = forms.ChoiceField(
        choices=[("who_world_2000_2025", _("WHO World (2000–2025)")), ("us_2000", _("US 2000"))],
        initial=suite.DEFAULT_PARAMETERS["standard"],
        label=_("Standard population"),
    )
    pollutant = forms.ChoiceField(
        choices=[("pm10", "PM10"), ("pm2_5", "PM2.5"), ("so2", "SO₂")],
        initial=suite.DEFAULT_PARAMETERS["pollutant"],
        label=_("Modelled pollutant for exposure–response"),
    )
    data_end = forms.DateField(
        required=False,
        label=_("Data complete up to (optional)"),
        help_text=_(
            "Years, months and weeks ending after this date are incomplete: left out of trends "
            "and alert detection and marked where shown. Empty: the latest visit date recorded."
        ),
        # ISO value whatever the language: a date input refuses 01/03/2024
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        near, far = cleaned.get("near_km"), cleaned.get("far_km")
        if near is not None and far is not None and near >= far:
            self.add_error("far_km", _("The far band must start beyond the near band."))
        return cleaned


class AlertNoteForm(forms.Form):
    annotation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label=_("What was found or done"), max_length=2000
    )
