"""The pages work under the Content-Security-Policy: Chromium reports no violation.

Chromium reports every blocked script, style or request twice: as a console error ("Refused to
…") and as a `securitypolicyviolation` DOM event. Both are collected for each page; the canary
test injects an inline script to show that the collection does see a violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import log_in, publish_tiny_release

pytestmark = pytest.mark.django_db(transaction=True)

LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


class Watched:
    """A page whose CSP violations (DOM events and console messages) are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(LISTEN)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console.append(text)

    def violations(self) -> list[str]:
        events = self.page.evaluate("window.__cspViolations || []")
        return [*events, *self.console]


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield Watched(page)
    context.close()


@pytest.fixture
def published_release(
    tiny_community: Path,
    vocabulary_and_groups: None,
    epidemiologist: User,
    community_reviewer: User,
) -> Any:
    return publish_tiny_release(tiny_community, epidemiologist, community_reviewer)


def test_the_violation_watch_sees_an_inline_script_the_policy_blocks(
    watched: Watched, live_server: Any
) -> None:
    page = watched.page
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate(
        "const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        "document.body.appendChild(s);"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.ran") is None
    assert any("script-src" in v for v in watched.violations())


def test_public_login_field_and_analysis_pages_work_under_the_csp_without_violations(
    watched: Watched,
    live_server: Any,
    published_release: Any,
    worker_a: User,
    epidemiologist: User,
) -> None:
    from analytics import services as analytics_services

    page = watched.page
    seen: dict[str, list[str]] = {}

    # The public release page: findings, server-rendered SVG charts (styled), downloads.
    page.goto(f"{live_server.url}/")
    page.goto(f"{live_server.url}/reports/RH-SEP/2025/v1/")
    assert published_release.site_name in page.locator("main").inner_text()
    assert page.locator("svg.chart").count() >= 1
    seen["public release"] = watched.violations()

    # Login: the form posts and lands on the workspace.
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    seen["login"] = watched.violations()

    # A field form: the station form validates and saves.
    page.goto(f"{live_server.url}/field/stations/new/")
    page.fill("[name=code]", "AQ-CSP")
    page.fill("[name=name]", "School roof")
    page.select_option("[name=medium]", "air")
    page.fill("[name=latitude]", "25")
    page.fill("[name=longitude]", "110")
    page.click("main button[type=submit]")
    assert "Station AQ-CSP added." in page.locator(".messages").inner_text()
    seen["field form"] = watched.violations()

    # The analysis workspace, an outcome's charts, and a queued run whose page polls its status
    # from a static script.
    page.context.clear_cookies()
    log_in(page, live_server, "epi")
    page.wait_for_url(f"{live_server.url}/analysis/")
    page.click("a[href$='/analysis/outcomes/symptom.cough/']")  # shown by its label
    assert page.locator("figure.chart-figure svg").count() >= 2
    queued = analytics_services.analysis_run_request(user=epidemiologist, enqueue=False)
    with page.expect_request(f"**/analysis/runs/{queued.pk}/status.json"):
        page.goto(f"{live_server.url}/analysis/runs/{queued.pk}/")
    seen["analysis workspace"] = watched.violations()

    assert seen == {
        "public release": [],
        "login": [],
        "field form": [],
        "analysis workspace": [],
    }
