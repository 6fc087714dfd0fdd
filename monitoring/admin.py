from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from monitoring.models import Complaint, Guideline, MonitorAssignment, Sample


@admin.register(MonitorAssignment)
class MonitorAssignmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("monitor", "station", "assigned_at")


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("pollutant", "value", "unit", "averaging", "authority", "source", "active")


@admin.register(Sample)
class SampleAdmin(SimpleHistoryAdmin):  # type: ignore[type-arg]
    list_display = ("code", "medium", "station", "collected_at", "collector_role", "lab")
    readonly_fields = ("collected_by", "collector_role", "community_collected")


@admin.register(Complaint)
class ComplaintAdmin(SimpleHistoryAdmin):  # type: ignore[type-arg]
    list_display = ("kind", "place", "occurred_at", "status")
