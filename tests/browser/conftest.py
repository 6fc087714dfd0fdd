"""Headless Chromium (Debian's package) driven by Playwright, against pytest-django's live server.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without it the browser
tests skip on a developer's machine and fail when CI is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import in_ci

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there (creating users, reading rows) are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("HEALTHWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    """A fresh browser context with a 360 px wide viewport, as on a health worker's phone."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def desktop_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page: Any, live_server: Any, username: str, password: str = "test-password-123") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def publish_tiny_release(tiny_community: Any, epidemiologist: Any, community_reviewer: Any) -> Any:
    """The tiny community imported, analysed inline and its RH-SEP 2025 report published (for
    transactional tests that serve it through a live server)."""
    from analytics import services as analytics_services
    from reports import services
    from tests.conftest import load_community

    load_community(tiny_community)
    run = analytics_services.analysis_run_request(user=None, enqueue=False)
    run = analytics_services.analysis_run_execute_inline(run_id=run.pk)
    draft = services.release_build_draft(
        user=epidemiologist, run=run, site_code="RH-SEP", year=2025
    )
    services.release_approve(user=epidemiologist, release=draft)
    services.release_review(user=community_reviewer, release=draft, decision="approve", body="ok")
    return services.release_publish(user=epidemiologist, release_id=draft.pk)
