"""Pages of community monitoring: the monitor's phone forms, the staff's lab results, validation
and complaint moderation, and the public station pages, complaints and open data."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from healthwatch.i18n import short_date
from healthwatch.locks import transaction_lock
from healthwatch.roles import Role, has_role, public, role_required
from healthwatch.security import client_address
from monitoring import publishing, selectors, services
from monitoring.forms import (
    ComplaintForm,
    ComplaintLinkForm,
    CorrectionForm,
    LabCsvForm,
    LabResultForm,
    SampleForm,
    SensorReadingForm,
    ValidationForm,
)
from monitoring.models import Complaint, ComplaintStatus, Reading, Sample
from surveys.forms import FieldUIForm
from surveys.models import CodeCategory, VocabularyCode
from surveys.services import AccessDenied
from surveys.validation import ValidationProblem

MONITORS = (Role.COMMUNITY_MONITOR, Role.HEALTH_WORKER, Role.ADMIN)
VALIDATORS = services.VALIDATORS
MODERATORS = services.MODERATORS


def _pollutants() -> list[VocabularyCode]:
    return list(VocabularyCode.objects.filter(active=True, category=CodeCategory.POLLUTANT))


# --- the community monitor ------------------------------------------------------------------


@role_required(*MONITORS)
def monitor_home(request: HttpRequest) -> HttpResponse:
    """The monitor's workspace: the two forms and their own entries."""
    user = request.user
    samples = selectors.samples_for_user(user).filter(collected_by_id=user.pk)
    readings = (
        selectors.readings_for_user(user)
        .filter(recorded_by_id=user.pk)
        .select_related("pollutant", "station", "sample")
    )
    return render(
        request,
        "monitoring/monitor_home.html",
        {
            "stations": selectors.stations_for_monitor(user),
            "samples": samples.select_related("station")[:50],
            "readings": readings[:50],
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    """The phone's outbox (surveys/static/surveys/outbox.js) sends the form's fields and asks
    for JSON; a plain form post (no JavaScript, or online) gets pages and redirects."""
    return request.headers.get("Accept", "").startswith("application/json")


def _refusal(form: FieldUIForm, status: int = 400) -> JsonResponse:
    """A refused outbox item as the phone shows it: the input's name, its label, the message."""
    errors = [
        {
            "field": field if field in form.fields else "",
            "label": str(form.fields[field].label or field) if field in form.fields else "",
            "message": str(message),
        }
        for field, messages_ in form.errors.items()
        for message in messages_
    ]
    return JsonResponse({"errors": errors}, status=status)


def _keyed_answer(
    request: HttpRequest, form: FieldUIForm, model: type[Sample] | type[Reading]
) -> tuple[bool, JsonResponse | None]:
    """Before the write: was this key stored already (for the answer's status)? And an outbox
    item must carry its key (without it a resend could store a second entry)."""
    key = form.cleaned_data.get("submission_key")
    if _wants_json(request) and key is None:
        form.add_error(None, _("An outbox item needs its submission key."))
        return False, _refusal(form)
    return key is not None and model.objects.filter(submission_key=key).exists(), None


@role_required(*MONITORS)
@require_http_methods(["GET", "POST"])
def monitor_sample_new(request: HttpRequest) -> HttpResponse:
    """The sample form: a plain form online; offline the phone's outbox keeps it and sends the
    same fields later (answered in JSON: 201 stored, 200 stored before, 400 refused)."""
    stations = selectors.stations_for_monitor(request.user)
    form = SampleForm(request.POST or None, stations=stations)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        stored_before, refused = _keyed_answer(request, form, Sample)
        if refused is not None:
            return refused
        try:
            sample = services.sample_record(
                user=request.user,
                code=data["code"],
                station=data["station"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                medium=data["medium"],
                collected_at=data["collected_at"],
                container=data["container"],
                preservation=data["preservation"],
                lab=data["lab"],
                handed_at=data["handed_at"],
                submission_key=data["submission_key"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            if _wants_json(request):
                return JsonResponse(
                    {"sample": sample.code, "stored_before": stored_before},
                    status=200 if stored_before else 201,
                )
            messages.success(
                request,
                _("Sample %(code)s saved. It is preliminary until the lab result is validated.")
                % {"code": sample.code},
            )
            return redirect("monitoring:monitor_home")
    if request.method == "POST" and _wants_json(request):
        return _refusal(form)
    status = 400 if request.method == "POST" else 200
    return render(request, "monitoring/monitor_sample.html", {"form": form}, status=status)


@role_required(*MONITORS)
@require_http_methods(["GET", "POST"])
def monitor_reading_new(request: HttpRequest) -> HttpResponse:
    """The sensor reading form: like the sample form, it works offline through the outbox."""
    stations = selectors.stations_for_monitor(request.user)
    form = SensorReadingForm(request.POST or None, stations=stations, pollutants=_pollutants())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        stored_before, refused = _keyed_answer(request, form, Reading)
        if refused is not None:
            return refused
        try:
            reading = services.sensor_reading_record(
                user=request.user,
                station=data["station"],
                measured_at=data["measured_at"],
                pollutant=data["pollutant"],
                value=data["value"],
                unit=data["unit"],
                method=data["method"],
                submission_key=data["submission_key"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            if _wants_json(request):
                return JsonResponse(
                    {"reading": reading.pk, "stored_before": stored_before},
                    status=200 if stored_before else 201,
                )
            messages.success(request, _("Reading saved. It is preliminary until validated."))
            return redirect("monitoring:monitor_home")
    if request.method == "POST" and _wants_json(request):
        return _refusal(form)
    status = 400 if request.method == "POST" else 200
    return render(request, "monitoring/monitor_reading.html", {"form": form}, status=status)


@role_required(*MONITORS)
@require_http_methods(["GET"])
def monitor_sw(request: HttpRequest) -> HttpResponse:
    """The field service worker (surveys/static/surveys/sw.js) served from /monitoring/my/, so
    that its scope covers the monitor's pages and they open without a network."""
    path = finders.find("surveys/sw.js")
    if not path:
        raise Http404
    with open(path, encoding="utf-8") as script:  # type: ignore[arg-type]
        response = HttpResponse(script.read(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # a new version is picked up at the next visit
    return response


# --- staff: lab results, validation, complaints ---------------------------------------------


@role_required(*VALIDATORS)
@require_http_methods(["GET", "POST"])
def lab_results(request: HttpRequest) -> HttpResponse:
    """Attach lab results: one by form, or a lab's CSV keyed by sample ID (all or nothing)."""
    pollutants = _pollutants()
    is_csv = "file" in request.FILES
    form = LabResultForm(
        request.POST if request.method == "POST" and not is_csv else None, pollutants=pollutants
    )
    csv_form = LabCsvForm(request.POST if is_csv else None, request.FILES if is_csv else None)
    target = csv_form if is_csv else form
    if request.method == "POST" and target.is_valid():
        try:
            if is_csv:
                upload = csv_form.cleaned_data["file"]
                try:
                    text = upload.read().decode("utf-8")
                except UnicodeDecodeError:
                    raise ValidationProblem(
                        [services.FieldError("file", _("The file is not UTF-8 text."))]
                    ) from None
                results = services.lab_results_from_csv(text)
                source = upload.name or "upload.csv"
            else:
                data = form.cleaned_data
                results = [
                    services.LabResult(
                        sample_code=data["sample_id"],
                        pollutant=data["pollutant"],
                        value=data["value"],
                        unit=data["unit"],
                        below_lod=data["below_lod"],
                        lod=data["lod"],
                        method=data["method"],
                        lab=data["lab"],
                    )
                ]
                source = _("form")
            readings = services.lab_results_attach(
                user=request.user, results=results, source=source
            )
        except ValidationProblem as problem:
            if is_csv:
                for error in problem.errors:
                    csv_form.add_error(None, f"{error.field}: {error.message}")
            else:
                form.add_service_errors(problem.errors)
        else:
            attached = ngettext(
                "%(n)s lab result attached.", "%(n)s lab results attached.", len(readings)
            )
            messages.success(request, attached % {"n": len(readings)})
            return redirect("monitoring:validation")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "monitoring/lab_results.html",
        {"form": form, "csv_form": csv_form},
        status=status,
    )


@role_required(*VALIDATORS)
@require_http_methods(["GET", "POST"])
def validation(request: HttpRequest) -> HttpResponse:
    form = ValidationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reading = get_object_or_404(Reading, pk=form.cleaned_data["reading"])
        try:
            services.reading_set_status(
                user=request.user,
                reading=reading,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            messages.success(request, _("Decision saved."))
            return redirect("monitoring:validation")
    return render(
        request,
        "monitoring/validation.html",
        {
            "readings": selectors.readings_to_validate()[:100],
            "decided": selectors.readings_decided(),
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


@role_required(*VALIDATORS)
@require_http_methods(["GET", "POST"])
def reading_correct(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a reading's value: a new preliminary version that points to this one, which is
    kept (and stays published) with its status; nothing is overwritten."""
    reading = get_object_or_404(
        Reading.objects.select_related("pollutant", "station", "sample"), pk=pk
    )
    form = CorrectionForm(request.POST or None, pollutant=reading.pollutant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = services.reading_correct(
                user=request.user,
                reading=reading,
                value=data["value"],
                unit=data["unit"],
                below_lod=data["below_lod"],
                lod=data["lod"],
                reason=data["reason"],
            )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            messages.success(
                request,
                _(
                    "Correction saved as reading %(new)s, a new version of reading %(old)s; it "
                    "waits for validation."
                )
                % {"new": new.pk, "old": reading.pk},
            )
            return redirect("monitoring:validation")
    return render(
        request,
        "monitoring/reading_correct.html",
        {
            "reading": reading,
            "corrected_by": getattr(reading, "corrected_by", None),
            "versions": reading.history.order_by("history_date", "history_id"),
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


@role_required(*MODERATORS)
@require_http_methods(["GET", "POST"])
def complaint_moderation(request: HttpRequest) -> HttpResponse:
    link_form = ComplaintLinkForm()
    if request.method == "POST":
        complaint = get_object_or_404(Complaint, pk=request.POST.get("complaint"))
        action = request.POST.get("action")
        if action in ("approve", "reject"):
            services.complaint_moderate(
                user=request.user, complaint=complaint, approve=action == "approve"
            )
            return redirect("monitoring:complaint_moderation")
        link_form = ComplaintLinkForm(request.POST)
        if link_form.is_valid():
            sample = Sample.objects.filter(code=link_form.cleaned_data["sample_id"]).first()
            if sample is None:
                link_form.add_error("sample_id", _("No sample with this ID."))
            else:
                try:
                    services.complaint_link_sample(
                        user=request.user, complaint=complaint, sample=sample
                    )
                except AccessDenied as denied:
                    raise PermissionDenied(str(denied)) from denied
                messages.success(request, _("Complaint linked to the sample."))
                return redirect("monitoring:complaint_moderation")
    complaints = Complaint.objects.exclude(status=ComplaintStatus.REJECTED).prefetch_related(
        "samples"
    )[:100]
    return render(
        request,
        "monitoring/complaint_moderation.html",
        {
            "complaints": complaints,
            "link_form": link_form,
            "may_link": has_role(request.user, *VALIDATORS, Role.HEALTH_WORKER),
        },
    )


class LabResultSerializer(serializers.Serializer[Any]):
    sample_id = serializers.CharField(max_length=40)
    pollutant = serializers.CharField(max_length=64)
    value = serializers.CharField(max_length=32, allow_blank=True, default="")
    unit = serializers.CharField(max_length=16)
    below_lod = serializers.BooleanField(default=False)
    lod = serializers.CharField(max_length=32, allow_blank=True, default="")
    method = serializers.CharField(max_length=120, allow_blank=True, default="")
    lab = serializers.CharField(max_length=200, allow_blank=True, default="")


def _row_errors(errors: Any) -> list[dict[str, str]]:
    """A list serializer's errors as "row n: field" messages, whatever shape DRF gave them."""
    rows = errors if isinstance(errors, list) else [errors]
    out: list[dict[str, str]] = []
    for n, row in enumerate(rows, start=1):
        problems_by_field = row if isinstance(row, dict) else ({"row": row} if row else {})
        for field, problems in problems_by_field.items():
            listed = problems if isinstance(problems, list) else [problems]
            out.append({"field": f"row {n}: {field}", "message": " ".join(map(str, listed))})
    return out


@extend_schema(request=LabResultSerializer(many=True), responses={201: None})
@api_view(["POST"])
def api_lab_results(request: Request) -> Response:
    """Attach lab results to samples by sample ID: all of them or none (errors name the row)."""
    if not has_role(request.user, *VALIDATORS):
        return Response({"detail": _("Only epidemiologists and admins attach lab results.")}, 403)
    payload = request.data if isinstance(request.data, list) else [request.data]
    if not all(isinstance(row, dict) for row in payload):
        message = _("Send a JSON list of lab results: objects with sample_id, pollutant and unit.")
        return Response({"errors": [{"field": "body", "message": message}]}, 400)
    serializer = LabResultSerializer(data=payload, many=True)
    if not serializer.is_valid():
        return Response({"errors": _row_errors(serializer.errors)}, 400)
    results = [
        services.LabResult(
            sample_code=row["sample_id"],
            pollutant=row["pollutant"],
            value=row["value"],
            unit=row["unit"],
            below_lod=row["below_lod"],
            lod=row["lod"],
            method=row["method"],
            lab=row["lab"],
        )
        for row in serializer.validated_data
    ]
    try:
        readings = services.lab_results_attach(user=request.user, results=results, source="API")
    except ValidationProblem as problem:
        return Response(
            {"errors": [{"field": e.field, "message": e.message} for e in problem.errors]}, 400
        )
    return Response({"reading_ids": [r.pk for r in readings]}, 201)


# --- the public -----------------------------------------------------------------------------


def _in_language(entry: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A snapshot's station or complaint with its texts in the request's language."""
    return {**entry, **{key: publishing.in_language(entry[key]) for key in keys}}


def _snapshot_station(code: str) -> tuple[Any, dict[str, Any]]:
    snapshot = publishing.latest()
    for station in snapshot.stations if snapshot else []:
        if station["code"] == code:
            return snapshot, _in_language(station, "medium", "html")
    raise Http404(_("No such station."))


@public
def public_stations(request: HttpRequest) -> HttpResponse:
    """Served from the frozen snapshot: no record table is read."""
    snapshot = publishing.latest()
    return render(
        request,
        "monitoring/public/stations.html",
        {
            "snapshot": snapshot,
            "stations": [_in_language(s, "medium") for s in snapshot.stations] if snapshot else [],
            "complaints": [
                {**_in_language(c, "kind"), "occurred_on": short_date(c["occurred_on"])}
                for c in snapshot.complaints
            ]
            if snapshot
            else [],
        },
    )


@public
def public_station(request: HttpRequest, code: str) -> HttpResponse:
    snapshot, station = _snapshot_station(code)
    return render(
        request, "monitoring/public/station.html", {"snapshot": snapshot, "station": station}
    )


@public
def public_download(request: HttpRequest) -> HttpResponse:
    snapshot = publishing.latest()
    if snapshot is None:
        raise Http404(_("No monitoring data has been published yet."))
    response = HttpResponse(bytes(snapshot.archive), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="healthwatch-monitoring.zip"'
    response["ETag"] = f'"{snapshot.sha256}"'
    return response


@public
@require_http_methods(["GET", "POST"])
def public_complaint(request: HttpRequest) -> HttpResponse:
    form = ComplaintForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["website"]:
            return redirect("monitoring:public_complaint")  # a bot: say nothing
        try:
            with transaction.atomic():
                transaction_lock("monitoring.public_complaint")
                services.complaint_submit(
                    kind=data["kind"],
                    description=data["description"],
                    place=data["place"],
                    occurred_at=data["occurred_at"],
                    latitude=data["latitude"],
                    longitude=data["longitude"],
                    address=client_address(request),
                )
        except ValidationProblem as problem:
            form.add_service_errors(problem.errors)
        else:
            messages.success(
                request, _("Thank you. Your report will appear once a moderator has read it.")
            )
            return redirect("monitoring:public_complaint")
    status = 400 if request.method == "POST" else 200
    return render(request, "monitoring/public/complaint.html", {"form": form}, status=status)
