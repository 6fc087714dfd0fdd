"""Reads of the analytics app: runs, stored results and alerts (no record-level data)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from analytics import outcome_charts, suite
from analytics.models import (
    Alert,
    AlertStatus,
    AnalysisRun,
    ResultChart,
    ResultRow,
    ResultSet,
    RunPart,
    RunStatus,
)


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


def part_seconds_lately(names: list[str]) -> dict[str, float]:
    """Each part's time (seconds) when it last succeeded, for the parts that ever did."""
    seconds = {}
    for name in names:
        last = (
            RunPart.objects.filter(
                name=name,
                status=RunStatus.SUCCEEDED,
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .order_by("-finished_at", "-id")
            .values_list("started_at", "finished_at")
            .first()
        )
        if last is not None and last[0] is not None and last[1] is not None:
            seconds[name] = (last[1] - last[0]).total_seconds()
    return seconds


def parts_longest_first(names: list[str]) -> list[str]:
    """The parts in the order to queue them: the longest when they last ran first, those
    never run before them all (their time is unknown), ties in the suite's order.

    Workers take the queue in order, so the longest part started last would finish alone
    while the other workers idle: with two workers at 100,000 residents, the scan (4.4 s, the
    last of the suite's order) started after 4 s of other parts and the suite ended ~2 s after
    the other worker had run out of parts (issue #20). Longest first is within 4/3 of the best
    possible finish (Graham 1969, "Bounds on multiprocessing timing anomalies")."""
    seconds = part_seconds_lately(names)
    order = {name: k for k, name in enumerate(suite.PARTS)}
    return sorted(
        names, key=lambda name: (-seconds.get(name, float("inf")), order.get(name, len(order)))
    )


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


def outcome_rows(result_set: ResultSet, outcome: str) -> list[dict[str, Any]]:
    """The result rows of one outcome that the outcome page shows as tables (one query; the
    page splits them by analysis)."""
    rows = (
        ResultRow.objects.filter(
            Q(analysis__in=OUTCOME_PAGE_ANALYSES)
            & (~Q(analysis="rates") | Q(area_code=suite.ALL_AREAS)),
            result_set=result_set,
            outcome=outcome,
        )
        .order_by("analysis", "area_code", "period", "stratum", "measure")
        .values(*suite.ROW_FIELDS)
    )
    return [dict(row) for row in rows]


OUTCOME_PAGE_ANALYSES = (
    "rates",
    "trend",
    "exposure_response",
    "biomonitoring",
    "biomonitoring_gm_ratio",
    *outcome_charts.SCAN_ANALYSES,
)
"""The analyses the outcome page shows as tables (rates of all areas only); the weekly series
are shown by their stored charts and downloaded as CSV."""


def outcome_analyses(result_set: ResultSet, outcome: str) -> list[str]:
    """The analyses with rows for the outcome (the page's download links)."""
    return list(
        ResultRow.objects.filter(result_set=result_set, outcome=outcome)
        .order_by("analysis")
        .values_list("analysis", flat=True)
        .distinct()
    )


def stored_charts(result_set: ResultSet, outcome: str, language: str) -> list[ResultChart]:
    """The charts drawn when the run's parts finished, in `language` where they were drawn in
    it, else in whichever language they were drawn (one query)."""
    charts = list(
        ResultChart.objects.filter(result_set=result_set, outcome=outcome).only(
            "key", "language", "title", "svg", "position"
        )
    )
    chosen: dict[str, ResultChart] = {}
    for chart in charts:
        if chart.key not in chosen or chart.language == language:
            chosen[chart.key] = chart
    return sorted(chosen.values(), key=lambda c: (c.position, c.key))


def chart_labels(parameters: dict[str, Any]) -> outcome_charts.Labels:
    """What the charts name outcomes, areas and sites by (read once per part)."""
    from surveys.labels import translated_labels
    from surveys.models import Area, ProductionSite, VocabularyCode

    codes = VocabularyCode.objects.values_list("code", "label", "reference_level")
    translated = translated_labels()  # the active language's (English: none)
    places = ("code", "name", "latitude", "longitude")
    return outcome_charts.Labels(
        codes={code: translated.get(code, label) for code, label, _ in codes},
        reference_levels={code: level for code, _, level in codes},
        areas={a["code"]: a for a in Area.objects.values(*places)},
        sites={s["code"]: s for s in ProductionSite.objects.values(*places)},
        per=float(parameters.get("per", suite.DEFAULT_PARAMETERS["per"])),
    )


def charts_in_languages_may_come(result_set: ResultSet | None) -> bool:
    """Whether a worker may still draw charts in the languages besides the site's (for
    `result_set`: its re-sends are not used up)."""
    if not (settings.HEALTHWATCH_CHARTS_IN_EVERY_LANGUAGE and len(settings.LANGUAGES) > 1):
        return False
    return (
        result_set is None
        or result_set.charts_translate_attempts < settings.HEALTHWATCH_RUN_MAX_ATTEMPTS
    )
