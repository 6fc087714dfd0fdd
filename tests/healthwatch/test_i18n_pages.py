"""Every word a person reads goes through a translation tag (issue #15).

The main pages are rendered in a pseudo-locale that wraps each translated message in ⟦…⟧
(tests/pseudo_locale.py). What remains outside the markers, once the data (names and codes
from the database, numbers) are taken out, is English no translator can reach: the test lists
it, page by page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from healthwatch.roles import Role
from surveys.models import AreaAssignment
from tests.conftest import client_for, make_user
from tests.pseudo_locale import pseudo_locale, untranslated_words

pytestmark = pytest.mark.django_db

# Words that are the same in every language: the product, units, formats, standards' names.
ALLOWED = {
    "HealthWatch", "CSV", "JSON", "PDF", "SVG", "API", "ICD", "LOINC", "WHO", "ODK",
    "km", "µg", "dL", "mL", "mmHg", "kg", "cm", "m³", "L", "mg", "ppm", "ppb",
}  # fmt: skip


def _database_data() -> set[str]:
    """Names and codes a page shows as data: never translated by the catalogues."""
    from django.apps import apps

    values: set[str] = set(User.objects.values_list("username", flat=True))
    for label, fields in {
        "surveys.ProductionSite": ("code", "name"),
        "surveys.Area": ("code", "name"),
        "surveys.Station": ("code", "name"),
        "surveys.VocabularyCode": ("code", "label", "canonical_unit", "icd10", "loinc"),
        "reports.Release": ("site_code", "site_name"),
        "reports.ReviewComment": ("body",),
    }.items():
        model = apps.get_model(label)
        for row in model.objects.values_list(*fields):
            values.update(str(v) for v in row if v)
    return values


@pytest.fixture
def world(community: Path, epidemiologist: User, community_reviewer: User) -> dict[str, object]:
    """The tiny community analysed, a release published and frozen in the pseudo-locale."""
    from analytics import services as analytics_services
    from reports import rendering
    from reports import services as report_services
    from surveys.models import Resident, Station

    run = analytics_services.analysis_run_request(user=None, enqueue=False)
    run = analytics_services.analysis_run_execute_inline(run_id=run.pk)
    draft = report_services.release_build_draft(
        user=epidemiologist, run=run, site_code="RH-SEP", year=2025
    )
    report_services.release_approve(user=epidemiologist, release=draft)
    report_services.release_review(
        user=community_reviewer, release=draft, decision="approve", body="agreed"
    )
    release = report_services.release_publish(user=epidemiologist, release_id=draft.pk)
    with pseudo_locale():  # the snapshot again, its words marked
        labels = rendering.publication_labels(release.content)
        pages = rendering.render_pages(release, labels, rendering.release_map(release))
    release.rendered_html = pages.html
    release.rendered_tables = pages.tables
    release.rendered_i18n = {}
    release.save()
    resident = Resident.objects.order_by("pk").first()
    station = Station.objects.order_by("pk").first()
    assert resident is not None and station is not None
    return {"release": release, "resident": resident, "station": station, "draft": draft}


def _pages(world: dict[str, object]) -> dict[str, list[str]]:
    release = world["release"]
    base = f"/reports/{release.site_code}/{release.year}/v{release.version}/"  # type: ignore[attr-defined]
    table = next(iter(release.content["tables"]))  # type: ignore[attr-defined]
    resident = world["resident"].pk  # type: ignore[attr-defined]
    station = world["station"].pk  # type: ignore[attr-defined]
    return {
        "anonymous": [
            "/",
            base,
            f"{base}tables/{table}/",
            f"{base}comments/",
            "/methodology/",
            "/privacy/",
            "/open-data/",
            "/accounts/login/",
        ],
        "health_worker": [
            "/field/",
            "/field/find/",
            "/field/residents/new/",
            f"/field/residents/{resident}/",
            f"/field/residents/{resident}/visits/new/",
            "/field/visits/mine/",
            "/field/stations/",
            f"/field/stations/{station}/",
            "/field/import/",
            "/accounts/notifications/",
        ],
        "epidemiologist": [
            "/analysis/",
            "/field/quality/",
            "/field/audit/",
            "/review/",
            f"/review/releases/{world['draft'].pk}/",  # type: ignore[attr-defined]
            "/review/comments/",
        ],
        "community_reviewer": ["/review/"],
        "admin": ["/system/", "/workspace/"],
    }


ROLES = {
    "health_worker": Role.HEALTH_WORKER,
    "epidemiologist": Role.EPIDEMIOLOGIST,
    "community_reviewer": Role.COMMUNITY_REVIEWER,
    "admin": Role.ADMIN,
}


def test_the_main_pages_show_no_word_outside_a_translation_tag(world: dict[str, object]) -> None:
    clients: dict[str, Client] = {"anonymous": Client()}
    for name, role in ROLES.items():
        user = make_user(f"pseudo_{name}", role)
        if role == Role.HEALTH_WORKER:  # sees the residents of the resident's area
            AreaAssignment.objects.create(user=user, area=world["resident"].area)  # type: ignore[attr-defined]
        clients[name] = client_for(user)
    data = _database_data()
    found: dict[str, list[str]] = {}
    with pseudo_locale():
        for who, urls in _pages(world).items():
            for url in urls:
                cache.clear()
                response = clients[who].get(url, follow=True)
                assert response.status_code == 200, f"{who} {url}: {response.status_code}"
                words = untranslated_words(response.content.decode(), data, ALLOWED)
                if words:
                    found[f"{who} {url}"] = sorted(set(words))
    assert not found, "English outside translation tags:\n" + "\n".join(
        f"  {page}: {' '.join(words)}" for page, words in found.items()
    )
