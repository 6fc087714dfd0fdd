"""Private by default: every page needs a login unless its view is marked `public`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.translation import gettext

from healthwatch.roles import is_monitor_only, monitor_may_reach


class StaffLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, except for the API.

    API clients must get 401/403 (not a redirect to an HTML login page); DRF's default
    IsAuthenticated permission answers them. A test walks the URL conf to hold both to it.
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if is_monitor_only(request.user):
            match = request.resolver_match
            allowed = monitor_may_reach(
                match.view_name if match else "",
                is_public=getattr(view_func, "login_required", True) is False,
                path=request.path_info,
            )
            if not allowed:
                if request.path_info.startswith("/api/"):
                    return JsonResponse({"detail": gettext("Not allowed.")}, status=403)
                raise PermissionDenied(gettext("Community monitors record samples only."))
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class UploadSizeLimitMiddleware:
    """Answer 413 to a request whose declared body is over HEALTHWATCH_MAX_UPLOAD_BYTES, before
    anything reads the body (Django itself limits form fields, not uploaded files).

    A body without a declared length is not read by Django under WSGI, so the declared length
    is the whole story here; the proxy in front should set the same limit (README).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.HEALTHWATCH_MAX_UPLOAD_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared <= limit:
            return self.get_response(request)
        message = gettext(
            "The upload is too large: at most %(limit)s MB are accepted. "
            "Split the file, or ask the administrator to raise HEALTHWATCH_MAX_UPLOAD_MB."
        ) % {"limit": limit // (1024 * 1024)}
        if request.path_info.startswith("/api/"):
            response: HttpResponseBase = JsonResponse({"detail": message}, status=413)
        else:
            response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return response
