"""The OpenRosa 1.0 server side, as ODK Collect and KoboCollect speak it.

- GET  /openrosa/formList                       the forms this user may fill (xforms list)
- GET  /openrosa/forms/<form_id>/form.xml       the XForm, built for this user now
- GET  /openrosa/forms/<form_id>/manifest       its media files (none)
- HEAD /openrosa/submission                     204 + X-OpenRosa-Accept-Content-Length
- POST /openrosa/submission                     multipart, the instance in xml_submission_file

Authentication: HTTP Basic with the user's HealthWatch username and password, per request, as
ODK Collect sends it; only over HTTPS in production (SECURE_SSL_REDIRECT, README). The phone has
no session and no CSRF token: these views are exempt from both, and nothing else is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User as AuthUser
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from healthwatch.roles import Role, role_required
from openrosa import services
from openrosa.models import HeldStatus
from openrosa.xforms import FORM_ID, RESIDENT_FORM_ID, xform
from surveys.selectors import may_record_field_data
from surveys.services import AccessDenied
from surveys.validation import ValidationProblem

OPENROSA_HEADERS = {"X-OpenRosa-Version": "1.0"}
REALM = "HealthWatch"


def _openrosa(body: str, status: int = 200, content_type: str = "text/xml") -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=f"{content_type}; charset=utf-8")
    for name, value in OPENROSA_HEADERS.items():
        response[name] = value
    response["X-OpenRosa-Accept-Content-Length"] = str(settings.HEALTHWATCH_MAX_UPLOAD_BYTES)
    return response


def _message(text: str, status: int, nature: str = "") -> HttpResponse:
    nature_attr = f' nature="{nature}"' if nature else ""
    return _openrosa(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
        f"<message{nature_attr}>{escape(text)}</message></OpenRosaResponse>",
        status=status,
    )


def _basic_user(request: HttpRequest) -> AuthUser | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _colon, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = authenticate(request, username=username, password=password)
    return user if isinstance(user, AuthUser) and user.is_active else None


OpenRosaView = Callable[..., HttpResponseBase]


def openrosa_view(view: OpenRosaView) -> OpenRosaView:
    """Basic auth on every request (401 with a challenge when absent or wrong)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = _basic_user(request)
        if user is None:
            response = _message(_("Sign in with your HealthWatch username and password."), 401)
            response["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
            return response
        request.user = user
        if not may_record_field_data(user):
            return _message(_("Only health workers and admins use the phone forms."), 403)
        return view(request, *args, **kwargs)

    return login_not_required(csrf_exempt(wrapped))


@openrosa_view
@require_http_methods(["GET", "HEAD"])
def form_list(request: HttpRequest) -> HttpResponseBase:
    entries = []
    for spec in services.current_forms(request.user):  # type: ignore[arg-type]
        digest = hashlib.md5(xform(spec).encode("utf-8"), usedforsecurity=False).hexdigest()
        download = request.build_absolute_uri(reverse("openrosa:form", args=[spec.form_id]))
        manifest = request.build_absolute_uri(reverse("openrosa:manifest", args=[spec.form_id]))
        entries.append(
            "<xform>"
            f"<formID>{escape(spec.form_id)}</formID>"
            f"<name>{escape(spec.title)}</name>"
            f"<version>{escape(spec.version)}</version>"
            f"<hash>md5:{digest}</hash>"
            f"<downloadUrl>{escape(download)}</downloadUrl>"
            f"<manifestUrl>{escape(manifest)}</manifestUrl>"
            "</xform>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<xforms xmlns="http://openrosa.org/xforms/xformsList">' + "".join(entries) + "</xforms>"
    )
    return _openrosa(body)


@openrosa_view
@require_http_methods(["GET", "HEAD"])
def form_download(request: HttpRequest, form_id: str) -> HttpResponseBase:
    if form_id not in {FORM_ID, RESIDENT_FORM_ID}:
        return _message(_("No such form."), 404)
    spec = services.current_form(request.user, form_id)  # type: ignore[arg-type]
    return _openrosa(xform(spec))


@openrosa_view
@require_http_methods(["GET", "HEAD"])
def manifest(request: HttpRequest, form_id: str) -> HttpResponseBase:
    return _openrosa(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest xmlns="http://openrosa.org/xforms/xformsManifest"></manifest>'
    )


@openrosa_view
@require_http_methods(["HEAD", "POST"])
def submission(request: HttpRequest) -> HttpResponseBase:
    if request.method == "HEAD":
        response = _openrosa("", status=204)
        del response["Content-Type"]
        return response
    upload = request.FILES.get("xml_submission_file")
    if upload is None:
        return _message(_("The request has no xml_submission_file part."), 400)
    try:
        received = services.submission_receive(
            user=request.user,  # type: ignore[arg-type]
            xml=upload.read(),
        )
    except services.BadInstance as error:
        return _message(str(error), 400)
    except AccessDenied as error:
        return _message(str(error), 403)
    if received.outcome == services.Outcome.HELD:
        problems = "; ".join(f"{m['label']}: {m['message']}" for m in received.messages)
        return _message(
            _("Received, but held for review by a data manager: %(problems)s")
            % {"problems": problems},
            202,
            nature="submit_success",
        )
    if received.outcome == services.Outcome.DUPLICATE:
        return _message(_("Already received; nothing new stored."), 201, "submit_success")
    return _message(_("Visit stored. Thank you."), 201, nature="submit_success")


# --- the review queue (web pages, logged-in data managers) -------------------------------------


@role_required(Role.EPIDEMIOLOGIST, Role.ADMIN)
@require_http_methods(["GET", "POST"])
def held_queue(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            services.held_submission_review(
                user=request.user,  # type: ignore[arg-type]
                held_id=int(request.POST.get("held_id", "0") or 0),
                status=request.POST.get("status", ""),
                note=request.POST.get("note", ""),
            )
        except ValidationProblem as problem:
            errors = problem.by_field()
        else:
            return redirect("openrosa:held_queue")
    rows = services.held_for_user(request.user).filter(  # type: ignore[arg-type]
        status=HeldStatus.HELD
    )
    return render(
        request,
        "openrosa/held_queue.html",
        {"rows": rows, "errors": errors},
        status=400 if errors else 200,
    )
