"""The epidemiologist workspace: runs, results, charts and alerts. Thin: parse → call → respond."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from analytics import charts, selectors, services, suite
from analytics.forms import AlertNoteForm, RunForm
from analytics.models import Alert, AnalysisRun, ResultSet, RunStatus
from analytics.stats.results import ROW_COLUMNS
from healthwatch.roles import Role, role_required
from healthwatch.text import csv_writer
from surveys.models import Area, ProductionSite, VocabularyCode
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
    }
    return render(request, "analytics/workspace.html", context)


@role_required(*EPI)
@require_POST
def run_start(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The run was not started: check the parameters below.")
        context = {
            "runs": selectors.recent_runs(),
            "alerts": selectors.open_alerts()[:20],
            "open_quality_flags": 0,
            "form": form,
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


def _rows(result_set: ResultSet, **filters: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in selectors.result_rows(result_set, **filters).values()]


@role_required(*EPI)
def outcome_detail(request: HttpRequest, outcome: str) -> HttpResponse:
    """Charts and tables of one outcome from the latest complete results."""
    result_set = selectors.latest_complete_result_set()
    if result_set is None:
        messages.info(request, "No analysis has finished yet: start a run first.")
        return redirect("analytics:workspace")
    figures: list[dict[str, str]] = []
    tables: dict[str, list[dict[str, Any]]] = {}

    rates = _rows(
        result_set,
        analysis="rates",
        outcome=outcome,
        area_code=suite.ALL_AREAS,
        measure="dsr_per_1000",
    )
    if not rates:
        rates = _rows(result_set, analysis="rates", outcome=outcome, area_code=suite.ALL_AREAS)
    if rates:
        measure = rates[0]["measure"]
        series = [r for r in rates if r["measure"] == measure]
        figures.append(
            {
                "title": "Trend",
                "svg": charts.trend_chart(
                    series,
                    title=f"{outcome}: {measure.replace('_', ' ')}, all areas",
                    ylabel="per 1,000 resident-years",
                ),
            }
        )
        tables["Rates, all areas"] = series
    trend = _rows(result_set, analysis="trend", outcome=outcome)
    if trend:
        tables["Annual percent change"] = trend

    exposure = _rows(result_set, analysis="exposure_response", outcome=outcome)
    ratios = [r for r in exposure if "rate_ratio" in r["measure"] and r["estimate"]]
    if ratios:
        figures.append(
            {
                "title": "Exposure–response",
                "svg": charts.forest_chart(
                    [
                        {**r, "label": f"{r['stratum']} ({r['measure'].replace('_', ' ')})"}
                        for r in ratios
                    ],
                    title=f"{outcome}: rate ratios",
                ),
            }
        )
        tables["Exposure–response"] = exposure

    weekly = _rows(result_set, analysis="aberration", outcome=outcome)
    if weekly:
        by_area: dict[str, dict[str, dict[str, Any]]] = {}
        for row in weekly:
            week = by_area.setdefault(row["area_code"], {}).setdefault(
                row["period"], {"period": row["period"]}
            )
            week[row["measure"]] = row["estimate"]
            if row["measure"] == "alarm" and "undetermined" in row["flags"].split(";"):
                week["undetermined"] = True
        for area, weeks in sorted(by_area.items()):
            ordered = [weeks[k] for k in sorted(weeks)]
            for week in ordered:
                week["alarm"] = bool(week.get("alarm"))
            figures.append(
                {
                    "title": f"Weekly cases, area {area}",
                    "svg": charts.weekly_chart(
                        ordered, title=f"{outcome}: weekly cases in area {area}"
                    ),
                }
            )

    biomarker = _rows(
        result_set, analysis="biomonitoring", outcome=outcome, measure="geometric_mean"
    )
    if biomarker:
        figures.append(
            {
                "title": "Biomonitoring",
                "svg": charts.group_chart(
                    [{**r, "label": r["stratum"].replace("distance_band=", "")} for r in biomarker],
                    title=f"{outcome}: geometric mean by distance band",
                    ylabel="geometric mean",
                    reference=VocabularyCode.objects.filter(code=outcome)
                    .values_list("reference_level", flat=True)
                    .first(),
                ),
            }
        )
        tables["Biomonitoring"] = _rows(result_set, analysis="biomonitoring", outcome=outcome)
        tables["Adjusted geometric-mean ratios"] = _rows(
            result_set, analysis="biomonitoring_gm_ratio", outcome=outcome
        )
    scans = [
        section
        for analysis in SCAN_ANALYSES
        if (section := _scan_section(result_set, outcome, analysis)) is not None
    ]
    if not figures and not tables and not scans:
        raise Http404("No results for this outcome.")
    return render(
        request,
        "analytics/outcome.html",
        {
            "outcome": outcome,
            "figures": figures,
            "tables": tables,
            "scans": scans,
            "result_set": result_set,
            "analyses": selectors.analyses_of(result_set),
        },
    )


SCAN_ANALYSES = ("spatial_scan_site", "spatial_scan")


def _cell_position(label: str) -> tuple[float, float] | None:
    """A grid cell's label is its centre, "latitude,longitude"."""
    try:
        lat, lon = (float(part) for part in label.split(","))
    except ValueError:
        return None
    return lat, lon


def _scan_section(result_set: ResultSet, outcome: str, analysis: str) -> dict[str, Any] | None:
    """The scan's clusters and its map-ready table (one row per location with coordinates,
    observed, expected, their ratio and the cluster it belongs to), and the map."""
    rows = _rows(result_set, analysis=analysis, outcome=outcome)
    if not rows:
        return None
    areas = {a.code: a for a in Area.objects.all()}
    sites = {s.code: s for s in ProductionSite.objects.all()}

    def place(code: str) -> tuple[str, float | None, float | None]:
        if code in sites:
            return sites[code].name, sites[code].latitude, sites[code].longitude
        if code in areas:
            return areas[code].name, areas[code].latitude, areas[code].longitude
        position = _cell_position(code)
        if position is not None:
            return _("grid cell at %(lat).4f, %(lon).4f") % {
                "lat": position[0],
                "lon": position[1],
            }, *position
        return code, None, None

    clusters: dict[str, dict[str, Any]] = {}
    locations = []
    for row in rows:
        if row["stratum"] == "location":
            name, lat, lon = place(row["area_code"])
            cluster = row["flags"].removeprefix("cluster=") if row["flags"] else ""
            locations.append(
                {
                    "code": row["area_code"],
                    "name": name,
                    "latitude": lat,
                    "longitude": lon,
                    "observed": row["numerator"],
                    "expected": row["denominator"],
                    "ratio": row["estimate"],
                    "cluster": cluster,
                    "p_value": row["p_value"],
                }
            )
            continue
        cluster = clusters.setdefault(row["stratum"], {"rank": row["stratum"].split("=")[1]})
        cluster[row["measure"]] = row["estimate"]
        if row["measure"] == "relative_risk":
            name, lat, lon = place(row["area_code"])
            cluster.update(
                code=row["area_code"],
                name=name,
                latitude=lat,
                longitude=lon,
                observed=row["numerator"],
                expected=row["denominator"],
                p_value=row["p_value"],
                significant="significant" in row["flags"].split(";"),
            )
    ordered = sorted(clusters.values(), key=lambda c: int(c["rank"]))
    significant_ranks = {c["rank"] for c in ordered if c.get("significant")}
    for location in locations:
        location["significant"] = location["cluster"] in significant_ranks
    title = (
        _("%(outcome)s: raised risk around the production sites")
        if analysis == "spatial_scan_site"
        else _("%(outcome)s: spatial clusters over the areas")
    ) % {"outcome": outcome}
    mapped = [loc for loc in locations if loc["latitude"] is not None]
    svg = charts.scan_map(
        mapped,
        sites=[
            {"label": s.name, "latitude": s.latitude, "longitude": s.longitude}
            for s in sites.values()
        ],
        clusters=[c for c in ordered if c.get("latitude") is not None],
        title=title,
    )
    return {
        "analysis": analysis,
        "title": title,
        "site_centred": analysis == "spatial_scan_site",
        "svg": svg,
        "clusters": ordered,
        "locations": sorted(locations, key=lambda loc: (loc["cluster"] == "", loc["code"])),
    }


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
            messages.success(request, "Alert acknowledged.")
        else:
            services.alert_annotate(
                user=request.user, alert=alert, annotation=form.cleaned_data["annotation"]
            )
            messages.success(request, "Note saved.")
        return redirect("analytics:alert", alert_id=alert.pk)
    history = alert.history.all()[:20]  # type: ignore[attr-defined]
    return render(
        request, "analytics/alert.html", {"alert": alert, "form": form, "history": history}
    )
