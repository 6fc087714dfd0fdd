from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class QueuePing(models.Model):
    """A round trip through the task queue: requested by the web, executed by a worker.

    The admin's system page shows the latest ones, which tells whether workers are alive; the
    integration suite uses the same path to prove web → broker → worker → database works.
    """

    requested_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        state = f"executed by {self.worker_hostname}" if self.executed_at else "waiting"
        return f"Ping {self.pk} ({state})"


class UserProfile(models.Model):
    """What a staff member chose for themselves: for now, the language of the screens.

    Empty language: the `django_language` cookie, else the browser's Accept-Language, decide.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=settings.LANGUAGES
    )

    class Meta:
        verbose_name = _("user profile")
        verbose_name_plural = _("user profiles")

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"
