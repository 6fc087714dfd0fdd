"""The public site (no login; reads only published snapshots) and the review workspace."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_page
from django.views.decorators.http import require_http_methods, require_POST

from healthwatch.locks import transaction_lock
from healthwatch.roles import Role, has_role, public, role_required
from healthwatch.security import client_address
from reports import rendering, selectors, services
from reports.forms import (
    CommentForm,
    CorrectionForm,
    PublicCommentForm,
    ReleaseForm,
    RetractForm,
    ReviewForm,
)
from reports.models import (
    BuildStatus,
    LateData,
    PublicComment,
    Release,
    ReleaseBuild,
    ReleaseStatus,
    ReviewDecision,
)
from surveys.models import Medium
from surveys.validation import ValidationProblem

REVIEWERS = (Role.COMMUNITY_REVIEWER, Role.EPIDEMIOLOGIST, Role.ADMIN)
# Public pages are shared by everyone and change only at publication, retraction, correction
# or when a comment is approved: they are cached whole for a minute (per process with the
# default local-memory cache; CACHE_URL=redis://… shares it between workers).
PAGE_CACHE_SECONDS = 60
EPI = (Role.EPIDEMIOLOGIST, Role.ADMIN)
MEDIUM_LABELS = dict(Medium.choices)


def _cacheable(request: HttpRequest, response: HttpResponse, max_age: int = 300) -> HttpResponse:
    """Anonymous visitors get a shared-cacheable response; signed-in staff a private one."""
    if request.user.is_authenticated:
        patch_cache_control(response, private=True, max_age=0)
    else:
        patch_cache_control(response, public=True, max_age=max_age)
    return response


# --- public ---------------------------------------------------------------------------------


@public
@cache_page(PAGE_CACHE_SECONDS)
def home(request: HttpRequest) -> HttpResponse:
    sites: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for release in selectors.public_releases().order_by("site_name", "-year", "-version"):
        site = sites.setdefault(release.site_code, {"name": release.site_name, "releases": []})
        site["releases"].append(release)
    response = render(request, "reports/home.html", {"sites": list(sites.values())})
    return _cacheable(request, response, 60)


def _release_or_404(site_code: str, year: int, version: int) -> Release:
    release = selectors.public_release(site_code, year, version)
    if release is None:
        raise Http404("No such published release.")
    return release


@public
@cache_page(PAGE_CACHE_SECONDS)
def public_release(request: HttpRequest, site_code: str, year: int, version: int) -> HttpResponse:
    """The frozen release page: the stored snapshot, downloads and approved comments."""
    language = get_language()
    release = selectors.public_release(site_code, year, version, language)
    if release is None:
        raise Http404("No such published release.")
    etag = f'"{release.content_hash}{_language_suffix(language)}"'
    if _etag_matches(request, etag):
        response = HttpResponse(status=304)
    else:
        files = selectors.public_release_file_names(release)
        response = render(
            request,
            "reports/public/release.html",
            {
                "release": release,
                "body": release.page_html,  # type: ignore[attr-defined]
                "files": files,
                # The PDF in the page's language, else the English one (else no link).
                "pdf_name": next(
                    (name for name in (services.pdf_name(language), PDF_NAME) if name in files),
                    None,
                ),
                "comments": selectors.approved_comments(release),
                "current": selectors.current_version(release),
            },
        )
    response["ETag"] = etag
    return _cacheable(request, response)


PDF_NAME = services.pdf_name("en")  # the English PDF, the fallback of every language


def _language_suffix(language: str) -> str:
    """The ETag's language part: none in English (the ETag of before #15), else "-<lang>"."""
    return "" if language == "en" else f"-{language}"


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    """The browser sends back the ETag it got: weakened (W/"…") when the page was gzipped."""
    sent = [
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("If-None-Match", "").split(",")
    ]
    return etag in sent


@public
@cache_page(PAGE_CACHE_SECONDS)
def public_table(
    request: HttpRequest, site_code: str, year: int, version: int, name: str
) -> HttpResponse:
    """One full table of a release, on its own page: the page frozen at publication."""
    language = get_language()
    release = selectors.public_release_table(site_code, year, version, name, language)
    if release is None:
        raise Http404("No such table in a published release.")
    etag = f'"{release.content_hash}-{name}{_language_suffix(language)}"'
    if _etag_matches(request, etag):
        response = HttpResponse(status=304)
    else:
        response = render(
            request,
            "reports/public/table.html",
            {
                "release": release,
                "body": getattr(release, "table_html", ""),
                "current": selectors.current_version(release),
            },
        )
    response["ETag"] = etag
    return _cacheable(request, response)


@public
def public_download(
    request: HttpRequest, site_code: str, year: int, version: int, name: str
) -> HttpResponse:
    release = _release_or_404(site_code, year, version)
    stored = selectors.public_release_file(release, name)
    if stored is None:
        raise Http404("No such download.")
    response = HttpResponse(bytes(stored.content), content_type=stored.content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="healthwatch-{site_code}-{year}-v{version}-{name}"'
    )
    response["ETag"] = f'"{stored.sha256}"'
    return _cacheable(request, response, 3600)


@public
@require_http_methods(["GET", "POST"])
def public_comment(request: HttpRequest, site_code: str, year: int, version: int) -> HttpResponse:
    release = _release_or_404(site_code, year, version)
    form = PublicCommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["website"]:
            # The honeypot was filled in: a bot. Say nothing.
            return redirect("reports:public_release", site_code, year, version)
        try:
            # The daily limit counts then inserts: one commenting transaction at a time, so 20
            # simultaneous posts cannot all see "under the limit". Keyed on the client behind
            # the proxy, not on the proxy (healthwatch.security.client_address).
            with transaction.atomic():
                transaction_lock("reports.public_comment")
                services.public_comment_submit(
                    release=release,
                    body=form.cleaned_data["body"],
                    author_name=form.cleaned_data["author_name"],
                    address=client_address(request),
                )
        except ValidationProblem as problem:
            for error in problem.errors:
                form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request, _("Thank you. Your comment will appear once a moderator has read it.")
            )
            return redirect("reports:public_comment", site_code, year, version)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "reports/public/comment.html", {"release": release, "form": form}, status=status
    )


@public
def public_privacy(request: HttpRequest) -> HttpResponse:
    releases = selectors.public_releases().order_by("-published_at")[:10]
    return _cacheable(
        request, render(request, "reports/public/privacy.html", {"releases": releases})
    )


@public
def public_methodology(request: HttpRequest) -> HttpResponse:
    return _cacheable(request, render(request, "reports/public/methodology.html"))


@public
def public_open_data(request: HttpRequest) -> HttpResponse:
    snapshot = selectors.latest_open_data()
    return _cacheable(
        request,
        render(
            request,
            "reports/public/open_data.html",
            {
                "snapshot": snapshot,
                "stations": [
                    {**s, "medium_label": MEDIUM_LABELS.get(s.get("medium"), s.get("medium"))}
                    for s in (snapshot.stations if snapshot else [])
                ],
                "licence": rendering.OPEN_DATA_LICENCE,
            },
        ),
    )


def _snapshot_or_404() -> Any:
    snapshot = selectors.latest_open_data()
    if snapshot is None:
        raise Http404("No open data has been published yet.")
    return snapshot


@public
def public_open_data_csv(request: HttpRequest) -> HttpResponse:
    snapshot = _snapshot_or_404()
    response = HttpResponse(bytes(snapshot.csv), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="healthwatch-measurements.csv"'
    response["ETag"] = f'"{snapshot.sha256}"'
    return _cacheable(request, response, 600)


@public
def public_open_data_json(request: HttpRequest) -> HttpResponse:
    snapshot = _snapshot_or_404()
    response = HttpResponse(bytes(snapshot.json), content_type="application/json")
    response["ETag"] = f'"{snapshot.sha256}"'
    return _cacheable(request, response, 600)


@public
def public_open_data_api(request: HttpRequest) -> HttpResponse:
    """Filtered, paginated JSON of the open measurements: ?station=&pollutant=&from=&to=&page=."""
    import json

    snapshot = _snapshot_or_404()
    rows = json.loads(bytes(snapshot.json))["measurements"]
    station, pollutant = request.GET.get("station"), request.GET.get("pollutant")
    start, end = request.GET.get("from"), request.GET.get("to")
    if station:
        rows = [r for r in rows if r["station_code"] == station]
    if pollutant:
        rows = [r for r in rows if r["pollutant"] == pollutant]
    if start:
        rows = [r for r in rows if r["sampled_on"] >= start]
    if end:
        rows = [r for r in rows if r["sampled_on"] <= end]
    try:
        page = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        return JsonResponse(
            {"errors": [{"field": "page", "message": "page must be a whole number"}]}, status=400
        )
    size = 1000
    chunk = rows[(page - 1) * size : page * size]
    response = JsonResponse(
        {
            "licence": rendering.OPEN_DATA_LICENCE,
            "count": len(rows),
            "page": page,
            "next": page + 1 if page * size < len(rows) else None,
            "stations": snapshot.stations,
            "results": chunk,
        }
    )
    return _cacheable(request, response, 600)


# --- review workspace --------------------------------------------------------------------


@role_required(*REVIEWERS)
def review_workspace(request: HttpRequest) -> HttpResponse:
    releases = selectors.staff_releases()
    if not has_role(request.user, *EPI):
        # Community reviewers see releases once an epidemiologist has sent them for review.
        releases = releases.exclude(status=ReleaseStatus.DRAFT)
    return render(
        request,
        "reports/review_workspace.html",
        {
            "releases": releases[:50],
            "form": ReleaseForm() if has_role(request.user, *EPI) else None,
            "pending_comments": PublicComment.objects.filter(status="pending").count(),
        },
    )


@role_required(*EPI)
@require_POST
def release_new(request: HttpRequest) -> HttpResponse:
    form = ReleaseForm(request.POST)
    if form.is_valid():
        try:
            build, new = services.release_build_request(
                user=request.user,
                run=form.cleaned_data["run"],  # type: ignore[arg-type]
                site_code=form.cleaned_data["site_code"],
                year=form.cleaned_data["year"],
                request_key=form.cleaned_data.get("request_key"),
            )
        except ValidationProblem as problem:
            for error in problem.errors:
                form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            if not new:
                messages.info(request, _("A build of this report is already under way."))
            return redirect("reports:release_build", pk=build.pk)
    return render(
        request,
        "reports/review_workspace.html",
        {
            "releases": selectors.staff_releases()[:50],
            "form": form,
            "pending_comments": 0,
        },
        status=400,
    )


# While a build is under way its page reloads itself (no JavaScript needed) every few seconds.
BUILD_REFRESH_SECONDS = 2


@role_required(*EPI)
def release_build(request: HttpRequest, pk: int) -> HttpResponse:
    build = get_object_or_404(ReleaseBuild.objects.select_related("supersedes", "run"), pk=pk)
    if build.status == BuildStatus.SUCCEEDED and build.release_id is not None:
        release = build.release
        assert release is not None
        messages.success(
            request,
            _("%(report)s built and audited.")
            % {
                "report": _("%(site)s %(year)s, version %(version)s")
                % {"site": release.site_name, "year": release.year, "version": release.version}
            },
        )
        return redirect("reports:release", pk=build.release_id)
    response = render(
        request,
        "reports/release_build.html",
        {
            "build": build,
            "site_name": selectors.site_name(build.site_code),
            "refresh": BUILD_REFRESH_SECONDS if build.active else None,
        },
    )
    patch_cache_control(response, no_store=True)
    return response


def _may_see(user: Any, release: Release) -> bool:
    if has_role(user, *EPI):
        return True
    return release.status != ReleaseStatus.DRAFT  # reviewers: from community review on


@role_required(*REVIEWERS)
def release_detail(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_object_or_404(Release, pk=pk)
    if not _may_see(request.user, release):
        raise Http404("No such release.")
    is_epi = has_role(request.user, *EPI)
    stored = (release.rendered_i18n or {}).get(get_language(), {}).get("html")
    body = stored or release.rendered_html or rendering.render_release(release)
    return render(
        request,
        "reports/release_staff.html",
        {
            "release": release,
            "body": body,
            "is_epi": is_epi,
            "is_reviewer": has_role(request.user, Role.COMMUNITY_REVIEWER),
            "approvals": services.community_approvals(release),
            "publish_blocker": services.publish_blocker(release),
            "reviews": release.reviews.select_related("author"),
            "internal": release.internal_audit if is_epi else None,
            "internal_rows": _internal_rows(release.internal_audit) if is_epi else [],
            "review_form": ReviewForm(),
            "comment_form": CommentForm(),
            "correction_form": CorrectionForm(),
        },
    )


def _suppression_reasons() -> dict[str, str]:
    return {
        "small_count": _("Count below the threshold"),
        "complementary": _("Withheld so that a total does not give a hidden count away"),
        "audit": _("Withheld by the disclosure audit (a hidden count could be worked out)"),
        "extreme_proportion": _("Proportion near 0% or 100% (would reveal a small count)"),
    }


def _internal_rows(internal: dict[str, Any]) -> list[dict[str, Any]]:
    """The staff audit table: each withheld cell with its reason in words (the code in the
    tooltip) and the range a reader could narrow it to."""
    reasons = _suppression_reasons()
    ranges = internal.get("ranges", {})
    return [
        {
            "key": key,
            "reason_code": reason,
            "reason": reasons.get(reason, reason),
            "range": ranges.get(key),
        }
        for key, reason in internal.get("decisions", {}).items()
    ]


def _step(
    request: HttpRequest, pk: int, action: Callable[[Release], object], success: str
) -> HttpResponse:
    """Run one workflow step on a release; errors become messages on the release page."""
    release = get_object_or_404(Release, pk=pk)
    try:
        action(release)
    except ValidationProblem as problem:
        for error in problem.errors:
            messages.error(request, error.message)
    except PermissionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success)
    return redirect("reports:release", pk=pk)


@role_required(*EPI)
@require_POST
def release_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(
        request,
        pk,
        lambda r: services.release_approve(user=request.user, release=r),
        _("Sent to community review."),
    )


@role_required(*REVIEWERS)
@require_POST
def release_review(request: HttpRequest, pk: int) -> HttpResponse:
    """Both review actions post here: a decision (one button per choice) or a comment."""
    is_comment = request.POST.get("decision") == ReviewDecision.COMMENT
    form: ReviewForm | CommentForm = (
        CommentForm(request.POST) if is_comment else ReviewForm(request.POST)
    )
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("reports:release", pk=pk)
    decision = ReviewDecision.COMMENT if is_comment else form.cleaned_data["decision"]
    done = {
        ReviewDecision.APPROVE: _("Your approval is recorded."),
        ReviewDecision.REQUEST_CHANGES: _(
            "Your request for changes is recorded; the release went back to the epidemiologists."
        ),
        ReviewDecision.COMMENT: _("Your comment is recorded (no decision)."),
    }
    return _step(
        request,
        pk,
        lambda r: services.release_review(
            user=request.user, release=r, decision=decision, body=form.cleaned_data["body"]
        ),
        done[decision],
    )


@role_required(*EPI)
@require_POST
def release_publish(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(
        request,
        pk,
        lambda r: services.release_publish(user=request.user, release_id=r.pk),
        _("Published."),
    )


@role_required(*EPI)
@require_http_methods(["GET", "POST"])
def release_retract(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation step of a retraction (works without JavaScript): the page asks for the
    public reason and an explicit confirmation, and the service refuses without either."""
    release = get_object_or_404(Release, pk=pk)
    if release.status != ReleaseStatus.PUBLISHED:
        messages.error(request, _("Only a published release can be retracted."))
        return redirect("reports:release", pk=pk)
    form = RetractForm(request.POST or None)
    if request.method == "POST":
        form.is_valid()  # cleaned_data then holds each field that is valid on its own
        try:
            services.release_retract(
                user=request.user,
                release=release,
                reason=str(request.POST.get("reason", "")),
                confirmed=bool(form.cleaned_data.get("confirm")),
            )
        except ValidationProblem as problem:
            form.errors.clear()
            for error in problem.errors:
                form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Retracted. The public page now says so, with the reason."))
            return redirect("reports:release", pk=pk)
    return render(
        request,
        "reports/release_retract.html",
        {"release": release, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@role_required(*EPI)
@require_POST
def release_correct(request: HttpRequest, pk: int) -> HttpResponse:
    form = CorrectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the analysis run and describe the correction."))
        return redirect("reports:release", pk=pk)
    release = get_object_or_404(Release, pk=pk)
    try:
        build, new = services.release_build_request(
            user=request.user,
            run=form.cleaned_data["run"],
            site_code=release.site_code,
            year=release.year,
            erratum=form.cleaned_data["erratum"],
            supersedes=release,
            late_data=form.cleaned_data.get("late_data") or LateData.REFUSE,
            request_key=form.cleaned_data.get("request_key"),
        )
    except ValidationProblem as problem:
        for error in problem.errors:
            messages.error(request, error.message)
        return redirect("reports:release", pk=pk)
    if not new:
        messages.info(request, _("A build of this report is already under way."))
    return redirect("reports:release_build", pk=build.pk)


@role_required(*REVIEWERS)
@require_http_methods(["GET", "POST"])
def comment_moderation(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        comment = get_object_or_404(PublicComment, pk=request.POST.get("comment"))
        services.public_comment_moderate(
            user=request.user, comment=comment, approve=request.POST.get("action") == "approve"
        )
        return redirect("reports:comment_moderation")
    pending = PublicComment.objects.filter(status="pending").select_related("release")
    return render(request, "reports/comment_moderation.html", {"comments": pending})
