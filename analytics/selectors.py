"""Reads of the analytics app: runs, stored results and alerts (no record-level data)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from analytics.models import Alert, AlertStatus, AnalysisRun, ResultRow, ResultSet, RunStatus


def recent_runs(limit: int = 10) -> QuerySet[AnalysisRun]:
    return AnalysisRun.objects.select_related("created_by", "result_set")[:limit]


def latest_complete_result_set() -> ResultSet | None:
    run = (
        AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED, result_set__complete=True)
        .select_related("result_set")
        .order_by("-finished_at", "-id")
        .first()
    )
    return run.result_set if run else None


def open_alerts() -> QuerySet[Alert]:
    return Alert.objects.filter(status=AlertStatus.OPEN).order_by("-week", "area_code")


def result_rows(result_set: ResultSet, **filters: Any) -> QuerySet[ResultRow]:
    return ResultRow.objects.filter(result_set=result_set, **filters)


def analyses_of(result_set: ResultSet) -> list[str]:
    return list(
        ResultRow.objects.filter(result_set=result_set)
        .order_by("analysis")
        .values_list("analysis", flat=True)
        .distinct()
    )


def outcomes_of(result_set: ResultSet) -> list[str]:
    return list(
        ResultRow.objects.filter(result_set=result_set)
        .exclude(analysis__startswith="environment")
        .order_by("outcome")
        .values_list("outcome", flat=True)
        .distinct()
    )
