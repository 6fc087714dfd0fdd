"""Community monitoring: samples and their custody, readings and their status, guideline values,
and complaints from the public.

Why an app of its own rather than more columns on surveys.Measurement: a measurement there is
one value per station, day and pollutant (a unique constraint the analyses rely on), so it can
hold neither a correction as a new version beside the old one, nor a sample taken at a GPS
point away from any station. Readings here keep every version (a correction points to what it
corrects), every status change with its reason, and the custody of the sample they came from.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from surveys.models import MeasurementStatus, Medium, Station, VocabularyCode, audited_history


class MonitorAssignment(models.Model):
    """A station a community monitor records for."""

    monitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="monitor_assignments"
    )
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["monitor", "station"], name="monitor_assignment_once")
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id} → {self.station_id}"


class ComplaintKind(models.TextChoices):
    DUST_PLUME = "dust_plume", _("Dust plume")
    DEAD_FISH = "dead_fish", _("Dead fish")
    WATER_COLOUR = "water_colour", _("Odd water colour")
    SMELL = "smell", _("Unusual smell")
    OTHER = "other", _("Something else")


class ComplaintStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for moderation")
    APPROVED = "approved", _("Shown")
    REJECTED = "rejected", _("Not shown")


class Complaint(models.Model):
    """An event reported by the public; shown once a moderator has read it."""

    kind = models.CharField(max_length=16, choices=ComplaintKind.choices)
    description = models.TextField(max_length=2000)
    place = models.CharField(max_length=200)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=ComplaintStatus.choices, default=ComplaintStatus.PENDING
    )
    # A keyed hash of the client address and day, for rate limiting; never the address.
    client_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    history = audited_history()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ComplaintStatus.values), name="complaint_status"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ComplaintKind.values), name="complaint_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"Complaint {self.pk} ({self.kind}, {self.status})"


class Sample(models.Model):
    """A physical sample: who took it where and when, how it was kept, which lab got it."""

    code = models.CharField(max_length=40, unique=True, verbose_name=_("Sample ID"))
    medium = models.CharField(max_length=8, choices=Medium.choices)
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The collector's role when the sample was taken: what the public sees (never a name).
    collector_role = models.CharField(max_length=24)
    community_collected = models.BooleanField(default=False)
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="samples"
    )
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    collected_at = models.DateTimeField()
    container = models.CharField(max_length=100, blank=True)
    preservation = models.CharField(max_length=100, blank=True)
    lab = models.CharField(max_length=200, blank=True)
    handed_at = models.DateTimeField(null=True, blank=True)
    complaint = models.ForeignKey(
        Complaint, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The one-time key of the form that stored it (a phone's outbox sends it with each entry):
    # the same entry sent again — a double tap, a resend after a lost answer — stores nothing
    # more. The fingerprint tells a repeat (same content) from a key reused for other content.
    submission_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    submission_fingerprint = models.CharField(max_length=64, blank=True, default="", editable=False)
    history = audited_history()

    class Meta:
        ordering = ["-collected_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(station__isnull=False)
                | (Q(latitude__isnull=False) & Q(longitude__isnull=False)),
                name="sample_has_a_place",
            ),
            models.CheckConstraint(condition=Q(medium__in=Medium.values), name="sample_medium"),
        ]

    def __str__(self) -> str:
        return self.code


class CustodyStep(models.TextChoices):
    COLLECTED = "collected", _("Collected")
    HANDED_TO_LAB = "handed_to_lab", _("Handed to the lab")
    RESULT_ATTACHED = "result_attached", _("Lab result attached")
    VALIDATED = "validated", _("Validated")
    INVALIDATED = "invalidated", _("Marked invalid")
    CORRECTED = "corrected", _("Corrected (new version)")
    LINKED_TO_COMPLAINT = "linked_to_complaint", _("Linked to a complaint")


class CustodyEvent(models.Model):
    """One step in the life of a sample. Append-only: the chain of custody."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="custody")
    step = models.CharField(max_length=24, choices=CustodyStep.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_role = models.CharField(max_length=24)
    note = models.CharField(max_length=300, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.sample_id} {self.step} at {self.at}"


class Reading(models.Model):
    """One value of one pollutant: a lab result on a sample, or a sensor reading.

    Never overwritten: a correction is a new Reading whose `corrects` points to this one; a
    status change keeps its reason (and the history keeps every earlier status)."""

    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="readings"
    )
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="readings"
    )
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    measured_at = models.DateTimeField()
    pollutant = models.ForeignKey(VocabularyCode, on_delete=models.PROTECT, related_name="+")
    value = models.FloatField(null=True, blank=True, help_text="Canonical unit.")
    entered_unit = models.CharField(max_length=16)
    below_lod = models.BooleanField(default=False)
    lod = models.FloatField(null=True, blank=True, help_text="Canonical unit.")
    method = models.CharField(max_length=120, blank=True)
    lab = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    collector_role = models.CharField(max_length=24)
    community_collected = models.BooleanField(default=False)
    status = models.CharField(
        max_length=12, choices=MeasurementStatus.choices, default=MeasurementStatus.PRELIMINARY
    )
    status_reason = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The one-time key of the form that stored it (a phone's outbox sends it with each entry):
    # the same entry sent again — a double tap, a resend after a lost answer — stores nothing
    # more. The fingerprint tells a repeat (same content) from a key reused for other content.
    submission_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    submission_fingerprint = models.CharField(max_length=64, blank=True, default="", editable=False)
    history = audited_history()

    class Meta:
        ordering = ["-measured_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=MeasurementStatus.values), name="reading_status"
            ),
            models.CheckConstraint(
                condition=Q(station__isnull=False)
                | (Q(latitude__isnull=False) & Q(longitude__isnull=False)),
                name="reading_has_a_place",
            ),
            models.CheckConstraint(
                condition=Q(below_lod=False) | (Q(lod__isnull=False) & Q(value__isnull=True)),
                name="reading_below_lod_has_lod_only",
            ),
            models.CheckConstraint(
                condition=Q(below_lod=True) | Q(value__isnull=False),
                name="reading_has_a_value",
            ),
        ]

    def __str__(self) -> str:
        return f"Reading {self.pk} ({self.pollutant_id})"


class Guideline(models.Model):
    """A guideline or limit value a reading is compared with: configurable data, with source."""

    pollutant = models.ForeignKey(VocabularyCode, on_delete=models.PROTECT, related_name="+")
    value = models.FloatField(help_text="In the pollutant's canonical unit.")
    unit = models.CharField(max_length=16)
    averaging = models.CharField(max_length=60, help_text="e.g. 24-hour mean, single sample.")
    source = models.CharField(max_length=200)
    authority = models.CharField(max_length=60, help_text="e.g. WHO, national.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["pollutant", "value"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="guideline_value_positive")
        ]

    def __str__(self) -> str:
        return f"{self.pollutant_id} ≤ {self.value:g} {self.unit} ({self.source})"


class PublicSnapshot(models.Model):
    """What the public sees of community monitoring, frozen: the station pages (rendered), the
    approved complaints and the open-data zip. Public views read only this (never the record
    tables); a worker writes a new one after each monitoring write (see SnapshotDemand)."""

    created_at = models.DateTimeField(auto_now_add=True)
    stations: models.JSONField[Any, Any] = models.JSONField(default=list)
    complaints: models.JSONField[Any, Any] = models.JSONField(default=list)
    archive = models.BinaryField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Public monitoring snapshot {self.created_at:%Y-%m-%d %H:%M}"


class SnapshotDemand(models.Model):
    """A monitoring write's request for a new public snapshot, written in the write's own
    transaction. The write enqueues the refresh once it commits; if the job queue is down then,
    this row is what remembers the refresh is owed, and the sweep (monitoring.tasks) serves it.
    A refresh deletes every demand it covered."""

    requested_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Snapshot demand {self.pk} ({self.requested_at:%Y-%m-%d %H:%M:%S})"
