"""Notifications: an outbox of e-mails and signed webhook calls, one row per (event, recipient).

A service that notices an event (an outbreak alert opened, a release sent to community review, a
run or an import failed) writes the rows in the same transaction as the event; a Celery task per
row, queued on commit, sends it. The row's unique key makes a re-run, a retried task or a
redelivered message harmless: the row exists once, and it is claimed (compare-and-set) before
it is sent, so it is sent once. The row is also the status of that send.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    ALERT_OPENED = "alert_opened", _("A new outbreak alert")
    RELEASE_IN_REVIEW = "release_in_review", _("A release awaits community review")
    RUN_FAILED = "run_failed", _("An analysis run failed")
    IMPORT_FAILED = "import_failed", _("A data import failed")
    EXCEEDANCE_VALIDATED = "exceedance_validated", _("A validated reading above a guideline")


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Webhook")


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    """One message to one recipient (a user's e-mail address, or the site's webhook)."""

    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    event_key = models.CharField(max_length=120, help_text="The event, e.g. alert:12.")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    unique_key = models.CharField(
        max_length=200, unique=True, help_text="event|channel|recipient: sent at most once."
    )
    address = models.CharField(max_length=500, help_text="E-mail address or webhook URL.")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    payload: models.JSONField[Any, Any] = models.JSONField(
        default=dict, help_text="The webhook's JSON body (what is signed and sent)."
    )
    status = models.CharField(
        max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="After a failed send: not tried again before this."
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values), name="notification_status"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="notification_channel"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="notification_due")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.address} ({self.status})"


class NotificationPreference(models.Model):
    """What a user wants to be told by e-mail (everything, unless they opt out)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    alert_opened = models.BooleanField(
        default=True, verbose_name=_("New outbreak alerts (epidemiologists)")
    )
    release_in_review = models.BooleanField(
        default=True, verbose_name=_("Releases awaiting community review (community reviewers)")
    )
    job_failed = models.BooleanField(
        default=True, verbose_name=_("My analysis runs or data imports that failed")
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Notification preferences of {self.user_id}"

    def wants(self, kind: str) -> bool:
        if kind == NotificationKind.ALERT_OPENED:
            return self.alert_opened
        if kind == NotificationKind.RELEASE_IN_REVIEW:
            return self.release_in_review
        if kind == NotificationKind.EXCEEDANCE_VALIDATED:
            # Public-health news like an alert: the same choice holds it.
            return self.alert_opened
        return self.job_failed
