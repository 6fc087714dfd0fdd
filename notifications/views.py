"""The person's own notification settings (every signed-in user, whatever the role)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from notifications import selectors, services
from notifications.forms import PreferenceForm


@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    preference = selectors.preference_for(request.user)
    form = PreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        services.preference_update(user=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        messages.success(request, _("Your notification settings are saved."))
        return redirect("notification_settings")
    return render(
        request,
        "notifications/settings.html",
        {
            "form": form,
            "email": getattr(request.user, "email", ""),
            "recent": selectors.recent_for(request.user),
        },
    )
