from __future__ import annotations

from django import forms

from notifications.models import NotificationPreference


class PreferenceForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = NotificationPreference
        fields = ["alert_opened", "release_in_review", "job_failed"]
