"""Form versions served to phones, and submissions held for review.

A held submission keeps what a data manager needs to decide and what the audit needs, and no
more: the answers WITHOUT the study ID (its pseudonym instead, when the ID was well-formed) and
WITHOUT the home coordinates (only whether they were given), the messages by field, who sent it
and when, and the SHA-256 of the raw instance XML (proof of what arrived, without keeping it).
The raw XML itself is not stored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class FormVersion(models.Model):
    """The spec of every form version handed out: a submission is read with its own version."""

    form_id = models.CharField(max_length=64)
    version = models.CharField(max_length=32, unique=True)
    spec = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.form_id} {self.version}"


class HeldStatus(models.TextChoices):
    HELD = "held", _("Waiting for review")
    FIXED = "fixed", _("Fixed")
    REJECTED = "rejected", _("Rejected")


class HeldSubmission(models.Model):
    instance_id = models.CharField(max_length=64, unique=True)
    form_version = models.CharField(max_length=32)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    pseudonym = models.CharField(max_length=64, blank=True)
    answers = models.JSONField(help_text="Without the study ID and the home coordinates.")
    messages = models.JSONField(help_text="[{field, label, message}]")
    xml_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=HeldStatus.choices, default=HeldStatus.HELD)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=HeldStatus.values), name="held_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} ({self.status})"
