"""Analysis runs, their stored results, and alerts.

Compute offline, store, serve the stored result: a run extracts the recorded data, fingerprints
it, and — unless a result set for the same kind, parameters and data already exists — computes
the standard suite in parts (one Celery task each), upserting tidy result rows under unique
keys. A part writes its rows in one transaction, so a worker killed mid-part leaves nothing
behind and the redelivered task writes them once.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from surveys.models import audited_history


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class RunTrigger(models.TextChoices):
    MANUAL = "manual", _("Started by an epidemiologist")
    NIGHTLY = "nightly", _("Nightly schedule")
    IMPORT = "import", _("After a data import")


class ResultSet(models.Model):
    """The results of one analysis kind, on one set of parameters, on one state of the data."""

    kind = models.CharField(max_length=32)
    parameters_hash = models.CharField(max_length=64)
    input_fingerprint = models.CharField(max_length=64)
    input_marker = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The data change marker (surveys.selectors.data_change_marker) at which the "
        "data with this fingerprint was last read; blank: not known. While the marker is the "
        "same, the data is too, without extracting it again.",
    )
    parameters = models.JSONField(default=dict)
    code_version = models.CharField(max_length=64)
    parts_total = models.PositiveSmallIntegerField(default=0)
    complete = models.BooleanField(default=False)
    data_end = models.DateField(
        null=True,
        blank=True,
        help_text="The latest visit date in the data analysed: periods ending after it are "
        "incomplete (docs/methods.md).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    charts_translate_attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="How often the run sweep sent the drawing of the charts in the other "
        "languages again (the queue could not take it at completion, or its worker was lost).",
    )
    charts_translate_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the run sweep last sent that drawing again (the next waits from it).",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "parameters_hash", "input_fingerprint", "code_version"],
                name="result_set_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.input_fingerprint[:8]}"


class AnalysisRun(models.Model):
    """One request to analyse: who/what triggered it, its status, progress and timings."""

    kind = models.CharField(max_length=32, default="standard_suite")
    parameters = models.JSONField(default=dict)
    trigger = models.CharField(max_length=8, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    result_set = models.ForeignKey(
        ResultSet, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    reused = models.BooleanField(
        default=False, help_text="The same parameters on the same data had been computed."
    )
    parts_total = models.PositiveSmallIntegerField(default=0)
    parts_done = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    extract_seconds = models.FloatField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)
    code_version = models.CharField(max_length=64, blank=True)
    debounce_key = models.CharField(  # noqa: DJ001 - NULL (not "") so the unique index ignores it
        max_length=64,
        null=True,
        blank=True,
        help_text="Set while a triggered run is queued, so that triggers coalesce into one run.",
    )
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the start was (last) due on the job queue."
    )
    attempts = models.PositiveSmallIntegerField(
        default=1, help_text="How many times the start was sent to the job queue."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="analysis_run_status"
            ),
            models.CheckConstraint(
                condition=Q(parts_done__lte=models.F("parts_total")),
                name="analysis_run_parts_done_le_total",
            ),
            models.UniqueConstraint(
                fields=["debounce_key"],
                condition=Q(debounce_key__isnull=False),
                name="analysis_run_one_pending_per_debounce_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.kind}, {self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status == RunStatus.SUCCEEDED:
            return 100
        if not self.parts_total:
            return 0
        return int(100 * self.parts_done / self.parts_total)

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)


class RunPart(models.Model):
    """One fanned-out piece of a run's result set (e.g. rates, trends, aberration)."""

    result_set = models.ForeignKey(ResultSet, on_delete=models.CASCADE, related_name="parts")
    name = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Touched by the worker computing the part; stale means the worker was lost.",
    )

    class Meta:
        ordering = ["result_set", "name"]
        constraints = [
            models.UniqueConstraint(fields=["result_set", "name"], name="run_part_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def worker_lost(self) -> bool:
        """Running, but its worker has not been heard of for longer than a worker may be quiet."""
        if self.status != RunStatus.RUNNING:
            return False
        last_sign = self.heartbeat_at or self.started_at
        quiet = dt.timedelta(seconds=settings.HEALTHWATCH_PART_LOST_AFTER_SECONDS)
        return last_sign is None or last_sign < timezone.now() - quiet

    @property
    def state_label(self) -> str:
        """What the run page says of the part, retries after a lost worker included."""
        total = settings.HEALTHWATCH_RUN_MAX_ATTEMPTS
        if self.worker_lost:
            return gettext("Worker lost — waiting to be retried")
        if self.status == RunStatus.QUEUED and self.attempts:
            return gettext("Worker lost, retrying (attempt %(n)s of %(total)s)") % {
                "n": self.attempts + 1,
                "total": total,
            }
        if self.status == RunStatus.RUNNING and self.attempts > 1:
            return gettext("Running again after a lost worker (attempt %(n)s of %(total)s)") % {
                "n": self.attempts,
                "total": total,
            }
        return str(self.get_status_display())


class ResultRow(models.Model):
    """One estimate, in the tidy contract of ARCHITECTURE.md."""

    result_set = models.ForeignKey(ResultSet, on_delete=models.CASCADE, related_name="rows")
    part = models.CharField(max_length=32)
    analysis = models.CharField(max_length=48)
    outcome = models.CharField(max_length=64)
    area_code = models.CharField(max_length=32, blank=True)
    period = models.CharField(max_length=16, blank=True)
    stratum = models.CharField(max_length=64, blank=True)
    measure = models.CharField(max_length=48)
    estimate = models.FloatField(null=True, blank=True)
    ci_lower = models.FloatField(null=True, blank=True)
    ci_upper = models.FloatField(null=True, blank=True)
    numerator = models.FloatField(null=True, blank=True)
    denominator = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    flags = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["analysis", "outcome", "area_code", "period", "stratum", "measure"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "result_set",
                    "analysis",
                    "outcome",
                    "area_code",
                    "period",
                    "stratum",
                    "measure",
                ],
                name="result_row_unique",
            )
        ]
        indexes = [models.Index(fields=["result_set", "analysis", "outcome"])]

    def __str__(self) -> str:
        return f"{self.analysis} {self.outcome} {self.area_code} {self.period} {self.measure}"


class ResultChart(models.Model):
    """An SVG chart of a result set, rendered once when its part finished and served stored.

    Keyed by result set, outcome, chart identity (e.g. ``trend``, ``weekly:A05``) and the
    language its text was rendered in; a part computed again replaces its charts.
    """

    result_set = models.ForeignKey(ResultSet, on_delete=models.CASCADE, related_name="charts")
    part = models.CharField(max_length=32)
    outcome = models.CharField(max_length=64)
    key = models.CharField(max_length=64, help_text="The chart's identity within the outcome.")
    language = models.CharField(max_length=16)
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=300)
    svg = models.TextField()

    class Meta:
        ordering = ["result_set", "outcome", "position", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["result_set", "outcome", "key", "language"], name="result_chart_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.key} ({self.language})"


class AlertStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("alert status", "Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")


class Alert(models.Model):
    """An aberration: a weekly count above its upper bound. One per outcome, area, week, method."""

    outcome = models.CharField(max_length=64)
    area_code = models.CharField(max_length=32)
    week = models.DateField(help_text="Monday of the ISO week.")
    method = models.CharField(max_length=48)
    observed = models.FloatField()
    expected = models.FloatField()
    upper_bound = models.FloatField()
    first_run = models.ForeignKey(
        AnalysisRun, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run = models.ForeignKey(
        AnalysisRun, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    annotation = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = audited_history()

    class Meta:
        ordering = ["status", "-week", "area_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["outcome", "area_code", "week", "method"], name="alert_unique"
            ),
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="alert_status"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} in {self.area_code}, week of {self.week}"
