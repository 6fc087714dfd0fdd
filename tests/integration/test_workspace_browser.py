"""The epidemiologist's workspace in headless Chromium, with a real worker doing the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from analytics.models import RunStatus
from tests.browser.conftest import log_in
from tests.conftest import load_community
from tests.i18n import t

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_started_from_the_dashboard_shows_progress_then_results_and_charts(
    browser: Any,
    live_server: Any,
    tiny_community: Path,
    vocabulary: None,
    epidemiologist: User,
    start_worker: Any,
) -> None:
    load_community(tiny_community)
    start_worker("browser")
    # The browser asks for the suite's language (Accept-Language), so the page is in it.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale=translation.get_language()
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    log_in(page, live_server, "epi")
    page.wait_for_url(f"{live_server.url}/analysis/")
    assert page.locator("h1").inner_text() == t("Analysis workspace")
    page.click(f"text={t('Start a run of the standard suite')}")
    page.wait_for_url(f"{live_server.url}/analysis/runs/*/")
    progress = page.locator("#run-progress")
    assert progress.count() == 1
    seen = {progress.get_attribute("value")}
    # The page polls the status every second and reloads when the run has finished.
    for _ in range(240):
        if page.locator("[data-results]").count():
            break
        if progress.count():
            seen.add(progress.get_attribute("value"))
        page.wait_for_timeout(500)
    assert page.locator("[data-results] a").count() >= 5, page.content()[:2000]
    assert str(RunStatus.SUCCEEDED.label) in page.locator("[data-run-status]").inner_text()
    assert len(seen) >= 1
    page.goto(f"{live_server.url}/analysis/")
    page.click("a[href$='/analysis/outcomes/symptom.cough/']")  # shown by its label
    assert page.locator("figure.chart-figure svg").count() >= 2
