"""Releases of the public report, their review, the publication ledger and the public snapshots.

The public side reads only what publication froze here (Release.content/rendered_html,
ReleaseFile, OpenDataSnapshot): never a record-level table. A published release is immutable —
there is no edit path; a correction is a new version that supersedes it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReleaseStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    EPI_APPROVED = "epi_approved", _("Approved by an epidemiologist, in community review")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested by the community")
    PUBLISHED = "published", _("Published")
    RETRACTED = "retracted", _("Retracted")


class Release(models.Model):
    template = models.CharField(max_length=48, default="annual_community_health")
    site_code = models.CharField(max_length=32)
    site_name = models.CharField(max_length=200)
    year = models.PositiveSmallIntegerField()
    version = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=20, choices=ReleaseStatus.choices, default=ReleaseStatus.DRAFT
    )
    result_set = models.ForeignKey(
        "analytics.ResultSet", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    input_fingerprint = models.CharField(max_length=64, blank=True)
    threshold = models.PositiveSmallIntegerField(default=10)
    quorum = models.PositiveSmallIntegerField(default=1)
    content: models.JSONField[Any, Any] = models.JSONField(
        default=dict, help_text="The post-suppression tables, findings and notes (public)."
    )
    internal_audit: models.JSONField[Any, Any] = models.JSONField(
        default=dict, help_text="Suppression reasons and feasible ranges (staff only)."
    )
    content_hash = models.CharField(max_length=64, blank=True)
    rendered_html = models.TextField(blank=True)
    # The full tables' pages, frozen at publication with the release page: {table name: HTML}.
    rendered_tables: models.JSONField[Any, Any] = models.JSONField(default=dict, blank=True)
    # The same pages in each other shipped language, frozen at publication too:
    # {language: {"html": page body, "tables": {table name: HTML}}}; English is above.
    rendered_i18n: models.JSONField[Any, Any] = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    retracted_at = models.DateTimeField(null=True, blank=True)
    retraction_reason = models.TextField(blank=True)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    erratum = models.TextField(blank=True)
    superseded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-year", "site_code", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["site_code", "year", "version"], name="release_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReleaseStatus.values), name="release_status"
            ),
            models.CheckConstraint(
                condition=~Q(status=ReleaseStatus.PUBLISHED) | ~Q(content_hash=""),
                name="published_release_has_hash",
            ),
            models.CheckConstraint(condition=Q(threshold__gte=5), name="release_threshold_min"),
            models.CheckConstraint(condition=Q(quorum__gte=1), name="release_quorum_min"),
        ]

    def __str__(self) -> str:
        return f"{self.site_name} {self.year} v{self.version} ({self.get_status_display()})"

    @property
    def is_public(self) -> bool:
        return self.status in (ReleaseStatus.PUBLISHED, ReleaseStatus.RETRACTED)


class LateData(models.TextChoices):
    """What a draft does with published numbers that late records moved by 1..T−1
    (docs/privacy.md, "Late data"). Holding the correction is not building it."""

    REFUSE = "refuse", _("Refuse: publish only if no published number changes by fewer than T")
    SUPPRESS = "suppress", _("Publish with the changed numbers hidden")
    COARSER = (
        "coarser",
        _(
            "Publish at a coarser grouping (distance bands, no single areas; numbers that still "
            "change by fewer than T are hidden)"
        ),
    )


class BuildStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Building")
    SUCCEEDED = "succeeded", _("Built")
    FAILED = "failed", _("Not built")


class ReleaseBuild(models.Model):
    """One request to build a draft report (or a correction), run as a job with progress.

    Building extracts the data, builds the tables, protects them and audits them against every
    earlier release: seconds on the demo, longer on a large programme, so it never runs inside a
    web request. The draft is created in the same transaction that marks the build succeeded, so
    a redelivered job cannot create two drafts; at most one build per site and year is active.
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey("analytics.AnalysisRun", on_delete=models.PROTECT, related_name="+")
    site_code = models.CharField(max_length=32)
    year = models.PositiveSmallIntegerField()
    late_data = models.CharField(max_length=10, choices=LateData.choices, default=LateData.REFUSE)
    erratum = models.TextField(blank=True)
    supersedes = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=BuildStatus.choices, default=BuildStatus.QUEUED
    )
    stage = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    # What the epidemiologist reads when the build is refused: plain messages, the published
    # numbers a correction would move by fewer than T (late data), and the audit's equations.
    problems: models.JSONField[Any, Any] = models.JSONField(default=list, blank=True)
    held: models.JSONField[Any, Any] = models.JSONField(default=list, blank=True)
    details = models.TextField(blank=True)
    release = models.OneToOneField(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="build"
    )
    # The one-time key of the form that asked (a random token rendered into it): the same form
    # sent again — a resubmission after the build finished, a retry after a lost answer — gets
    # this build back instead of building another draft.
    request_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site_code", "year"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_build_per_site_year",
            ),
            models.CheckConstraint(condition=Q(status__in=BuildStatus.values), name="build_status"),
        ]

    def __str__(self) -> str:
        return f"Build of {self.site_code} {self.year} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (BuildStatus.QUEUED, BuildStatus.RUNNING)


class ReviewDecision(models.TextChoices):
    """A reviewer's explicit choice. Approve and Ask for changes are decisions (the quorum
    counts each reviewer's latest one); a comment is a separate action and decides nothing."""

    APPROVE = "approve", _("Approve")
    REQUEST_CHANGES = "request_changes", _("Ask for changes")
    COMMENT = "comment", _("Comment (no decision)")


class ReviewComment(models.Model):
    """A community reviewer's (or epidemiologist's) comment and decision on a release."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="reviews")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author} {self.decision} on {self.release_id}"


class AppendOnlyError(RuntimeError):
    pass


class LedgerEntry(models.Model):
    """Every published cell of every release: its atoms and value (None = suppressed).

    Append-only: the audit of every later release is held against these equations.
    """

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="ledger")
    key = models.CharField(max_length=200)
    atoms: models.JSONField[Any, Any] = models.JSONField()
    value = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "key"], name="ledger_entry_unique")
        ]

    def __str__(self) -> str:
        return f"{self.release_id}:{self.key}={self.value}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("ledger entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("ledger entries are never deleted")


class ReleaseFile(models.Model):
    """A download frozen at publication (table CSV/JSON, the release zip)."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="files")
    name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=80)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["release", "name"], name="release_file_unique")
        ]

    def __str__(self) -> str:
        return self.name


class PublicationLock(models.Model):
    """One row, locked while publishing, so two publications never audit the same ledger."""

    last_published_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "publication lock"


class CommentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for moderation")
    APPROVED = "approved", _("Shown")
    REJECTED = "rejected", _("Not shown")


class PublicComment(models.Model):
    """A comment from the public on a release, shown after moderation."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="comments")
    author_name = models.CharField(max_length=80, blank=True)
    body = models.TextField(max_length=4000)
    status = models.CharField(
        max_length=10, choices=CommentStatus.choices, default=CommentStatus.PENDING
    )
    # A keyed hash of the client address and day, for rate limiting; never the address.
    client_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.release_id} ({self.status})"


class OpenDataSnapshot(models.Model):
    """All environmental monitoring measurements, frozen for the public (CC BY 4.0)."""

    created_at = models.DateTimeField(auto_now_add=True)
    rows = models.PositiveIntegerField()
    stations: models.JSONField[Any, Any] = models.JSONField(default=list)
    csv = models.BinaryField()
    json = models.BinaryField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Open data {self.created_at:%Y-%m-%d %H:%M} ({self.rows} rows)"
