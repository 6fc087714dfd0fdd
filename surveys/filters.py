"""Query filters of the API (django-filter). They narrow a chokepoint queryset, never widen it."""

from __future__ import annotations

import django_filters as filters

from surveys.models import (
    DataQualityFlag,
    Measurement,
    Observation,
    ProductionSite,
    QualityFlagStatus,
    Resident,
    Station,
    Visit,
    VocabularyCode,
)


class SiteFilter(filters.FilterSet):
    class Meta:
        model = ProductionSite
        fields = ["kind"]


class ResidentFilter(filters.FilterSet):
    area = filters.CharFilter(field_name="area__code", help_text="Area code.")
    enrolled_after = filters.DateFilter(field_name="enrolled_on", lookup_expr="gte")
    enrolled_before = filters.DateFilter(field_name="enrolled_on", lookup_expr="lte")
    born_from = filters.NumberFilter(field_name="birth_year", lookup_expr="gte")
    born_to = filters.NumberFilter(field_name="birth_year", lookup_expr="lte")

    class Meta:
        model = Resident
        fields = ["sex", "smoking", "works_at_site"]


class VisitFilter(filters.FilterSet):
    visited_after = filters.DateFilter(
        field_name="visited_on", lookup_expr="gte", help_text="On or after (YYYY-MM-DD)."
    )
    visited_before = filters.DateFilter(
        field_name="visited_on", lookup_expr="lte", help_text="On or before (YYYY-MM-DD)."
    )
    area = filters.CharFilter(field_name="resident__area__code", help_text="Area code.")
    health_worker = filters.CharFilter(field_name="health_worker__username")

    class Meta:
        model = Visit
        fields = ["resident"]


class ObservationFilter(filters.FilterSet):
    code = filters.CharFilter(field_name="code__code", help_text='e.g. "lab.blood_lead".')
    visited_after = filters.DateFilter(field_name="visit__visited_on", lookup_expr="gte")
    visited_before = filters.DateFilter(field_name="visit__visited_on", lookup_expr="lte")
    area = filters.CharFilter(field_name="visit__resident__area__code", help_text="Area code.")
    resident = filters.NumberFilter(field_name="visit__resident")

    class Meta:
        model = Observation
        fields = ["visit", "below_lod"]


class StationFilter(filters.FilterSet):
    class Meta:
        model = Station
        fields = ["medium"]


class MeasurementFilter(filters.FilterSet):
    station = filters.CharFilter(field_name="station__code", help_text="Station code.")
    pollutant = filters.CharFilter(field_name="pollutant__code", help_text='e.g. "pm2_5".')
    medium = filters.CharFilter(field_name="station__medium")
    sampled_after = filters.DateFilter(field_name="sampled_on", lookup_expr="gte")
    sampled_before = filters.DateFilter(field_name="sampled_on", lookup_expr="lte")

    class Meta:
        model = Measurement
        fields = ["status", "below_lod"]


class QualityFlagFilter(filters.FilterSet):
    review_status = filters.ChoiceFilter(field_name="status", choices=QualityFlagStatus.choices)

    class Meta:
        model = DataQualityFlag
        fields = ["kind", "visit"]


class VocabularyFilter(filters.FilterSet):
    class Meta:
        model = VocabularyCode
        fields = ["category", "kind", "medium", "active"]
