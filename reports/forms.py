from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics.models import AnalysisRun, RunStatus
from reports.models import LateData, ReviewDecision


class ReleaseForm(forms.Form):
    run = forms.ModelChoiceField(
        queryset=AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("-finished_at"),
        label="From the analysis run",
    )
    site_code = forms.ChoiceField(label="Site")
    year = forms.IntegerField(min_value=1990, max_value=2200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from surveys.models import ProductionSite

        self.fields["site_code"].choices = [  # type: ignore[attr-defined]
            (s.code, f"{s.name} ({s.code})") for s in ProductionSite.objects.order_by("code")
        ]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=ReviewDecision.choices, widget=forms.RadioSelect)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Comment"
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Public reason")


class CorrectionForm(forms.Form):
    run = forms.ModelChoiceField(
        queryset=AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("-finished_at"),
        label="From the analysis run",
    )
    erratum = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Erratum")
    late_data = forms.ChoiceField(
        choices=LateData.choices,
        initial=LateData.REFUSE,
        required=False,
        widget=forms.RadioSelect,
        label=_("Published numbers that late records change by fewer than T"),
        help_text=_(
            "Every choice is audited. To hold the correction instead, do not draft it: the "
            "refusal says how many more records each changed number needs."
        ),
    )


class PublicCommentForm(forms.Form):
    author_name = forms.CharField(max_length=80, required=False, label="Your name (optional)")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, label="Your comment"
    )
    # A honeypot: people do not see it, bots fill it in.
    website = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"})
    )
