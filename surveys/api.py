"""REST API of field data, under /api/v1/.

Thin: every queryset comes from a surveys.selectors chokepoint (so out-of-area records are 404),
every write goes through surveys.services. A service's ValidationProblem becomes
400 {"errors": [{"field": ..., "message": ...}]} (shape errors from serializers use the same
body), AccessDenied becomes 403. Record-level reads by epidemiologists and admins are logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from healthwatch.roles import STAFF_ROLES, Role, has_role
from surveys import filters, selectors, serializers, services
from surveys.services import ObservationInput
from surveys.validation import FieldError, ValidationProblem

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

ALL_ROLES = STAFF_ROLES  # the community monitor is not staff
RECORD_READERS = (Role.HEALTH_WORKER, Role.EPIDEMIOLOGIST, Role.ADMIN)
FIELD_WRITERS = (Role.HEALTH_WORKER, Role.ADMIN)
REVIEWERS = (Role.EPIDEMIOLOGIST, Role.ADMIN)

ERRORS_400 = OpenApiResponse(serializers.ErrorBodySerializer, description="Problems, by field.")
DENIED_403 = OpenApiResponse(serializers.DetailSerializer, description="Not allowed.")


# --- Errors ----------------------------------------------------------------------------------


def _flatten(detail: Any, path: str = "") -> list[dict[str, str]]:
    """DRF's nested error detail as a flat list naming each field ("observations.0.value")."""
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            out.extend(_flatten(value, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": path or "non_field_errors", "message": str(m)} for m in detail]
        out = []
        for index, item in enumerate(detail):
            out.extend(_flatten(item, f"{path}.{index}" if path else str(index)))
        return out
    return [{"field": path or "non_field_errors", "message": str(detail)}]


def field_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, services.SubmissionKeyConflict):
        body = [{"field": e.field, "message": e.message} for e in exc.errors]
        return Response({"errors": body}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ValidationProblem):
        body = [{"field": e.field, "message": e.message} for e in exc.errors]
        return Response({"errors": body}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, services.AccessDenied):
        exc = exceptions.PermissionDenied(str(exc))
    if isinstance(exc, exceptions.ValidationError):
        return Response({"errors": _flatten(exc.detail)}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


# --- Access ----------------------------------------------------------------------------------


class HasFieldRole(BasePermission):
    """Reads need one of view.read_roles, writes one of view.write_roles (403 otherwise).

    Actions listed in view.read_actions count as reads even when POSTed (e.g. a lookup).
    Which rows a permitted user then sees is the selectors' business.
    """

    message = gettext_lazy("Your role does not give access to this.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        is_read = request.method in ("GET", "HEAD", "OPTIONS") or getattr(
            view, "action", None
        ) in getattr(view, "read_actions", ())
        roles: Sequence[Role] = view.read_roles if is_read else view.write_roles
        return has_role(request.user, *roles)


class FieldAPI:
    """What every field-data endpoint shares: roles, error bodies, read logging."""

    permission_classes: Sequence[_PermissionClass] = [HasFieldRole]
    read_roles: tuple[Role, ...] = ALL_ROLES
    write_roles: tuple[Role, ...] = FIELD_WRITERS
    read_actions: tuple[str, ...] = ()
    # Set for record-level resources: staff reads of them are logged.
    logged_resource: str | None = None

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return field_exception_handler

    def log_read(self, request: Request, rows: int, detail: str) -> None:
        if self.logged_resource and selectors.sees_all_records(request.user):
            services.record_access_log(
                user=request.user,
                action="read",
                resource=self.logged_resource,
                detail=detail,
                row_count=rows,
            )


class LoggedReadMixin(FieldAPI):
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response: Response = super().list(request, *args, **kwargs)  # type: ignore[misc]
        data = response.data
        rows = len(data["results"]) if isinstance(data, dict) and "results" in data else len(data)
        self.log_read(request, rows, f"list {request.GET.urlencode()}"[:500])
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response: Response = super().retrieve(request, *args, **kwargs)  # type: ignore[misc]
        self.log_read(request, 1, f"{self.logged_resource} {kwargs.get('pk', '')}")
        return response


def _user(request: Request) -> Any:
    return request.user


# --- Reference data --------------------------------------------------------------------------


class SiteViewSet(FieldAPI, viewsets.ReadOnlyModelViewSet[Any]):
    """Production sites (mines, separation plants, refineries, tailings)."""

    serializer_class = serializers.SiteSerializer
    filterset_class = filters.SiteFilter

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.sites_for_user(_user(self.request))


class AreaViewSet(FieldAPI, viewsets.ReadOnlyModelViewSet[Any]):
    """Areas with their population denominators (year × sex × 5-year age band)."""

    serializer_class = serializers.AreaSerializer
    read_roles = RECORD_READERS

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.areas_for_user(_user(self.request)).prefetch_related("population")


class VocabularyCodeViewSet(FieldAPI, viewsets.ReadOnlyModelViewSet[Any]):
    """The code vocabulary: kinds, units and conversions, valid ranges, reference levels."""

    serializer_class = serializers.VocabularyCodeSerializer
    filterset_class = filters.VocabularyFilter
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.vocabulary_for_user(_user(self.request)).prefetch_related("translations")


# --- Residents -------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(responses={201: serializers.ResidentSerializer, 400: ERRORS_400}),
)
class ResidentViewSet(
    LoggedReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Residents, known by pseudonym only. Health workers see those of their areas."""

    serializer_class = serializers.ResidentSerializer
    filterset_class = filters.ResidentFilter
    read_roles = RECORD_READERS
    read_actions = ("find",)
    logged_resource = "residents"

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.residents_for_user(_user(self.request)).select_related(
            "area", "nearest_site"
        )

    def create(self, request: Request) -> Response:
        """Register a resident. study_id and coordinates are used, then discarded."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        resident = services.resident_register(
            user=_user(request),
            study_id=data["study_id"],
            area=data["area"],
            birth_year=data["birth_year"],
            sex=data["sex"],
            enrolled_on=data["enrolled_on"],
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            works_at_site=data["works_at_site"],
            smoking=data["smoking"],
        )
        return Response(self.get_serializer(resident).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=serializers.StudyIdSerializer,
        responses={
            200: serializers.ResidentSerializer,
            400: ERRORS_400,
            404: OpenApiResponse(serializers.DetailSerializer, description="Not in your areas."),
        },
    )
    @action(detail=False, methods=["post"])
    def find(self, request: Request) -> Response:
        """Find a resident by study ID (sent in the body, never in the URL)."""
        serializer = serializers.StudyIdSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        resident = services.resident_find(
            user=_user(request), study_id=serializer.validated_data["study_id"]
        )
        if resident is None:
            raise exceptions.NotFound(gettext("No resident with this study ID in your areas."))
        self.log_read(request, 1, f"resident {resident.pk} by study ID")
        return Response(serializers.ResidentSerializer(resident, context={"request": request}).data)


# --- Visits and observations -----------------------------------------------------------------


IDEMPOTENCY_KEY = "Idempotency-Key"


@extend_schema_view(
    create=extend_schema(
        request=serializers.VisitCreateSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_KEY,
                OpenApiTypes.UUID,
                OpenApiParameter.HEADER,
                required=False,
                description="A UUID the client makes once per visit and sends again with every "
                "retry of it (or the body's submission_key). The same key from the same user "
                "with the same content is answered 200 with the visit already stored; it is "
                "never stored twice, even by simultaneous requests. Reused for other content "
                "(or by someone else): 409.",
            )
        ],
        responses={
            201: OpenApiResponse(serializers.VisitSerializer, description="Stored."),
            200: OpenApiResponse(
                serializers.VisitSerializer,
                description="A repeat of an Idempotency-Key: the visit stored the first time.",
            ),
            400: ERRORS_400,
            403: DENIED_403,
            409: OpenApiResponse(
                serializers.ErrorBodySerializer,
                description="The Idempotency-Key was already used for a different visit; "
                "nothing stored. A new visit needs a new key.",
            ),
        },
    ),
    update=extend_schema(
        request=serializers.VisitUpdateSerializer,
        responses={200: serializers.VisitSerializer, 400: ERRORS_400, 403: DENIED_403},
    ),
)
class VisitViewSet(
    LoggedReadMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Visits with their observations. PUT replaces the observations and needs a reason."""

    serializer_class = serializers.VisitSerializer
    filterset_class = filters.VisitFilter
    read_roles = RECORD_READERS
    logged_resource = "visits"

    def get_queryset(self) -> QuerySet[Any]:
        return (
            selectors.visits_for_user(_user(self.request))
            .select_related("health_worker")
            .prefetch_related("observations__code")
        )

    @staticmethod
    def _observations(entries: list[dict[str, Any]]) -> list[ObservationInput]:
        return [
            ObservationInput(
                code=e["code"],
                value=e["value"],
                unit=e["unit"],
                below_lod=e["below_lod"],
                lod=e["lod"],
            )
            for e in entries
        ]

    def _respond(self, pk: int, code: int) -> Response:
        visit = self.get_queryset().get(pk=pk)
        return Response(self.get_serializer(visit).data, status=code)

    def create(self, request: Request) -> Response:
        serializer = serializers.VisitCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, field = _idempotency_key(request, data["submission_key"])
        try:
            visit, created = services.visit_submit(
                user=_user(request),
                resident=data["resident"],
                visited_on=data["visited_on"],
                observations=self._observations(data["observations"]),
                submission_key=key,
            )
        except services.SubmissionKeyConflict as conflict:
            raise services.SubmissionKeyConflict(
                [FieldError(field, e.message) for e in conflict.errors]
            ) from None
        return self._respond(visit.pk, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def update(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        serializer = serializers.VisitUpdateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.visit_edit(
            user=_user(request),
            visit=visit,
            visited_on=data["visited_on"],
            observations=self._observations(data["observations"]),
            reason=data["reason"],
        )
        return self._respond(visit.pk, status.HTTP_200_OK)


def _idempotency_key(request: Request, in_body: uuid.UUID | None) -> tuple[uuid.UUID | None, str]:
    """The request's one-time key (header or body field) and the name to report it under."""
    header = request.headers.get(IDEMPOTENCY_KEY, "").strip()
    if not header:
        return in_body, "submission_key"
    try:
        key = uuid.UUID(header)
    except ValueError:
        raise ValidationProblem(
            [
                FieldError(
                    IDEMPOTENCY_KEY, gettext("Give a UUID (e.g. made by crypto.randomUUID()).")
                )
            ]
        ) from None
    if in_body is not None and in_body != key:
        raise ValidationProblem(
            [
                FieldError(
                    IDEMPOTENCY_KEY, gettext("The header and submission_key differ; send one.")
                )
            ]
        )
    return key, IDEMPOTENCY_KEY


class ObservationViewSet(LoggedReadMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Observations, each in its code's canonical unit (the entered unit is kept)."""

    serializer_class = serializers.ObservationSerializer
    filterset_class = filters.ObservationFilter
    read_roles = RECORD_READERS
    logged_resource = "observations"

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.observations_for_user(_user(self.request)).select_related("code")


# --- Environmental monitoring ----------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(
        request=serializers.StationCreateSerializer,
        responses={201: serializers.StationSerializer, 400: ERRORS_400, 403: DENIED_403},
    )
)
class StationViewSet(
    FieldAPI,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Monitoring stations (open data). Health workers and admins add them."""

    serializer_class = serializers.StationSerializer
    filterset_class = filters.StationFilter

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.stations_for_user(_user(self.request))

    def create(self, request: Request) -> Response:
        serializer = serializers.StationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        station = services.station_register(user=_user(request), **serializer.validated_data)
        return Response(self.get_serializer(station).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    create=extend_schema(
        request=serializers.MeasurementCreateSerializer,
        responses={201: serializers.MeasurementSerializer, 400: ERRORS_400, 403: DENIED_403},
    )
)
class MeasurementViewSet(
    FieldAPI,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Measurements (open data). Invalid values are kept and flagged, never deleted."""

    serializer_class = serializers.MeasurementSerializer
    filterset_class = filters.MeasurementFilter

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.measurements_for_user(_user(self.request)).select_related(
            "station", "pollutant", "recorded_by"
        )

    def create(self, request: Request) -> Response:
        serializer = serializers.MeasurementCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        measurement = services.measurement_record(user=_user(request), **data)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=measurement.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=serializers.MeasurementStatusSerializer,
        responses={200: serializers.MeasurementSerializer, 400: ERRORS_400, 403: DENIED_403},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, pk: str | None = None) -> Response:
        """Mark a measurement validated or invalid (with a reason, kept in the audit trail)."""
        measurement = self.get_object()
        serializer = serializers.MeasurementStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.measurement_set_status(
            user=_user(request), measurement=measurement, **serializer.validated_data
        )
        return Response(self.get_serializer(measurement).data)


# --- Data quality ----------------------------------------------------------------------------


class QualityFlagViewSet(LoggedReadMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Unusual values and same-day visits waiting for (or after) an epidemiologist's review."""

    serializer_class = serializers.QualityFlagSerializer
    filterset_class = filters.QualityFlagFilter
    read_roles = REVIEWERS
    write_roles = REVIEWERS
    logged_resource = "quality_flags"

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.quality_flags_for_user(_user(self.request)).select_related("reviewed_by")

    @extend_schema(
        request=serializers.QualityReviewSerializer,
        responses={200: serializers.QualityFlagSerializer, 400: ERRORS_400, 403: DENIED_403},
    )
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        """Close a flag: the value is right (confirmed) or was corrected, with a note."""
        flag = self.get_object()
        serializer = serializers.QualityReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.quality_flag_review(
                user=_user(request),
                flag=flag,
                status=serializer.validated_data["review_status"],
                note=serializer.validated_data["note"],
            )
        except ValidationProblem as problem:
            raise ValidationProblem(
                [
                    FieldError("review_status" if e.field == "status" else e.field, e.message)
                    for e in problem.errors
                ]
            ) from None
        return Response(self.get_serializer(flag).data)


# --- CSV import ------------------------------------------------------------------------------


IMPORT_ROLES = (Role.HEALTH_WORKER, Role.EPIDEMIOLOGIST, Role.ADMIN)


class ImportView(FieldAPI, APIView):
    """Upload a CSV file of one kind of the data contract (docs/data-formats.md).

    The file is kept and a worker imports it: the answer is 202 with the job, whose URL (also in
    Location) gives its state, progress and report. Nothing is imported inside the request.
    """

    parser_classes = [MultiPartParser, FormParser]
    read_roles = IMPORT_ROLES
    write_roles = IMPORT_ROLES

    @extend_schema(
        request={"multipart/form-data": serializers.ImportRequestSerializer},
        responses={
            202: OpenApiResponse(
                serializers.ImportJobSerializer,
                description="Accepted: the file is kept and queued for a worker. Poll `url` "
                "(also in Location) until `status` is done or failed.",
            ),
            400: ERRORS_400,
            403: DENIED_403,
            413: OpenApiResponse(
                serializers.DetailSerializer, description="The upload is over the size limit."
            ),
            503: OpenApiResponse(
                serializers.ImportJobRefusedSerializer,
                description="The job queue is unavailable: the job is failed at once and its "
                "file deleted, nothing was imported. Upload the file again later.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Queue the import of a file: validated as a whole, then written all at once or not at all.

        With dry_run the worker checks the file and writes nothing.
        """
        from surveys.importing.jobs import import_job_submit, refused_by_queue

        serializer = serializers.ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        job = import_job_submit(
            user=_user(request),
            kind=serializer.validated_data["kind"],
            upload=upload,
            file_name=upload.name,
            size=upload.size,
            dry_run=serializer.validated_data["dry_run"],
        )
        job.refresh_from_db()  # the queue is asked once the job is committed
        body = serializers.ImportJobSerializer(job, context={"request": request}).data
        if refused_by_queue(job):
            return Response(
                {**body, "detail": job.error_message}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ImportJobView(FieldAPI, APIView):
    """The state of one of my import jobs: status, progress, then the import's report."""

    read_roles = IMPORT_ROLES
    write_roles = ()

    @extend_schema(
        responses={
            200: serializers.ImportJobSerializer,
            404: OpenApiResponse(serializers.DetailSerializer, description="No such job of yours."),
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        job = get_object_or_404(selectors.import_jobs_for_user(_user(request)), pk=pk)
        return Response(serializers.ImportJobSerializer(job, context={"request": request}).data)
