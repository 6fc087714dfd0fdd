"""Core pages: role routing after login, and the admin's system page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django.views.defaults import page_not_found
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from healthwatch import services
from healthwatch.models import QueuePing
from healthwatch.roles import (
    ROLE_LABELS,
    WORKSPACE_URL_NAMES,
    Role,
    primary_role,
    role_required,
    roles_of,
)


def workspace(request: HttpRequest) -> HttpResponse:
    """Send a signed-in user to the workspace of their main role."""
    role = primary_role(request.user)
    if role is None:
        return render(request, "healthwatch/no_role.html", status=403)
    return redirect(WORKSPACE_URL_NAMES[role])


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def system(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.queue_ping_request(requested_by=request.user)  # type: ignore[arg-type]
        return redirect("system")
    pings = QueuePing.objects.all()[:10]
    return render(request, "healthwatch/system.html", {"pings": pings})


class MeSerializer(serializers.Serializer[dict[str, object]]):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    role_labels = serializers.ListField(child=serializers.CharField())


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the API thinks you are, and your roles."""
    roles = sorted(role.value for role in roles_of(request.user))
    return Response(
        {
            "username": request.user.get_username(),
            "roles": roles,
            "role_labels": [ROLE_LABELS[Role(r)] for r in roles],
        }
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a URL no route matches: JSON under /api/ (as the API's own 404s), else the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
