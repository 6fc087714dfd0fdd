"""A report goes from draft to the public site, in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import log_in
from tests.conftest import load_community

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def approved_draft(tiny_community: Path, vocabulary_and_groups: None, epidemiologist: User) -> Any:
    from analytics import services as analytics_services
    from reports import services

    load_community(tiny_community)
    run = analytics_services.analysis_run_request(user=None, enqueue=False)
    run = analytics_services.analysis_run_execute_inline(run_id=run.pk)
    draft = services.release_build_draft(
        user=epidemiologist, run=run, site_code="RH-SEP", year=2025
    )
    return services.release_approve(user=epidemiologist, release=draft)


def test_a_report_needs_the_community_then_renders_publicly_with_charts_and_downloads(
    browser: Any,
    live_server: Any,
    approved_draft: Any,
    epidemiologist: User,
    community_reviewer: User,
) -> None:
    staff_url = f"{live_server.url}/review/releases/{approved_draft.pk}/"

    epi = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(epi, live_server, "epi")
    epi.goto(staff_url)
    assert epi.locator("button[name=publish]").is_disabled()
    assert "The community has not signed off" in epi.locator("[data-publish-blocker]").inner_text()

    reviewer = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    log_in(reviewer, live_server, "reviewer")
    reviewer.goto(staff_url)
    assert reviewer.locator("text=Internal disclosure audit").count() == 0
    reviewer.fill("#id_body", "Discussed at the village meeting.")
    reviewer.click("button[name=decision][value=approve]")
    assert "Your approval is recorded." in reviewer.locator(".messages").inner_text()

    epi.goto(staff_url)
    epi.click("button[name=publish]")
    assert "Published." in epi.locator(".messages").inner_text()

    visitor = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    visitor.goto(f"{live_server.url}/")
    visitor.click("text=2025 annual report, version 1")
    assert "Community health report" in visitor.locator("h1").first.inner_text()
    assert visitor.locator("figure.chart-figure svg").count() >= 3
    assert visitor.locator("[data-topic]").count() == 5
    visitor.click("[data-topic=respiratory] [data-table-link]")
    assert visitor.locator("table[data-table=indicators_by_distance] tbody tr").count() > 10
    assert visitor.locator("[data-suppressed]").count() > 0
    visitor.go_back()
    assert visitor.locator("[data-staff-link]").count() == 0
    assert visitor.locator("text=Log out").count() == 0

    base = f"{live_server.url}/reports/RH-SEP/2025/v1/"
    table = visitor.request.get(base + "indicators_by_area.csv")
    rows = list(csv.reader(io.StringIO(table.text())))
    assert rows[0][:3] == ["analysis", "outcome", "area_code"] and len(rows) > 20
    document = json.loads(visitor.request.get(base + "trend.json").text())
    assert document["rows"] and document["metadata"]["year"] == 2025
    archive = zipfile.ZipFile(io.BytesIO(visitor.request.get(base + "release.zip").body()))
    assert "metadata.json" in archive.namelist()
    shown_hash = visitor.locator("[data-content-hash]").inner_text()
    assert json.loads(archive.read("metadata.json"))["content_hash"] == shown_hash
