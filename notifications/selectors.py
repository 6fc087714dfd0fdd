from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from notifications.models import Notification, NotificationPreference


def preference_for(user: Any) -> NotificationPreference:
    """The user's preferences (defaults, unsaved, when they never changed them)."""
    found = NotificationPreference.objects.filter(user=user).first()
    return found or NotificationPreference(user=user)


def recent_for(user: Any, limit: int = 20) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")[:limit]
