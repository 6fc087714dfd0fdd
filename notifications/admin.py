from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from notifications import models


@admin.register(models.Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The status of every send (read-only: rows are written and sent by the services)."""

    list_display = ["created_at", "kind", "channel", "address", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind", "channel"]
    search_fields = ["address", "subject", "event_key"]
    readonly_fields = [f.name for f in models.Notification._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "alert_opened", "release_in_review", "job_failed", "updated_at"]
