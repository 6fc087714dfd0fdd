from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from analytics.models import AnalysisRun, RunStatus
from reports.models import LateData, ReviewDecision


class RunChoiceField(forms.ModelChoiceField):
    """A run as people know it: when it finished, not its kind code."""

    def label_from_instance(self, obj: Any) -> str:
        finished = (
            date_format(localtime(obj.finished_at), "DATETIME_FORMAT") if obj.finished_at else ""
        )
        return _("Analysis finished %(when)s (run %(number)s)") % {
            "when": finished,
            "number": obj.pk,
        }


class RequestKeyField(forms.CharField):
    """A hidden one-time key rendered into a form, so that sending it twice acts once."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=64, **kwargs)


def _new_request_key() -> str:
    return uuid.uuid4().hex


class ReleaseForm(forms.Form):
    request_key = RequestKeyField(initial=_new_request_key)
    run = RunChoiceField(
        queryset=AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("-finished_at"),
        label=_("From the analysis run"),
    )
    site_code = forms.ChoiceField(label=_("Site"))
    year = forms.IntegerField(
        min_value=1990,
        max_value=2200,
        label=_("Year"),
        help_text=_("The latest year that has ended in the run's data is chosen for you."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from reports.selectors import default_report_year
        from surveys.models import ProductionSite

        sites = list(ProductionSite.objects.order_by("code"))
        self.fields["site_code"].choices = [  # type: ignore[attr-defined]
            (s.code, s.name) for s in sites
        ]
        if not self.is_bound:
            run, year = default_report_year()
            self.initial.setdefault("run", run)
            self.initial.setdefault("year", year)
            if len(sites) == 1:
                self.initial.setdefault("site_code", sites[0].code)


class ReviewForm(forms.Form):
    """A reviewer's decision: the page shows one button per choice, nothing pre-selected."""

    decision = forms.ChoiceField(
        choices=[
            (ReviewDecision.APPROVE, ReviewDecision.APPROVE.label),
            (ReviewDecision.REQUEST_CHANGES, ReviewDecision.REQUEST_CHANGES.label),
        ],
        error_messages={
            "required": _("Choose Approve or Ask for changes."),
            "invalid_choice": _("Choose Approve or Ask for changes."),
        },
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label=_("Note (required when you ask for changes)"),
    )


class CommentForm(forms.Form):
    """A comment on a release in review: a separate action, it decides nothing."""

    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Comment"),
        error_messages={"required": _("Write the comment.")},
    )


class RetractForm(forms.Form):
    """The confirmation step of a retraction: the public reason and an explicit confirmation."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Public reason (shown on the public page of the release)"),
        error_messages={"required": _("Give the public reason for retracting.")},
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm: retract this release. Its public page will say it is retracted, "
            "with this reason."
        ),
        error_messages={
            "required": _("Confirm that the release is to be retracted with this public reason.")
        },
    )


class CorrectionForm(forms.Form):
    request_key = RequestKeyField(initial=_new_request_key)
    run = RunChoiceField(
        queryset=AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("-finished_at"),
        label=_("From the analysis run"),
    )
    erratum = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label=_("Erratum"))
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
    author_name = forms.CharField(max_length=80, required=False, label=_("Your name (optional)"))
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, label=_("Your comment")
    )
    # A honeypot: people do not see it, bots fill it in.
    website = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"})
    )
