"""The epidemiologist workspace: runs, results, charts and alerts. Thin: parse → call → respond."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_http_methods, require_POST

from analytics import outcome_charts, selectors, services
from analytics.forms import AlertNoteForm, RunForm
from analytics.models import Alert, AnalysisRun, ResultSet, RunStatus
from analytics.stats import periods
from analytics.stats.results import ROW_COLUMNS
from healthwatch.roles import Role, role_required
from healthwatch.text import csv_writer
from surveys.selectors import quality_flags_for_user

EPI = (Role.EPIDEMIOLOGIST, Role.ADMIN)


@role_required(*EPI)
def workspace(request: HttpRequest) -> HttpResponse:
    """Dashboard: recent runs, open alerts, the data-quality queue, and a run form."""
    result_set = selectors.latest_complete_result_set()
    context = {
        "runs": selectors.recent_runs(),
        "alerts": selectors.open_alerts()[:20],
        "open_quality_flags": quality_flags_for_user(request.user).filter(status="open").count(),
        "form": RunForm(),
        "result_set": result_set,
        "outcomes": selectors.outcomes_of(result_set) if result_set else [],
        "labels": selectors.chart_labels(result_set.parameters if result_set else {}),
    }
    return render(request, "analytics/workspace.html", context)


@role_required(*EPI)
@require_POST
def run_start(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The run was not started: check the parameters below."))
        context = {
            "runs": selectors.recent_runs(),
            "alerts": selectors.open_alerts()[:20],
            "open_quality_flags": 0,
            "form": form,
            "labels": selectors.chart_labels({}),
        }
        return render(request, "analytics/workspace.html", context, status=400)
    run = services.analysis_run_request(user=request.user, parameters=form.cleaned_data)
    run.refresh_from_db()  # the start is sent to the queue once the run is committed
    if run.status == RunStatus.FAILED:
        messages.error(
            request,
            gettext(
                "The run could not be started: the job queue is unavailable. "
                "Try again in a few minutes."
            ),
        )
    return redirect("analytics:run", run_id=run.pk)


@role_required(*EPI)
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(AnalysisRun.objects.select_related("result_set"), pk=run_id)
    parts = run.result_set.parts.all() if run.result_set else []
    analyses = selectors.analyses_of(run.result_set) if run.result_set and run.is_finished else []
    return render(request, "analytics/run.html", {"run": run, "parts": parts, "analyses": analyses})


@role_required(*EPI)
def run_status(request: HttpRequest, run_id: int) -> JsonResponse:
    run = get_object_or_404(AnalysisRun, pk=run_id)
    return JsonResponse(
        {
            "status": run.status,
            "progress": run.progress_percent,
            "parts_done": run.parts_done,
            "parts_total": run.parts_total,
            "finished": run.is_finished,
            "error": run.error,
        }
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@role_required(*EPI)
def result_csv(request: HttpRequest, result_set_id: int, analysis: str) -> StreamingHttpResponse:
    """Every result table as CSV in the tidy contract."""
    result_set = get_object_or_404(ResultSet, pk=result_set_id)
    rows = selectors.result_rows(result_set, analysis=analysis).values_list(*ROW_COLUMNS)
    if not rows.exists():
        raise Http404("No such result table.")
    writer = csv_writer(_Echo())

    def stream() -> Any:
        yield writer.writerow(ROW_COLUMNS)
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow(["" if v is None else v for v in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="healthwatch-{analysis}-{result_set.pk}.csv"'
    )
    return response


def _flag_labels() -> dict[str, str]:
    return {
        periods.PARTIAL_PERIOD: _("incomplete period"),
        periods.LOW_PERSON_TIME: _("too few resident-years for a rate"),
    }


def _table_rows(rows: list[dict[str, Any]], labels: outcome_charts.Labels) -> list[dict[str, Any]]:
    """Rows as the tables show them: area names, the period flags as words."""
    flag_labels = _flag_labels()
    shown = []
    for row in rows:
        flags = [f for f in str(row["flags"]).split(";") if f]
        shown.append(
            {
                **row,
                "area_label": labels.area(row["area_code"]) if row["area_code"] else "",
                "measure_label": outcome_charts.measure_label(str(row["measure"])),
                "stratum_label": outcome_charts.stratum_label(str(row["stratum"])),
                "partial": periods.PARTIAL_PERIOD in flags,
                "notes": [flag_labels[f] for f in flags if f in flag_labels],
            }
        )
    return shown


@role_required(*EPI)
@gzip_page  # SVG text compresses ~5×; the page's CSRF token is masked per response (BREACH)
def outcome_detail(request: HttpRequest, outcome: str) -> HttpResponse:
    """Charts and tables of one outcome from the latest complete results. The charts are the
    ones drawn when the run's parts finished (stored with the result set); the tables come from
    one read of the outcome's rows."""
    result_set = selectors.latest_complete_result_set()
    if result_set is None:
        messages.info(request, _("No analysis has finished yet: start a run first."))
        return redirect("analytics:workspace")
    rows = selectors.outcome_rows(result_set, outcome)
    language = translation.get_language()
    stored = selectors.stored_charts(result_set, outcome, language)
    # Until a worker draws them in the reader's language, the charts are the site's: say so.
    charts_in = next((c.language for c in stored if c.language != language), "")
    if not rows and not stored:
        raise Http404("No results for this outcome.")
    labels = selectors.chart_labels(result_set.parameters)
    by_analysis: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_analysis.setdefault(row["analysis"], []).append(row)

    tables: list[dict[str, Any]] = []

    def table(key: str, title: str, table_rows: list[dict[str, Any]]) -> None:
        if table_rows:
            tables.append({"key": key, "title": title, "rows": _table_rows(table_rows, labels)})

    table("rates", _("Rates, all areas"), outcome_charts.rate_series(rows, labels.per))
    table("trend", _("Annual percent change (complete years)"), by_analysis.get("trend", []))
    table("exposure", _("Exposure–response"), by_analysis.get("exposure_response", []))
    table("biomonitoring", _("Biomonitoring"), by_analysis.get("biomonitoring", []))
    table(
        "gm_ratio",
        _("Adjusted geometric-mean ratios"),
        by_analysis.get("biomonitoring_gm_ratio", []),
    )
    scan_maps = {c.key: c for c in stored if c.key in outcome_charts.SCAN_ANALYSES}
    scans = []
    for analysis in outcome_charts.SCAN_ANALYSES:
        section = outcome_charts.scan_section(rows, analysis, labels, outcome)
        if section is not None:
            chart = scan_maps.get(analysis)
            section["svg"] = chart.svg if chart else ""
            scans.append(section)
    return render(
        request,
        "analytics/outcome.html",
        {
            "outcome": outcome,
            "outcome_label": labels.outcome(outcome),
            "figures": [c for c in stored if c.key not in outcome_charts.SCAN_ANALYSES],
            "charts_in": translation.get_language_info(charts_in) if charts_in else None,
            "charts_may_come": selectors.charts_in_languages_may_come(result_set),
            "tables": tables,
            "scans": scans,
            "result_set": result_set,
            "data_end_note": outcome_charts.data_end_note(result_set.data_end),
            "min_person_years": f"{periods.MIN_PERSON_YEARS:g}",
            "analyses": selectors.outcome_analyses(result_set, outcome),
        },
    )


@role_required(*EPI)
@require_http_methods(["GET", "POST"])
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    form = AlertNoteForm(request.POST or None, initial={"annotation": alert.annotation})
    if request.method == "POST" and form.is_valid():
        if "acknowledge" in request.POST:
            services.alert_acknowledge(
                user=request.user, alert=alert, annotation=form.cleaned_data["annotation"]
            )
            messages.success(request, _("Alert acknowledged."))
        else:
            services.alert_annotate(
                user=request.user, alert=alert, annotation=form.cleaned_data["annotation"]
            )
            messages.success(request, _("Note saved."))
        return redirect("analytics:alert", alert_id=alert.pk)
    history = alert.history.all()[:20]  # type: ignore[attr-defined]
    return render(
        request,
        "analytics/alert.html",
        {"alert": alert, "form": form, "history": history, "labels": selectors.chart_labels({})},
    )
