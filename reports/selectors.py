"""Reads of the reports app. The public functions touch only the reports' own snapshot tables."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from reports.models import (
    CommentStatus,
    OpenDataSnapshot,
    PublicComment,
    Release,
    ReleaseFile,
    ReleaseStatus,
)

PUBLIC_STATUSES = (ReleaseStatus.PUBLISHED, ReleaseStatus.RETRACTED)
PUBLIC_FIELDS = (
    "pk",
    "site_code",
    "site_name",
    "year",
    "version",
    "status",
    "content_hash",
    "published_at",
    "retracted_at",
    "retraction_reason",
    "superseded",
    "erratum",
    "supersedes_id",
)


def public_releases() -> QuerySet[Release]:
    """Published (and retracted) releases, without their heavy content."""
    return Release.objects.filter(status__in=PUBLIC_STATUSES).only(*PUBLIC_FIELDS)


def public_release(site_code: str, year: int, version: int, language: str = "en") -> Release | None:
    """A published release with its frozen page in `language` (English when that language's
    page was not stored) as `page_html`; never the (large) content JSON."""
    return (
        Release.objects.filter(
            status__in=PUBLIC_STATUSES, site_code=site_code, year=year, version=version
        )
        .only(*PUBLIC_FIELDS)
        .annotate(
            page_html=Coalesce(
                KeyTextTransform("html", KeyTransform(language, "rendered_i18n")),
                F("rendered_html"),
                output_field=TextField(),
            )
        )
        .first()
    )


def public_release_file(release: Release, name: str) -> ReleaseFile | None:
    return ReleaseFile.objects.filter(release=release, name=name).first()


def public_release_file_names(release: Release) -> list[str]:
    return list(ReleaseFile.objects.filter(release=release).values_list("name", flat=True))


def approved_comments(release: Release) -> QuerySet[PublicComment]:
    return PublicComment.objects.filter(release=release, status=CommentStatus.APPROVED)


def later_versions(release: Release) -> QuerySet[Release]:
    return public_releases().filter(
        site_code=release.site_code, year=release.year, version__gt=release.version
    )


def current_version(release: Release) -> Release | None:
    """The version that replaces a superseded one (the latest published); None when current."""
    if not release.superseded:
        return None
    return (
        later_versions(release).filter(status=ReleaseStatus.PUBLISHED).order_by("-version").first()
    )


def public_release_table(
    site_code: str, year: int, version: int, name: str, language: str = "en"
) -> Release | None:
    """A published release with the one frozen table page asked for (never the others), in
    `language` when stored, else English, as `table_html`."""
    translated = KeyTextTransform(
        name, KeyTransform("tables", KeyTransform(language, "rendered_i18n"))
    )
    return (
        Release.objects.filter(
            status__in=PUBLIC_STATUSES,
            site_code=site_code,
            year=year,
            version=version,
            rendered_tables__has_key=name,
        )
        .only(*PUBLIC_FIELDS)
        .annotate(
            table_html=Coalesce(
                translated,
                KeyTextTransform(name, "rendered_tables"),
                output_field=TextField(),
            )
        )
        .first()
    )


def latest_open_data() -> OpenDataSnapshot | None:
    return OpenDataSnapshot.objects.order_by("-created_at", "-id").first()


def staff_releases() -> QuerySet[Release]:
    return Release.objects.only(*PUBLIC_FIELDS, "created_at", "approved_at").order_by("-created_at")


def default_report_year(*, today: dt.date | None = None) -> tuple[int | None, int | None]:
    """The analysis run and year a new report most likely wants: the latest succeeded run, and
    the latest calendar year of its results that has ended (this year's report waits for the
    year to end), else the latest year it has. (None, None) when nothing has run yet."""
    from analytics.models import AnalysisRun, ResultRow, RunStatus

    today = today or timezone.localdate()
    run = (
        AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED, result_set__isnull=False)
        .order_by("-finished_at", "-pk")
        .first()
    )
    if run is None:
        return None, None
    periods = (
        ResultRow.objects.filter(result_set_id=run.result_set_id, period__regex=r"^\d{4}$")
        .values_list("period", flat=True)
        .distinct()
    )
    years = sorted({int(p) for p in periods})
    ended = [y for y in years if y < today.year]
    candidates = ended or years
    return run.pk, (candidates[-1] if candidates else None)


def site_name(site_code: str) -> str:
    """A production site's name, as people know it (its code when it has none)."""
    from surveys.models import ProductionSite

    name = ProductionSite.objects.filter(code=site_code).values_list("name", flat=True).first()
    return name or site_code
