"""API shapes. Serializers check shape only; meaning is decided by surveys.services.

Related records are looked up through the access chokepoints (surveys.selectors), so a health
worker cannot even name a resident or area outside their assignment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from healthwatch.text import identifier_problem, validate_identifier
from surveys import selectors
from surveys.forms import IMPORT_KINDS
from surveys.models import (
    REASON_MAX_LENGTH,
    AreaPopulation,
    DataQualityFlag,
    ImportJob,
    ImportJobErrorCode,
    ImportJobStatus,
    Measurement,
    MeasurementStatus,
    Medium,
    Observation,
    ProductionSite,
    QualityFlagStatus,
    Resident,
    Sex,
    Smoking,
    Station,
    Visit,
    VocabularyCode,
)
from surveys.models import Area as AreaModel


def _user_of(field: serializers.Field[Any, Any, Any, Any]) -> Any:
    request = field.context.get("request")
    return getattr(request, "user", None)


class ScopedSlugRelatedField(serializers.SlugRelatedField[Any]):
    """A slug lookup among the rows the requesting user may see (a selector chokepoint)."""

    default_error_messages = {
        "does_not_exist": _("No {slug_name} '{value}' that you have access to."),
        "invalid": _("Invalid value."),
    }

    def __init__(self, *, scope: Callable[[Any], QuerySet[Any]], model: type[Model], **kw: Any):
        self.scope = scope
        super().__init__(queryset=model._default_manager.none(), **kw)

    def get_queryset(self) -> QuerySet[Any]:
        user = _user_of(self)
        queryset = self.scope(user) if user is not None else super().get_queryset()
        assert queryset is not None
        return queryset

    def to_internal_value(self, data: Any) -> Any:
        # Only codes that follow the identifier rule can exist. Checking first also keeps junk
        # such as a NUL away from the database (PostgreSQL refuses NUL in text: it was a 500).
        problem = identifier_problem(data if isinstance(data, str) else repr(data))
        if problem is not None:
            raise serializers.ValidationError(problem)
        return super().to_internal_value(data)


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    default_error_messages = {
        "does_not_exist": _("No record {pk_value} that you have access to."),
        "incorrect_type": _("Expected a number, received {data_type}."),
    }

    def __init__(self, *, scope: Callable[[Any], QuerySet[Any]], model: type[Model], **kw: Any):
        self.scope = scope
        super().__init__(queryset=model._default_manager.none(), **kw)

    def get_queryset(self) -> QuerySet[Any]:
        user = _user_of(self)
        queryset = self.scope(user) if user is not None else super().get_queryset()
        assert queryset is not None
        return queryset


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "description": "As entered: a number, true/false/yes/no, or empty.",
    }
)
class EnteredValueField(serializers.Field[str, Any, Any, Any]):
    """A value as typed: string, number or boolean, passed on as text to the service."""

    def to_internal_value(self, data: Any) -> str:
        if data is None:
            return ""
        if isinstance(data, bool):
            return "true" if data else "false"
        if isinstance(data, int | float | str):
            return str(data)
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value

    default_error_messages = {"invalid": _("Give a number, true/false, or text.")}


# --- Errors ----------------------------------------------------------------------------------


class FieldErrorSerializer(serializers.Serializer[Any]):
    field = serializers.CharField(help_text='e.g. "visited_on", "lab.blood_lead.value"')
    message = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer[Any]):
    errors = FieldErrorSerializer(many=True)  # type: ignore[assignment]


class DetailSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


# --- Reference data --------------------------------------------------------------------------


class SiteSerializer(serializers.ModelSerializer[ProductionSite]):
    class Meta:
        model = ProductionSite
        fields = ["id", "code", "name", "kind", "latitude", "longitude", "operator", "opened_on"]


class AreaPopulationSerializer(serializers.ModelSerializer[AreaPopulation]):
    class Meta:
        model = AreaPopulation
        fields = ["year", "sex", "age_band", "population"]


class AreaSerializer(serializers.ModelSerializer[AreaModel]):
    population = AreaPopulationSerializer(many=True, read_only=True)

    class Meta:
        model = AreaModel
        fields = ["id", "code", "name", "latitude", "longitude", "population"]


class VocabularyCodeSerializer(serializers.ModelSerializer[VocabularyCode]):
    # Beside `label` (English, unchanged): the label in every language that has one.
    labels = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_labels(self, code: VocabularyCode) -> dict[str, str]:
        labels = {"en": code.label}
        labels.update({t.language: t.label for t in code.translations.all()})
        return labels

    class Meta:
        model = VocabularyCode
        fields = [
            "code",
            "label",
            "category",
            "kind",
            "medium",
            "canonical_unit",
            "accepted_units",
            "min_value",
            "max_value",
            "icd10",
            "loinc",
            "reference_level",
            "reference_note",
            "vocabulary_version",
            "active",
            "labels",
        ]


# --- Residents -------------------------------------------------------------------------------


class ResidentSerializer(serializers.ModelSerializer[Resident]):
    """A resident. study_id, latitude and longitude are write-only: never stored or returned."""

    study_id = serializers.CharField(
        write_only=True, max_length=64, help_text="Pseudonymized on arrival; never stored."
    )
    area = ScopedSlugRelatedField(
        scope=selectors.areas_for_user, model=AreaModel, slug_field="code"
    )
    latitude = serializers.FloatField(
        write_only=True,
        required=False,
        allow_null=True,
        help_text="Used once for distance and grid cell, then discarded.",
    )
    longitude = serializers.FloatField(write_only=True, required=False, allow_null=True)
    sex = serializers.ChoiceField(choices=Sex.choices)
    smoking = serializers.ChoiceField(choices=Smoking.choices, default=Smoking.UNKNOWN)
    works_at_site = serializers.BooleanField(default=False)
    nearest_site = serializers.SlugRelatedField[Any](slug_field="code", read_only=True)

    class Meta:
        model = Resident
        fields = [
            "id",
            "study_id",
            "area",
            "birth_year",
            "sex",
            "enrolled_on",
            "latitude",
            "longitude",
            "works_at_site",
            "smoking",
            "nearest_site",
            "distance_to_site_km",
            "grid_latitude",
            "grid_longitude",
            "created_at",
        ]
        read_only_fields = [
            "distance_to_site_km",
            "grid_latitude",
            "grid_longitude",
            "created_at",
        ]


class StudyIdSerializer(serializers.Serializer[Any]):
    study_id = serializers.CharField(write_only=True, max_length=64)


# --- Visits and observations -----------------------------------------------------------------


class ObservationSerializer(serializers.ModelSerializer[Observation]):
    code = serializers.SlugRelatedField[Any](slug_field="code", read_only=True)
    canonical_unit = serializers.CharField(source="code.canonical_unit", read_only=True)

    class Meta:
        model = Observation
        fields = [
            "id",
            "visit",
            "code",
            "value",
            "value_boolean",
            "canonical_unit",
            "entered_unit",
            "below_lod",
            "lod",
        ]
        read_only_fields = fields


class VisitSerializer(serializers.ModelSerializer[Visit]):
    health_worker = serializers.SlugRelatedField[Any](slug_field="username", read_only=True)
    observations = ObservationSerializer(many=True, read_only=True)

    class Meta:
        model = Visit
        fields = ["id", "resident", "visited_on", "health_worker", "created_at", "observations"]
        read_only_fields = fields


class ObservationInputSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(
        max_length=64, help_text='A vocabulary code, e.g. "lab.blood_lead"'
    )
    value = EnteredValueField(required=False, default="")
    unit = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    below_lod = serializers.BooleanField(required=False, default=False)
    lod = EnteredValueField(required=False, default="")


class VisitCreateSerializer(serializers.Serializer[Any]):
    resident = ScopedPrimaryKeyRelatedField(scope=selectors.residents_for_user, model=Resident)
    visited_on = serializers.DateField()
    observations = ObservationInputSerializer(many=True)
    submission_key = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The visit's one-time key, as the Idempotency-Key header (give one or the "
        "other): the same key with the same content returns the stored visit.",
    )


class VisitUpdateSerializer(serializers.Serializer[Any]):
    visited_on = serializers.DateField()
    observations = ObservationInputSerializer(many=True)
    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH, help_text="Why; kept in the audit trail."
    )


# --- Environmental monitoring ----------------------------------------------------------------


class StationSerializer(serializers.ModelSerializer[Station]):
    class Meta:
        model = Station
        fields = ["id", "code", "name", "medium", "latitude", "longitude"]
        read_only_fields = ["id"]


class StationCreateSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(max_length=32, validators=[validate_identifier])
    name = serializers.CharField(max_length=200)
    medium = serializers.ChoiceField(choices=Medium.choices)
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()


class MeasurementSerializer(serializers.ModelSerializer[Measurement]):
    station = serializers.SlugRelatedField[Any](slug_field="code", read_only=True)
    pollutant = serializers.SlugRelatedField[Any](slug_field="code", read_only=True)
    canonical_unit = serializers.CharField(source="pollutant.canonical_unit", read_only=True)
    recorded_by = serializers.SlugRelatedField[Any](slug_field="username", read_only=True)

    class Meta:
        model = Measurement
        fields = [
            "id",
            "station",
            "sampled_on",
            "pollutant",
            "value",
            "canonical_unit",
            "entered_unit",
            "below_lod",
            "lod",
            "status",
            "recorded_by",
        ]
        read_only_fields = fields


class MeasurementCreateSerializer(serializers.Serializer[Any]):
    station = ScopedSlugRelatedField(
        scope=selectors.stations_for_user, model=Station, slug_field="code"
    )
    sampled_on = serializers.DateField()
    pollutant = serializers.CharField(max_length=64)
    value = EnteredValueField(required=False, default="")
    unit = serializers.CharField(max_length=16)
    below_lod = serializers.BooleanField(required=False, default=False)
    lod = EnteredValueField(required=False, default="")
    status = serializers.ChoiceField(
        choices=MeasurementStatus.choices, default=MeasurementStatus.PRELIMINARY
    )


class MeasurementStatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=MeasurementStatus.choices)
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH)


# --- Data quality ----------------------------------------------------------------------------


class QualityFlagSerializer(serializers.ModelSerializer[DataQualityFlag]):
    # "review_status", not "status": measurements already use "status" for another choice set.
    review_status = serializers.ChoiceField(
        source="status", choices=QualityFlagStatus.choices, read_only=True
    )
    reviewed_by = serializers.SlugRelatedField[Any](slug_field="username", read_only=True)

    class Meta:
        model = DataQualityFlag
        fields = [
            "id",
            "kind",
            "visit",
            "observation",
            "detail",
            "review_status",
            "created_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
        ]
        read_only_fields = fields


class QualityReviewSerializer(serializers.Serializer[Any]):
    review_status = serializers.ChoiceField(
        choices=QualityFlagStatus.choices, help_text="confirmed or corrected."
    )
    note = serializers.CharField(max_length=1000)


# --- CSV import ------------------------------------------------------------------------------


class ImportRequestSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=[(k, k) for k in IMPORT_KINDS])
    file = serializers.FileField(help_text="CSV, UTF-8, header row (docs/data-formats.md).")
    dry_run = serializers.BooleanField(required=False, default=False)


class RowErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(allow_null=True, help_text="1 is the header row.")
    column = serializers.CharField(allow_blank=True)
    value = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)  # type: ignore[assignment]
    error_count = serializers.IntegerField(
        help_text="All problems found; at most the first 1,000 are listed in errors."
    )
    dry_run = serializers.BooleanField()
    import_record_id = serializers.IntegerField(allow_null=True)


class ImportJobSerializer(serializers.Serializer[Any]):
    """An uploaded file and its import, run by a worker (POST /imports/ answers 202 with it)."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Poll this (GET) for state and report.")
    kind = serializers.CharField()
    file_name = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes uploaded.")
    dry_run = serializers.BooleanField()
    status = serializers.ChoiceField(
        choices=ImportJobStatus.choices,
        help_text="queued → running → done or failed. `done` says the import ran to its end; "
        "`outcome` says what it found.",
    )
    outcome = serializers.SerializerMethodField(
        help_text="Once done: imported, nothing_new (every row already stored), checked (dry "
        "run passed, nothing written) or refused (problems listed in report.errors, nothing "
        "written). Null while queued or running, and for a failed job (see error)."
    )
    rows_read = serializers.IntegerField(help_text="Progress: file rows checked so far.")
    error = serializers.CharField(
        source="error_message",
        allow_blank=True,
        help_text="Why a failed job did not run (the job queue was unavailable, the worker was "
        "lost); nothing of its file was written. Upload the file again.",
    )
    error_code = serializers.ChoiceField(
        choices=ImportJobErrorCode.choices,
        allow_blank=True,
        help_text="The failure's cause when it is a known one: queue_unavailable (nothing was "
        "queued; upload the file again later). Empty otherwise.",
    )
    report = ImportReportSerializer(
        allow_null=True,
        help_text="Once done: counts and at most 1,000 problems by row and column, then one "
        "entry counting the rest (error_count is always the exact total).",
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, job: ImportJob) -> str:
        from django.urls import reverse

        path = reverse("import-job", kwargs={"pk": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_outcome(self, job: ImportJob) -> str | None:
        report = job.report
        if job.status != ImportJobStatus.DONE or not report:
            return None
        if report.get("error_count"):
            return "refused"
        if report.get("dry_run"):
            return "checked"
        return "imported" if report.get("created") else "nothing_new"


class ImportJobRefusedSerializer(ImportJobSerializer):
    detail = serializers.CharField(help_text="Why the job could not be queued.")
