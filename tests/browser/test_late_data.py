"""Late records for a year already published: each way out, chosen on the release page, in
headless Chromium (docs/privacy.md, "Late data")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import log_in, publish_tiny_release

pytestmark = pytest.mark.django_db(transaction=True)

LATE_VISITS = 3  # fewer than T = 10: publishing the change would reveal these records


@pytest.fixture
def late_records(
    tiny_community: Path,
    vocabulary_and_groups: None,
    epidemiologist: User,
    community_reviewer: User,
    admin_user: User,
) -> tuple[Any, Any]:
    """RH-SEP 2025 published; then three asthma diagnoses of 2025 arrive, and are analysed."""
    from analytics import services as analytics
    from surveys.models import Resident
    from surveys.services import ObservationInput, visit_record

    published = publish_tiny_release(tiny_community, epidemiologist, community_reviewer)
    residents = Resident.objects.filter(enrolled_on__lte=dt.date(2025, 1, 1)).order_by("pk")
    for resident in residents[:LATE_VISITS]:
        visit_record(
            user=admin_user,
            resident=resident,
            visited_on=dt.date(2025, 12, 20),
            observations=[ObservationInput("dx.J45", "true")],
        )
    run = analytics.analysis_run_execute_inline(
        run_id=analytics.analysis_run_request(user=None, enqueue=False).pk
    )
    return published, run


def draft_correction(page: Any, live_server: Any, release: Any, run: Any, option: str) -> None:
    page.goto(f"{live_server.url}/review/releases/{release.pk}/")
    page.select_option("select[name=run]", str(run.pk))
    page.fill("textarea[name=erratum]", "Three asthma diagnoses of December arrived late.")
    page.check(f"input[name=late_data][value={option}]")
    page.click("text=Draft a correction")


def test_each_way_out_for_late_data_works_from_the_release_page(
    browser: Any, live_server: Any, late_records: tuple[Any, Any], build_worker: None
) -> None:
    from reports.models import BuildStatus, Release, ReleaseBuild

    published, run = late_records
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(300_000)  # a build runs inside the request here
    log_in(page, live_server, "epi")

    # (a) Hold: refused, with how many more records each changed number needs, never its value.
    draft_correction(page, live_server, published, run, "refuse")
    page.wait_for_selector("[data-build-status=failed]")
    assert "fewer than 10 records" in page.locator("[role=alert]").inner_text()
    held = page.locator("table[data-table=held] tbody tr")
    assert held.count() >= 1
    first = held.first.inner_text()
    assert "RH-SEP 2025 version 1" in first and "more record" in first
    build = ReleaseBuild.objects.get(late_data="refuse")
    assert build.status == BuildStatus.FAILED and all(1 <= h["more"] < 10 for h in build.held)
    assert not Release.objects.filter(supersedes=published).exists()

    # (b) Publish with the changed numbers hidden: a draft whose changed cells are withheld.
    page.click("text=Choose another option for the correction")
    draft_correction(page, live_server, published, run, "suppress")
    page.wait_for_selector("[data-release-status]")
    hidden = Release.objects.get(supersedes=published, build__late_data="suppress")
    assert page.url.endswith(f"/review/releases/{hidden.pk}/")
    assert "Draft" in page.locator("[data-release-status]").inner_text()
    reasons = set(hidden.internal_audit["decisions"].values())
    assert any("revision" in reason.lower() for reason in reasons), reasons
    assert hidden.content["privacy"]["passed"] is True

    # (c) A coarser grouping: distance bands, no single area.
    draft_correction(page, live_server, published, run, "coarser")
    page.wait_for_selector("[data-release-status]")
    coarse = Release.objects.get(supersedes=published, build__late_data="coarser")
    assert page.url.endswith(f"/review/releases/{coarse.pk}/")
    assert "indicators_by_area" not in coarse.content["tables"]
    assert "indicators_by_distance" in coarse.content["tables"]
    assert coarse.content["privacy"]["passed"] is True
