from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from surveys import models


@admin.register(models.ProductionSite)
class ProductionSiteAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "kind", "operator", "opened_on"]


class AreaAssignmentInline(admin.TabularInline):
    model = models.AreaAssignment
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(models.Area)
class AreaAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "latitude", "longitude"]
    search_fields = ["code", "name"]
    inlines = [AreaAssignmentInline]


@admin.register(models.AreaAssignment)
class AreaAssignmentAdmin(admin.ModelAdmin):
    list_display = ["user", "area", "assigned_at"]
    list_filter = ["area"]
    autocomplete_fields = ["user", "area"]


class CodeLabelTranslationInline(admin.TabularInline):
    """The code's label in the other shipped languages (English is the code's own label)."""

    model = models.CodeLabelTranslation
    extra = 0
    fields = ["language", "label", "help_text"]


@admin.register(models.VocabularyCode)
class VocabularyCodeAdmin(SimpleHistoryAdmin):
    inlines = [CodeLabelTranslationInline]
    list_display = [
        "code",
        "label",
        "category",
        "kind",
        "canonical_unit",
        "reference_level",
        "active",
    ]
    list_filter = ["category", "kind", "active"]
    search_fields = ["code", "label", "icd10", "loinc"]


@admin.register(models.Station)
class StationAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "medium"]


@admin.register(models.RecordAccess)
class RecordAccessAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "action", "resource", "row_count", "detail"]
    list_filter = ["action", "resource"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the access log is append-only

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(models.CodeLabelTranslation)
class CodeLabelTranslationAdmin(admin.ModelAdmin):
    list_display = ["code", "language", "label"]
    list_filter = ["language"]
    search_fields = ["code__code", "label"]
    autocomplete_fields = ["code"]
