"""The field UI: server-rendered pages for health workers (and the epidemiologists' review pages).

Views are thin: a form parses the request, a service writes (or a selector reads), the view
responds. Every read goes through a `surveys.selectors` chokepoint, so a health worker of area B
gets 404 for anything of area A. Study IDs arrive only in POST bodies, are handed to the
services (which pseudonymize them) and are never logged, put in a URL or shown again except in
the input they were typed into.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from healthwatch.roles import Role, role_required
from healthwatch.text import csv_writer
from surveys import audit, selectors, services
from surveys.forms import (
    QUEUE_RULE_LABELS,
    VISIT_CATEGORIES,
    AuditFilterForm,
    BulkResolveForm,
    FindResidentForm,
    ImportForm,
    MeasurementForm,
    MeasurementStatusForm,
    QueueFilterForm,
    RegisterResidentForm,
    StationForm,
    VisitEditForm,
    VisitForm,
)
from surveys.labels import code_label
from surveys.models import (
    CodeCategory,
    ImportJobStatus,
    QualityFlagStatus,
)
from surveys.validation import ValidationProblem

FIELD_ROLES = (Role.HEALTH_WORKER, Role.ADMIN)
READ_ROLES = (Role.HEALTH_WORKER, Role.EPIDEMIOLOGIST, Role.ADMIN)
REVIEW_ROLES = (Role.EPIDEMIOLOGIST, Role.ADMIN)
# Who may import what is decided by surveys.importing.may_import: admins everything, health
# workers stations, measurements and the residents and observations of their areas.
IMPORT_ROLES = (Role.HEALTH_WORKER, Role.ADMIN)
RECENT_VISITS_PER_PAGE = 25


def _log_staff_read(request: HttpRequest, resource: str, detail: str, rows: int = 1) -> None:
    """Record-level reads by epidemiologists and admins are logged (who, when, what)."""
    if selectors.sees_all_records(request.user):  # type: ignore[arg-type]
        services.record_access_log(
            user=request.user,  # type: ignore[arg-type]
            action="read",
            resource=resource,
            detail=detail,
            row_count=rows,
        )


def _visit_codes(request: HttpRequest) -> list[Any]:
    return list(
        selectors.vocabulary_for_user(request.user)  # type: ignore[arg-type]
        .filter(active=True, category__in=VISIT_CATEGORIES)
        .order_by("category", "code")
    )


def _invalid(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """A form with problems is shown again, with its messages, as 400 Bad Request."""
    return render(request, template, context, status=400)


# --- Residents -------------------------------------------------------------------------------


@role_required(*FIELD_ROLES)
@require_http_methods(["GET"])
def workspace(request: HttpRequest) -> HttpResponse:
    recent = selectors.visits_recorded_by(request.user)[:5]  # type: ignore[arg-type]
    return render(
        request, "surveys/workspace.html", {"find_form": FindResidentForm(), "recent": recent}
    )


@role_required(*FIELD_ROLES)
@sensitive_post_parameters("study_id")
@require_http_methods(["GET", "POST"])
def find_resident(request: HttpRequest) -> HttpResponse:
    """POST a study ID: go to the resident if known in my areas, else offer to register them."""
    if request.method != "POST":
        return redirect("surveys:workspace")
    form = FindResidentForm(request.POST)
    if form.is_valid():
        try:
            resident = services.resident_find(
                user=request.user,  # type: ignore[arg-type]
                study_id=form.cleaned_data["study_id"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            if resident is not None:
                return redirect("surveys:resident", pk=resident.pk)
            register = RegisterResidentForm(
                initial={"study_id": form.cleaned_data["study_id"]},
                areas=selectors.areas_for_user(request.user),  # type: ignore[arg-type]
            )
            return render(request, "surveys/resident_register.html", {"form": register, "new": 1})
    return _invalid(request, "surveys/workspace.html", {"find_form": form, "recent": []})


@role_required(*FIELD_ROLES)
@sensitive_post_parameters("study_id", "latitude", "longitude")
@require_http_methods(["GET", "POST"])
def register_resident(request: HttpRequest) -> HttpResponse:
    areas = selectors.areas_for_user(request.user)  # type: ignore[arg-type]
    form = RegisterResidentForm(request.POST or None, areas=areas)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            resident = services.resident_register(
                user=request.user,  # type: ignore[arg-type]
                study_id=data["study_id"],
                area=data["area"],
                birth_year=data["birth_year"],
                sex=data["sex"],
                enrolled_on=data["enrolled_on"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                works_at_site=data["works_at_site"],
                smoking=data["smoking"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            messages.success(
                request, gettext("Resident #%(number)s registered.") % {"number": resident.pk}
            )
            return redirect("surveys:resident", pk=resident.pk)
    context = {"form": form}
    if request.method == "POST":
        return _invalid(request, "surveys/resident_register.html", context)
    return render(request, "surveys/resident_register.html", context)


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def resident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    resident = get_object_or_404(
        selectors.residents_for_user(user).select_related("area", "nearest_site"),  # type: ignore[arg-type]
        pk=pk,
    )
    visits = (
        selectors.visits_for_user(user)  # type: ignore[arg-type]
        .filter(resident=resident)
        .select_related("health_worker")
        .annotate(n_observations=Count("observations"))
    )
    _log_staff_read(request, "resident", f"resident {resident.pk} and its visits")
    return render(
        request,
        "surveys/resident_detail.html",
        {
            "resident": resident,
            "visits": visits,
            "history_readable": audit.may_read_history(user, "resident", resident.pk),  # type: ignore[arg-type]
        },
    )


# --- Visits ----------------------------------------------------------------------------------


@role_required(*FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def visit_create(request: HttpRequest, pk: int) -> HttpResponse:
    resident = get_object_or_404(
        selectors.residents_for_user(request.user).select_related("area"),  # type: ignore[arg-type]
        pk=pk,
    )
    form = VisitForm(request.POST or None, codes=_visit_codes(request))
    if request.method == "POST":
        if form.is_valid():
            try:
                visit = services.visit_record(
                    user=request.user,  # type: ignore[arg-type]
                    resident=resident,
                    visited_on=form.cleaned_data["visited_on"],
                    observations=form.observations(),
                    submission_key=form.cleaned_data.get("submission_key"),
                )
            except ValidationProblem as problem:
                form.add_service_errors(problem.errors)
            except services.AccessDenied as denied:
                raise PermissionDenied(str(denied)) from None
            else:
                messages.success(
                    request,
                    gettext("Visit of %(date)s saved.")
                    % {"date": date_format(visit.visited_on, "SHORT_DATE_FORMAT")},
                )
                return redirect("surveys:visit", pk=visit.pk)
        return _invalid(
            request, "surveys/visit_form.html", {"form": form, "resident": resident, "edit": False}
        )
    return render(
        request, "surveys/visit_form.html", {"form": form, "resident": resident, "edit": False}
    )


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    visit = get_object_or_404(
        selectors.visits_for_user(user).select_related(  # type: ignore[arg-type]
            "resident", "resident__area", "health_worker"
        ),
        pk=pk,
    )
    observations = (
        selectors.observations_for_user(user)  # type: ignore[arg-type]
        .filter(visit=visit)
        .select_related("code")
        .order_by("code__category", "code__code")
    )
    flags = selectors.quality_flags_for_user(user).filter(  # type: ignore[arg-type]
        Q(visit=visit) | Q(observation__visit=visit)
    )
    _log_staff_read(request, "visit", f"visit {visit.pk}", rows=1)
    return render(
        request,
        "surveys/visit_detail.html",
        {
            "visit": visit,
            "observations": observations,
            "flags": flags,
            "history_readable": audit.may_read_history(user, "visit", visit.pk),  # type: ignore[arg-type]
        },
    )


@role_required(*FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def visit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(
        selectors.visits_for_user(request.user).select_related("resident"),  # type: ignore[arg-type]
        pk=pk,
    )
    codes = _visit_codes(request)
    if request.method == "POST":
        form = VisitEditForm(request.POST, codes=codes)
        if form.is_valid():
            try:
                services.visit_edit(
                    user=request.user,  # type: ignore[arg-type]
                    visit=visit,
                    visited_on=form.cleaned_data["visited_on"],
                    observations=form.observations(),
                    reason=form.cleaned_data["reason"],
                )
            except ValidationProblem as problem:
                form.add_service_errors(problem.errors)
            except services.AccessDenied as denied:
                raise PermissionDenied(str(denied)) from None
            else:
                messages.success(
                    request, gettext("Visit changed; the reason is in the audit trail.")
                )
                return redirect("surveys:visit", pk=visit.pk)
        context = {"form": form, "resident": visit.resident, "visit": visit, "edit": True}
        return _invalid(request, "surveys/visit_form.html", context)
    form = VisitEditForm(initial=VisitForm.initial_for(visit), codes=codes)
    return render(
        request,
        "surveys/visit_form.html",
        {"form": form, "resident": visit.resident, "visit": visit, "edit": True},
    )


@role_required(*FIELD_ROLES)
@require_http_methods(["GET"])
def my_visits(request: HttpRequest) -> HttpResponse:
    visits = selectors.visits_recorded_by(request.user).annotate(  # type: ignore[arg-type]
        n_observations=Count("observations")
    )
    page = Paginator(visits, RECENT_VISITS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "surveys/my_visits.html", {"page": page})


# --- Offline outbox (surveys/static/surveys/outbox.js, sw.js) --------------------------------


@role_required(*FIELD_ROLES)
@require_http_methods(["GET"])
def offline_visit(request: HttpRequest) -> HttpResponse:
    """The visit form for the phone's outbox: the resident is filled in on the phone (a known
    resident or one registered offline). Saved visits go to the outbox, never straight here."""
    form = VisitForm(codes=_visit_codes(request))
    return render(request, "surveys/visit_offline.html", {"form": form})


@role_required(*FIELD_ROLES)
@sensitive_post_parameters("register-study_id", "register-latitude", "register-longitude")
@require_POST
def outbox_send(request: HttpRequest) -> JsonResponse:
    """One outbox item from a phone: a visit (the visit form's fields and its submission_key)
    of a known resident (`resident`) or of one registered offline (`register-…` fields).

    Answers JSON: 201 stored, 200 the key's visit stored earlier, 400 refused with the field
    messages ({"errors": [{"field", "label", "message"}]}) for the phone to show on the item.
    """
    user = request.user
    form = VisitForm(request.POST, codes=_visit_codes(request))
    register = None
    resident = None
    problems: list[dict[str, str]] = []
    if request.POST.get("resident"):
        resident = (
            selectors.residents_for_user(user)
            .filter(  # type: ignore[arg-type]
                pk=request.POST["resident"] if request.POST["resident"].isdigit() else 0
            )
            .first()
        )
        if resident is None:
            problems.append(
                {
                    "field": "resident",
                    "label": gettext("Resident"),
                    "message": gettext("This resident is not in an area you are assigned to."),
                }
            )
    else:
        register = RegisterResidentForm(
            request.POST,
            prefix="register",
            areas=selectors.areas_for_user(user),  # type: ignore[arg-type]
        )
        problems += _form_problems(register)
    problems += _form_problems(form)
    if not problems and form.cleaned_data.get("submission_key") is None:
        problems.append(
            {
                "field": "submission_key",
                "label": gettext("Submission key"),
                "message": gettext("An outbox item needs its submission key."),
            }
        )
    if problems:
        return JsonResponse({"errors": problems}, status=400)
    registration = None
    if register is not None:
        registration = services.ResidentRegistration(**register.cleaned_data)
    try:
        result = services.outbox_visit_submit(
            user=user,  # type: ignore[arg-type]
            resident=resident,
            registration=registration,
            visited_on=form.cleaned_data["visited_on"],
            observations=form.observations(),
            submission_key=form.cleaned_data["submission_key"],
        )
    except ValidationProblem as problem:
        forms_by_prefix: list[tuple[Any, str]] = [(form, "")]
        if register is not None:
            forms_by_prefix.insert(0, (register, "register-"))
        return JsonResponse(
            {"errors": [_problem(forms_by_prefix, e.field, e.message) for e in problem.errors]},
            status=400,
        )
    except services.AccessDenied as denied:
        raise PermissionDenied(str(denied)) from None
    return JsonResponse(
        {
            "visit": result.visit.pk,
            "resident": result.resident.pk,
            "url": reverse("surveys:visit", args=[result.visit.pk]),
            "stored_before": not result.visit_created,
        },
        status=201 if result.visit_created else 200,
    )


def _form_problems(form: Any) -> list[dict[str, str]]:
    if form.is_valid():
        return []
    prefix = f"{form.prefix}-" if form.prefix else ""
    return [
        _problem([(form, prefix)], prefix + name if name != "__all__" else "", message)
        for name, messages_ in form.errors.items()
        for message in messages_
    ]


def _problem(forms_: list[tuple[Any, str]], field: str, message: str) -> dict[str, str]:
    """A refusal as the phone shows it: the input's name, its label, the message."""
    label = ""
    for form, prefix in forms_:
        name = field.removeprefix(prefix) if prefix else field
        if (prefix == "" or field.startswith(prefix)) and name in form.fields:
            label = str(form.fields[name].label or name)
            field = prefix + name
            break
    return {"field": field, "label": label, "message": str(message)}


@role_required(*FIELD_ROLES)
@require_http_methods(["GET"])
def service_worker(request: HttpRequest) -> HttpResponse:
    """surveys/static/surveys/sw.js, from /field/ so that it may control the field pages (a
    worker's scope is the folder it is served from). Never cached by the browser's HTTP cache,
    so a new version is picked up at the next visit."""
    path = finders.find("surveys/sw.js")
    if not path:
        raise Http404
    with open(path, encoding="utf-8") as script:  # type: ignore[arg-type]
        response = HttpResponse(script.read(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


# --- Environmental monitoring ----------------------------------------------------------------


@role_required(*FIELD_ROLES)
@require_http_methods(["GET"])
def station_list(request: HttpRequest) -> HttpResponse:
    stations = selectors.stations_for_user(request.user).annotate(  # type: ignore[arg-type]
        n_measurements=Count("measurements")
    )
    return render(request, "surveys/station_list.html", {"stations": stations})


@role_required(*FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def station_create(request: HttpRequest) -> HttpResponse:
    form = StationForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                station = services.station_register(
                    user=request.user,  # type: ignore[arg-type]
                    **form.cleaned_data,
                )
            except ValidationProblem as problem:
                form.add_service_errors(problem.errors)
            else:
                messages.success(
                    request, gettext("Station %(code)s added.") % {"code": station.code}
                )
                return redirect("surveys:station", pk=station.pk)
        return _invalid(request, "surveys/station_form.html", {"form": form})
    return render(request, "surveys/station_form.html", {"form": form})


@role_required(*FIELD_ROLES)
@require_http_methods(["GET"])
def station_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    station = get_object_or_404(selectors.stations_for_user(user), pk=pk)  # type: ignore[arg-type]
    measurements = (
        selectors.measurements_for_user(user)  # type: ignore[arg-type]
        .filter(station=station)
        .select_related("pollutant")
        .order_by("-sampled_on", "pollutant__code")
    )
    page = Paginator(measurements, 50).get_page(request.GET.get("page"))
    return render(request, "surveys/station_detail.html", {"station": station, "page": page})


@role_required(*FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def measurement_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    station = get_object_or_404(selectors.stations_for_user(user), pk=pk)  # type: ignore[arg-type]
    pollutants = list(
        selectors.vocabulary_for_user(user).filter(  # type: ignore[arg-type]
            active=True, category=CodeCategory.POLLUTANT
        )
    )
    form = MeasurementForm(request.POST or None, station=station, pollutants=pollutants)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.measurement_record(
                    user=user,  # type: ignore[arg-type]
                    station=station,
                    sampled_on=data["sampled_on"],
                    pollutant=data["pollutant"],
                    value=data["value"],
                    unit=form.unit_for_service(),
                    below_lod=data["below_lod"],
                    lod=data["lod"],
                    status=data["status"],
                )
            except ValidationProblem as problem:
                form.add_service_errors(problem.errors)
            else:
                messages.success(request, gettext("Measurement saved."))
                return redirect("surveys:station", pk=station.pk)
        return _invalid(
            request, "surveys/measurement_form.html", {"form": form, "station": station}
        )
    return render(request, "surveys/measurement_form.html", {"form": form, "station": station})


@role_required(*FIELD_ROLES)
@require_http_methods(["GET", "POST"])
def measurement_status(request: HttpRequest, pk: int) -> HttpResponse:
    measurement = get_object_or_404(
        selectors.measurements_for_user(request.user).select_related(  # type: ignore[arg-type]
            "station", "pollutant"
        ),
        pk=pk,
    )
    form = MeasurementStatusForm(request.POST or None, initial={"status": measurement.status})
    context = {"form": form, "measurement": measurement}
    if request.method == "POST":
        if form.is_valid():
            try:
                services.measurement_set_status(
                    user=request.user,  # type: ignore[arg-type]
                    measurement=measurement,
                    status=form.cleaned_data["status"],
                    reason=form.cleaned_data["reason"],
                )
            except ValidationProblem as problem:
                form.add_service_errors(problem.errors)
            else:
                messages.success(
                    request,
                    gettext("Measurement marked %(status)s.")
                    % {"status": measurement.get_status_display()},
                )
                return redirect("surveys:station", pk=measurement.station_id)
        return _invalid(request, "surveys/measurement_status.html", context)
    return render(request, "surveys/measurement_status.html", context)


# --- Audit trail (staff: every record; health workers: what they created or edited) -----------


AUDIT_PER_PAGE = 25


def _audit(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """The history of one record: 404 unless the person may read it (surveys.audit)."""
    entries = audit.record_history(request.user, kind, pk)  # type: ignore[arg-type]
    if entries is None:
        raise Http404(f"No {kind} {pk}.")
    _log_staff_read(request, f"audit:{kind}", f"history of {kind} {pk}", rows=len(entries))
    entries.reverse()  # newest first, as in the list
    return render(
        request,
        "surveys/audit_trail.html",
        {
            "kind": kind,
            "pk": pk,
            "entries": entries,
            "record": entries[0].record if entries else "",
        },
    )


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def audit_resident(request: HttpRequest, pk: int) -> HttpResponse:
    return _audit(request, "resident", pk)


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def audit_visit(request: HttpRequest, pk: int) -> HttpResponse:
    return _audit(request, "visit", pk)


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def audit_measurement(request: HttpRequest, pk: int) -> HttpResponse:
    return _audit(request, "measurement", pk)


def _audit_filter(request: HttpRequest) -> tuple[AuditFilterForm, audit.AuditFilter]:
    form = AuditFilterForm(request.GET, people=audit.audit_people(request.user))  # type: ignore[arg-type]
    return form, form.audit_filter()


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def audit_list(request: HttpRequest) -> HttpResponse:
    """Changes people made, newest first, filtered by record type, person and date."""
    form, wanted = _audit_filter(request)
    entries = audit.audit_entries(request.user, wanted)  # type: ignore[arg-type]
    page = Paginator(entries, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    _log_staff_read(request, "audit", f"audit trail {kept.urlencode()}"[:500], rows=len(entries))
    return render(
        request,
        "surveys/audit_list.html",
        {"form": form, "page": page, "kept": kept.urlencode(), "limit": audit.MAX_RECORDS},
    )


@role_required(*READ_ROLES)
@require_http_methods(["GET"])
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered changes as CSV, one row per changed field, every cell formula-neutralized."""
    _form, wanted = _audit_filter(request)
    entries = audit.audit_entries(request.user, wanted)  # type: ignore[arg-type]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    writer = csv_writer(response, lineterminator="\n")
    writer.writerow(audit.CSV_HEADER)
    writer.writerows(audit.audit_csv_rows(entries))
    if selectors.sees_all_records(request.user):  # type: ignore[arg-type]
        services.record_access_log(
            user=request.user,  # type: ignore[arg-type]
            action="export",
            resource="audit",
            detail=f"audit trail CSV {request.GET.urlencode()}",
            row_count=len(entries),
        )
    return response


# --- Data-quality review queue (epidemiologists and admins) ----------------------------------


_FLAG_ID = re.compile(r"[0-9]{1,18}")


def _flag_ids(request: HttpRequest) -> list[int]:
    """The ticked flags' ids; anything that is not a plain decimal id is ignored (``"²"``
    passes ``str.isdigit`` but not ``int``)."""
    return [int(pk) for pk in request.POST.getlist("flag") if _FLAG_ID.fullmatch(pk)]


QUEUE_PER_PAGE = 25


def _queue(
    request: HttpRequest, bulk: BulkResolveForm | None = None, status: int = 200
) -> HttpResponse:
    """The open flags, filtered and sorted by the query string, 25 a page, with one form to
    resolve the selected ones; counts by rule; the last reviewed flags."""
    user = request.user
    query = request.GET if request.method == "GET" else _queue_query(request.POST.get("query"))
    filters = QueueFilterForm(query, choices=selectors.quality_queue_choices(user))  # type: ignore[arg-type]
    wanted = filters.queue_filter()
    flags = selectors.quality_queue(user, wanted)  # type: ignore[arg-type]
    page = Paginator(flags, QUEUE_PER_PAGE).get_page(query.get("page"))
    page.object_list = list(page.object_list)
    for flag in page.object_list:  # the vocabulary label in the reader's language
        if flag.code_label:  # type: ignore[attr-defined]
            flag.code_label = code_label(flag.code_value, flag.code_label)  # type: ignore[attr-defined]
    counts = selectors.quality_queue_counts_by_rule(user, wanted)  # type: ignore[arg-type]
    kept = query.copy()
    kept.pop("page", None)
    by_rule = []
    for kind, label in QUEUE_RULE_LABELS.items():
        link = kept.copy()
        link["rule"] = kind
        by_rule.append((kind, label, counts[kind], link.urlencode(), wanted.rule == kind))
    without_rule = kept.copy()
    without_rule.pop("rule", None)
    reviewed = (
        selectors.quality_flags_for_user(user)  # type: ignore[arg-type]
        .exclude(status=QualityFlagStatus.OPEN)
        .select_related("reviewed_by", "observation__code")
        .order_by("-reviewed_at")[:10]
    )
    selected = set(_flag_ids(request))
    _log_staff_read(request, "quality_flags", "open review queue", rows=len(page.object_list))
    context = {
        "page": page,
        "filters": filters,
        "by_rule": by_rule,
        "all_rules": without_rule.urlencode(),
        "total": sum(counts.values()),
        "kept": kept.urlencode(),
        "bulk": bulk or BulkResolveForm(initial={"query": kept.urlencode()}),
        "selected": selected,
        "rule_labels": QUEUE_RULE_LABELS,
        "reviewed": reviewed,
    }
    return render(request, "surveys/quality_queue.html", context, status=status)


def _queue_query(raw: str | None) -> QueryDict:
    """The queue's query string carried through the bulk form (only the queue's own keys)."""
    parsed = QueryDict(raw or "")
    kept = QueryDict(mutable=True)
    for key in (*QueueFilterForm.base_fields, "page"):
        if key in parsed:
            kept[key] = parsed[key]
    return kept


@role_required(*REVIEW_ROLES)
@require_http_methods(["GET"])
def quality_queue(request: HttpRequest) -> HttpResponse:
    return _queue(request)


@role_required(*REVIEW_ROLES)
@require_POST
def quality_resolve(request: HttpRequest) -> HttpResponse:
    """Resolve the selected flags with one outcome and one note (exactly once)."""
    return _resolve(request, _flag_ids(request))


@role_required(*REVIEW_ROLES)
@require_POST
def quality_review(request: HttpRequest, pk: int) -> HttpResponse:
    """One flag (the form of earlier versions): the same service as a selection of one."""
    flag = get_object_or_404(selectors.quality_flags_for_user(request.user), pk=pk)  # type: ignore[arg-type]
    return _resolve(request, [flag.pk])


def _resolve(request: HttpRequest, ids: list[int]) -> HttpResponse:
    form = BulkResolveForm(request.POST)
    if form.is_valid():
        try:
            done = services.quality_flags_resolve(
                user=request.user,  # type: ignore[arg-type]
                flag_ids=ids,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            outcome = dict(form.fields["status"].choices)[form.cleaned_data["status"]]  # type: ignore[attr-defined]
            if done.resolved:
                n = len(done.resolved)
                messages.success(
                    request,
                    ngettext(
                        "%(n)d flag resolved: %(outcome)s.", "%(n)d flags resolved: %(outcome)s.", n
                    )
                    % {"n": n, "outcome": outcome},
                )
            if done.already_reviewed:
                n = len(done.already_reviewed)
                messages.info(
                    request,
                    ngettext(
                        "%(n)d flag had already been reviewed and was left as it was.",
                        "%(n)d flags had already been reviewed and were left as they were.",
                        n,
                    )
                    % {"n": n},
                )
            query = _queue_query(form.cleaned_data["query"])
            query.pop("page", None)  # the page's rows are gone: back to the first page
            url = reverse("surveys:quality_queue")
            return redirect(f"{url}?{query.urlencode()}" if query else url)
    return _queue(request, form, 400)


# --- CSV upload --------------------------------------------------------------------------------


@role_required(*IMPORT_ROLES)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST":
        if form.is_valid():
            from surveys.importing import import_csv  # the importer is its own module

            upload = form.cleaned_data["file"]
            if upload.size > settings.HEALTHWATCH_IMPORT_INLINE_MAX_BYTES:
                return _import_as_job(request, form, upload)
            try:
                report = import_csv(
                    kind=form.cleaned_data["kind"],
                    stream=upload,
                    file_name=upload.name,
                    user=request.user,  # type: ignore[arg-type]
                    dry_run=form.cleaned_data["dry_run"],
                )
            except ValidationProblem as problem:
                form.add_service_errors(problem.errors)
            except services.AccessDenied as denied:  # e.g. sites and areas are for admins
                form.add_error("kind", str(denied))
        status = 200 if report is not None and not report.errors else 400
        shown = report.for_http() if report is not None else None
        return render(
            request, "surveys/import.html", {"form": form, "report": shown}, status=status
        )
    return render(request, "surveys/import.html", {"form": form, "report": None})


def _import_as_job(request: HttpRequest, form: ImportForm, upload: Any) -> HttpResponse:
    """A big file is imported by a worker; the person follows it on the job's page."""
    from surveys.importing.jobs import import_job_submit

    try:
        job = import_job_submit(
            user=request.user,  # type: ignore[arg-type]
            kind=form.cleaned_data["kind"],
            upload=upload,
            file_name=upload.name,
            size=upload.size,
            dry_run=form.cleaned_data["dry_run"],
        )
    except services.AccessDenied as denied:
        form.add_error("kind", str(denied))
        return render(request, "surveys/import.html", {"form": form, "report": None}, status=400)
    job.refresh_from_db()  # the queue is asked once the job is committed
    if job.status == ImportJobStatus.FAILED:
        messages.error(request, job.error_message)
    return redirect("surveys:import_job", pk=job.pk)


@role_required(*IMPORT_ROLES)
@require_http_methods(["GET"])
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.import_jobs_for_user(request.user), pk=pk)  # type: ignore[arg-type]
    return render(request, "surveys/import_job.html", {"job": job, "report": job.report})
