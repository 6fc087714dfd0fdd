"""Field data: what health workers and monitoring stations record.

Residents are pseudonymous (keyed HMAC of the study ID); precise coordinates are never stored —
only the distance to the nearest production site (0.1 km) and a ~500 m grid cell. Every
invariant that the database can hold is a constraint, so no code path can bypass it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from healthwatch.text import identifier_problem

#: The longest audit reason (why a record changed) that forms, the API and the history keep.
REASON_MAX_LENGTH = 300


def audited_history() -> HistoricalRecords:
    """The audit trail of a model: every version, with a reason as long as forms and the API
    accept (simple-history's default column holds 100 characters)."""
    return HistoricalRecords(
        history_change_reason_field=models.CharField(
            max_length=REASON_MAX_LENGTH, null=True, blank=True
        )
    )


AGE_BANDS: tuple[str, ...] = (*(f"{lo}-{lo + 4}" for lo in range(0, 85, 5)), "85+")


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class SiteKind(models.TextChoices):
    MINE = "mine", _("Mine")
    SEPARATION_PLANT = "separation_plant", _("Separation plant")
    REFINERY = "refinery", _("Refinery")
    TAILINGS = "tailings", _("Tailings facility")
    OTHER = "other", _("Other")


class Medium(models.TextChoices):
    AIR = "air", _("Air")
    WATER = "water", _("Water")
    SOIL = "soil", _("Soil")


class Smoking(models.TextChoices):
    NEVER = "never", pgettext_lazy("smoking status", "Never")
    FORMER = "former", _("Former")
    CURRENT = "current", _("Current")
    UNKNOWN = "unknown", pgettext_lazy("smoking status", "Unknown")


class CodeKind(models.TextChoices):
    BOOLEAN = "boolean", _("Yes/no")
    NUMERIC = "numeric", _("Numeric")


class CodeCategory(models.TextChoices):
    SYMPTOM = "symptom", _("Symptom")
    DIAGNOSIS = "diagnosis", _("New diagnosis")
    BIOMARKER = "biomarker", _("Biomarker")
    MEASURE = "measure", _("Measure")
    POLLUTANT = "pollutant", _("Pollutant")


class MeasurementStatus(models.TextChoices):
    PRELIMINARY = "preliminary", _("Preliminary")
    VALIDATED = "validated", pgettext_lazy("measurement status", "Validated")
    INVALID = "invalid", _("Invalid (kept, excluded from analysis)")


def _choices_in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


def _clean_code(code: str) -> None:
    """The identifier rule (healthwatch.text) in model validation: admin, services, imports.

    A check in clean() rather than a field validator, so the rule can change without a
    migration of every code column."""
    from django.core.exceptions import ValidationError

    problem = identifier_problem(code)
    if problem is not None:
        raise ValidationError({"code": problem})


class ProductionSite(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SiteKind.choices)
    latitude = models.FloatField()
    longitude = models.FloatField()
    operator = models.CharField(max_length=200, blank=True)
    opened_on = models.DateField(null=True, blank=True)
    history = audited_history()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=_choices_in("kind", SiteKind), name="site_kind_valid"),
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90), name="site_latitude_range"
            ),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180, longitude__lte=180), name="site_longitude_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        super().clean()
        _clean_code(self.code)


class Area(models.Model):
    """A village or neighbourhood: the unit of denominators, assignment and reporting."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    latitude = models.FloatField(help_text="Centroid latitude (WGS84).")
    longitude = models.FloatField(help_text="Centroid longitude (WGS84).")
    health_workers: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="AreaAssignment",
        related_name="assigned_areas",
        blank=True,
    )
    history = audited_history()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90), name="area_latitude_range"
            ),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180, longitude__lte=180), name="area_longitude_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        super().clean()
        _clean_code(self.code)


class AreaAssignment(models.Model):
    """Which health worker may see and change the residents of which area (admin-managed)."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["area", "user"], name="area_assignment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.area.code}"


class AreaPopulation(models.Model):
    """Population denominator of one area × year × sex × five-year age band."""

    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="population")
    year = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    age_band = models.CharField(max_length=5, choices=[(b, b) for b in AGE_BANDS])
    population = models.PositiveIntegerField()
    history = audited_history()

    class Meta:
        ordering = ["area", "year", "sex", "age_band"]
        constraints = [
            models.UniqueConstraint(
                fields=["area", "year", "sex", "age_band"], name="area_population_unique"
            ),
            models.CheckConstraint(condition=_choices_in("sex", Sex), name="population_sex"),
            models.CheckConstraint(condition=Q(age_band__in=AGE_BANDS), name="population_age_band"),
            models.CheckConstraint(
                condition=Q(year__gte=1900, year__lte=2200), name="population_year_range"
            ),
            models.CheckConstraint(condition=Q(population__gte=0), name="population_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.year} {self.sex} {self.age_band}: {self.population}"


class VocabularyCode(models.Model):
    """One code of the versioned vocabulary (symptom, diagnosis, biomarker, measure, pollutant).

    Loaded from surveys/data/vocabulary_v*.json by a migration; administrators may add codes.
    """

    code = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=CodeCategory.choices)
    kind = models.CharField(max_length=8, choices=CodeKind.choices)
    medium = models.CharField(max_length=8, choices=Medium.choices, blank=True)
    canonical_unit = models.CharField(max_length=16, blank=True)
    accepted_units = models.JSONField(
        default=dict,
        blank=True,
        help_text="Unit → factor: canonical value = entered value × factor.",
    )
    min_value = models.FloatField(null=True, blank=True, help_text="In the canonical unit.")
    max_value = models.FloatField(null=True, blank=True, help_text="In the canonical unit.")
    icd10 = models.CharField(max_length=8, blank=True)
    loinc = models.CharField(max_length=16, blank=True)
    reference_level = models.FloatField(
        null=True, blank=True, help_text="Reference or guideline level, canonical unit."
    )
    reference_note = models.CharField(max_length=200, blank=True)
    vocabulary_version = models.CharField(max_length=16, default="1")
    active = models.BooleanField(default=True)
    history = audited_history()

    class Meta:
        ordering = ["category", "code"]
        constraints = [
            models.CheckConstraint(
                condition=_choices_in("category", CodeCategory), name="code_category_valid"
            ),
            models.CheckConstraint(condition=_choices_in("kind", CodeKind), name="code_kind"),
            models.CheckConstraint(
                condition=Q(kind=CodeKind.BOOLEAN) | ~Q(canonical_unit=""),
                name="numeric_code_has_unit",
            ),
            models.CheckConstraint(
                condition=Q(min_value__isnull=True)
                | Q(max_value__isnull=True)
                | Q(min_value__lte=models.F("max_value")),
                name="code_range_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(category=CodeCategory.POLLUTANT) | ~Q(medium=""),
                name="pollutant_has_medium",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_numeric(self) -> bool:
        return self.kind == CodeKind.NUMERIC

    @property
    def display_label(self) -> str:
        """The label in the active language (English when not translated)."""
        from surveys.labels import code_label

        return code_label(self.code, self.label)


class CodeLabelTranslation(models.Model):
    """A vocabulary code's label (and help text) in one language other than English.

    The translations are data, like the codes: shipped in surveys/data/vocabulary_v*.json
    ("translations": {"fr": {"label": …}}), editable by an administrator in the admin.
    A code without a translation in the active language shows its English label.
    """

    code = models.ForeignKey(VocabularyCode, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(_("language"), max_length=10)
    label = models.CharField(_("label"), max_length=200)
    help_text = models.CharField(_("help text"), max_length=500, blank=True)

    class Meta:
        ordering = ["code", "language"]
        verbose_name = _("translated label of a code")
        verbose_name_plural = _("translated labels of codes")
        constraints = [
            models.UniqueConstraint(fields=["code", "language"], name="code_label_language"),
        ]

    def __str__(self) -> str:
        return f"{self.code_id} [{self.language}]: {self.label}"

    def clean(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ValidationError

        shipped = [code for code, _name in settings.LANGUAGES if code != "en"]
        if self.language not in shipped:
            raise ValidationError(
                {
                    "language": _("Choose one of the shipped languages: %(languages)s.")
                    % {"languages": ", ".join(shipped)}
                }
            )


class Resident(models.Model):
    """A study participant, known only by a keyed pseudonym.

    No name, study ID, date of birth or coordinates are stored: the study ID is turned into
    `pseudonym` (HMAC-SHA256 with a key held outside the database, version in `key_version`);
    coordinates given at enrolment become `distance_to_site_km` and a ~500 m grid cell.
    """

    pseudonym = models.CharField(max_length=64, unique=True)
    key_version = models.PositiveSmallIntegerField()
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="residents")
    birth_year = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    enrolled_on = models.DateField()
    nearest_site = models.ForeignKey(
        ProductionSite, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    distance_to_site_km = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    grid_latitude = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    grid_longitude = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    works_at_site = models.BooleanField(default=False)
    smoking = models.CharField(max_length=8, choices=Smoking.choices, default=Smoking.UNKNOWN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    import_record = models.ForeignKey(
        "ImportRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = audited_history()

    class Meta:
        ordering = ["area", "id"]
        constraints = [
            models.CheckConstraint(condition=_choices_in("sex", Sex), name="resident_sex"),
            models.CheckConstraint(
                condition=_choices_in("smoking", Smoking), name="resident_smoking"
            ),
            models.CheckConstraint(
                condition=Q(birth_year__gte=1900, birth_year__lte=2200),
                name="resident_birth_year_range",
            ),
            models.CheckConstraint(
                condition=Q(distance_to_site_km__isnull=True) | Q(distance_to_site_km__gte=0),
                name="resident_distance_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(pseudonym__regex=r"^[0-9a-f]{64}$"), name="resident_pseudonym_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"Resident {self.pseudonym[:10]}… ({self.area.code})"


class Visit(models.Model):
    """A contact between a health worker and a resident on one day."""

    resident = models.ForeignKey(Resident, on_delete=models.PROTECT, related_name="visits")
    visited_on = models.DateField()
    health_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    import_record = models.ForeignKey(
        "ImportRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submission_key = models.UUIDField(
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="The one-time key of the form (or API request) that stored this visit: the "
        "same submission sent twice stores one visit.",
    )
    submission_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        default="",
        db_default="",  # the PostgreSQL COPY path of imports does not name this column
        help_text="SHA-256 of what was submitted with submission_key: the same key sent with "
        "other content is a conflict, not a repeat.",
    )
    history = audited_history()

    class Meta:
        ordering = ["-visited_on", "-id"]
        indexes = [models.Index(fields=["visited_on"])]

    def __str__(self) -> str:
        return f"Visit {self.pk} on {self.visited_on}"


class Observation(models.Model):
    """One coded finding of a visit, stored in the code's canonical unit.

    Boolean codes use `value_boolean`; numeric codes `value` (canonical unit) with the unit
    as entered kept in `entered_unit`. A result below the limit of detection has
    `below_lod`, the LOD (canonical unit) and no value; analyses substitute LOD/√2.
    """

    # No index of its own: observation_unique_per_visit (visit, code) serves lookups by visit,
    # and every index is maintained on each of an import's millions of inserts.
    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="observations", db_index=False
    )
    code = models.ForeignKey(VocabularyCode, on_delete=models.PROTECT, related_name="+")
    value = models.FloatField(null=True, blank=True)
    value_boolean = models.BooleanField(null=True, blank=True)
    entered_unit = models.CharField(max_length=16, blank=True)
    below_lod = models.BooleanField(default=False)
    lod = models.FloatField(null=True, blank=True)
    history = audited_history()

    class Meta:
        ordering = ["visit", "code"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "code"], name="observation_unique_per_visit"),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value_boolean__isnull=True),
                name="observation_one_value_kind",
            ),
            models.CheckConstraint(
                condition=Q(below_lod=False) | (Q(lod__isnull=False) & Q(value__isnull=True)),
                name="observation_below_lod_has_lod_only",
            ),
            models.CheckConstraint(
                condition=Q(below_lod=True)
                | Q(value__isnull=False)
                | Q(value_boolean__isnull=False),
                name="observation_has_a_value",
            ),
            models.CheckConstraint(
                condition=Q(lod__isnull=True) | Q(lod__gt=0), name="observation_lod_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Observation {self.pk} of visit {self.visit_id}"


class Station(models.Model):
    """An environmental monitoring station; its data are open."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    medium = models.CharField(max_length=8, choices=Medium.choices)
    latitude = models.FloatField()
    longitude = models.FloatField()
    history = audited_history()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=_choices_in("medium", Medium), name="station_medium"),
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90), name="station_latitude_range"
            ),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180, longitude__lte=180),
                name="station_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        super().clean()
        _clean_code(self.code)


class Measurement(models.Model):
    """One sample of one pollutant at a station. Invalid values are kept and flagged."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="measurements")
    sampled_on = models.DateField()
    pollutant = models.ForeignKey(VocabularyCode, on_delete=models.PROTECT, related_name="+")
    value = models.FloatField(null=True, blank=True, help_text="Canonical unit.")
    entered_unit = models.CharField(max_length=16)
    below_lod = models.BooleanField(default=False)
    lod = models.FloatField(null=True, blank=True, help_text="Canonical unit.")
    status = models.CharField(
        max_length=12, choices=MeasurementStatus.choices, default=MeasurementStatus.PRELIMINARY
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    import_record = models.ForeignKey(
        "ImportRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = audited_history()

    class Meta:
        ordering = ["station", "sampled_on", "pollutant"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "sampled_on", "pollutant"], name="measurement_unique"
            ),
            models.CheckConstraint(
                condition=_choices_in("status", MeasurementStatus), name="measurement_status"
            ),
            models.CheckConstraint(
                condition=Q(below_lod=False) | (Q(lod__isnull=False) & Q(value__isnull=True)),
                name="measurement_below_lod_has_lod_only",
            ),
            models.CheckConstraint(
                condition=Q(below_lod=True) | Q(value__isnull=False),
                name="measurement_has_a_value",
            ),
            models.CheckConstraint(
                condition=Q(lod__isnull=True) | Q(lod__gt=0), name="measurement_lod_positive"
            ),
        ]
        indexes = [models.Index(fields=["sampled_on"])]

    def __str__(self) -> str:
        return f"Measurement {self.pk} at station {self.station_id} on {self.sampled_on}"


class QualityFlagKind(models.TextChoices):
    OUTLIER = "outlier", _("Beyond 3.29 SD within code and age band")
    ABOVE_REFERENCE = "above_reference", _("Above 10× the reference level")
    SAME_DAY_VISIT = "same_day_visit", _("Second visit for the resident on the same day")


class QualityFlagStatus(models.TextChoices):
    OPEN = "open", _("Waiting for review")
    CONFIRMED = "confirmed", _("Reviewed: value is right")
    CORRECTED = "corrected", _("Reviewed: value was corrected")


class DataQualityFlag(models.Model):
    """A plausible but unusual record queued for an epidemiologist's review."""

    kind = models.CharField(max_length=20, choices=QualityFlagKind.choices)
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.CASCADE, related_name="quality_flags"
    )
    observation = models.ForeignKey(
        Observation, null=True, blank=True, on_delete=models.CASCADE, related_name="quality_flags"
    )
    detail = models.CharField(max_length=300)
    status = models.CharField(
        max_length=10, choices=QualityFlagStatus.choices, default=QualityFlagStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["status", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=_choices_in("kind", QualityFlagKind), name="quality_flag_kind"
            ),
            models.CheckConstraint(
                condition=Q(visit__isnull=False) | Q(observation__isnull=False),
                name="quality_flag_has_subject",
            ),
            models.UniqueConstraint(
                fields=["kind", "observation"],
                condition=Q(observation__isnull=False),
                name="quality_flag_once_per_observation",
            ),
            models.UniqueConstraint(
                fields=["kind", "visit"],
                condition=Q(visit__isnull=False),
                name="quality_flag_once_per_visit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"

    @property
    def shown_detail(self) -> str:
        """The detail in the active language (stored in English: surveys.quality.detail_text)."""
        from surveys.quality import detail_text

        return detail_text(self.detail)


class RecordAccess(models.Model):
    """Who read or exported record-level data, when, and what (append-only)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16)  # read | export
    resource = models.CharField(max_length=64)
    detail = models.CharField(max_length=500, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.action} {self.resource}"


class ImportRecord(models.Model):
    """One CSV import (or dry run): what was sent and what it changed."""

    kind = models.CharField(max_length=16)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    dry_run = models.BooleanField(default=False)
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    # The data change marker (selectors.data_change_marker) as this import left the data, set
    # only when nothing but this import wrote while it ran: the same file imported again while
    # the marker is unchanged is known to be stored row for row (surveys.importing.unchanged).
    data_marker = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"Import of {self.kind} {self.file_name} ({self.rows} rows)"


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Finished")
    FAILED = "failed", _("Failed")


class ImportJobErrorCode(models.TextChoices):
    """Why a failed job did not run, for the product to recognise without reading its text."""

    QUEUE_UNAVAILABLE = "queue_unavailable", _("The job queue was unavailable")


#: A failed job's message by its error code, shown in the reader's language; `error` then
#: holds the technical detail (the broker's error), not the message.
IMPORT_JOB_ERROR_MESSAGES = {
    ImportJobErrorCode.QUEUE_UNAVAILABLE: gettext_noop(
        "Not started: the job queue is unavailable (%(error)s). Upload the file again later."
    ),
}


class ImportJob(models.Model):
    """A CSV upload too big to import inside the web request: a worker imports it.

    The file waits in the database (ImportJobChunk: web and workers may be on different
    machines) until the import ends; it is deleted then, and a sweep deletes what a lost job
    left. `report` is the import's report as the API gives it (at most HTTP_ERROR_LIMIT errors).
    """

    kind = models.CharField(max_length=16)
    file_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    dry_run = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=ImportJobStatus.choices, default=ImportJobStatus.QUEUED
    )
    rows_read = models.PositiveBigIntegerField(default=0)
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    #: Set when the failure has a known cause: `error` is then that cause's detail.
    error_code = models.CharField(max_length=32, blank=True, choices=ImportJobErrorCode.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=_choices_in("status", ImportJobStatus), name="import_job_status"
            )
        ]

    def __str__(self) -> str:
        return f"Import job {self.pk} ({self.kind}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportJobStatus.DONE, ImportJobStatus.FAILED)

    @property
    def error_message(self) -> str:
        """Why the job failed, in the active language (a coded cause worded at reading time)."""
        template = IMPORT_JOB_ERROR_MESSAGES.get(self.error_code)  # type: ignore[call-overload]
        return gettext(template) % {"error": self.error} if template else self.error


class ImportJobChunk(models.Model):
    """One piece (up to 1 MiB) of an import job's file, in order."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="import_job_chunk_unique")
        ]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of import job {self.job_id}"


#: The tables an analysis reads (analytics.extraction): every write to them is logged below.
ANALYSED_TABLES: tuple[str, ...] = (
    "surveys_productionsite",
    "surveys_area",
    "surveys_areapopulation",
    "surveys_vocabularycode",
    "surveys_resident",
    "surveys_visit",
    "surveys_observation",
    "surveys_station",
    "surveys_measurement",
)


class DataChange(models.Model):
    """One write to an analysed table, logged by a database trigger (migration
    0008_perf_data_change), whatever wrote it: forms, the outbox, OpenRosa, the CSV import's
    COPY, the admin, raw SQL.

    PostgreSQL logs one row per writing statement (a statement-level trigger: no lock shared
    between writers, so concurrent imports and submissions do not wait on each other); SQLite
    (one writer at a time) keeps only the latest row. Either way `selectors.data_change_marker`
    (the count and the largest id) differs after every committed write: the cheap check that
    the data is still what an analysis read (analytics ResultSet.input_marker).
    """

    id = models.BigAutoField(primary_key=True)
    table_name = models.CharField(max_length=64)
    changed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.table_name} changed at {self.changed_at:%Y-%m-%d %H:%M:%S}"
