"""Headless Chromium (Debian's package) driven by Playwright, against pytest-django's live server.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without it the browser
tests skip on a developer's machine and fail when CI is set.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer

from tests.conftest import in_ci

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there (creating users, reading rows) are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class _InFlight:
    """The requests the live server is serving or about to serve (waiting for their turn)."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def enter(self) -> None:
        with self.changed:
            self.count += 1

    def leave(self) -> None:
        with self.changed:
            self.count -= 1
            self.changed.notify_all()

    def wait_until_idle(self, timeout: float, settle: float = 0.2) -> bool:
        """True once no request has been in flight for `settle` seconds (a request accepted
        just before the browser closed reaches the application a moment later)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                while self.count:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.changed.wait(left):
                        return False
                if not self.changed.wait(settle) and self.count == 0:
                    return True


# One for the session's live server: the page fixtures wait on it before the test's database
# is flushed, so that a page's background requests (outbox.js precaching the field pages) never
# run beside the flush ("database table is locked" at teardown on the in-memory SQLite).
IN_FLIGHT = _InFlight()


class OneRequestAtATimeServer(ThreadedWSGIServer):
    """The browser tests' live server, running the application for one request at a time.

    On the SQLite default the test database is in memory. Depending on whether the database
    was set up before the live server started, the request threads either share the test's
    one connection or each open their own to SQLite's shared cache, which locks whole tables
    and does not wait: two requests at once interleave their transactions on one connection,
    or one fails at once with "database table is locked". A field page's offline precache
    (outbox.js fetches several pages in the background) running beside the next login made
    that login fail, and the test waited 30 s for a redirect that never came (CI, stop 28).

    A connection still gets its own thread, so an idle socket Chromium opens ahead of time
    blocks nothing; only the application, and the streaming of its response, take turns.
    """

    TURN_TIMEOUT = 60.0  # seconds; a turn never given back fails loudly instead of hanging

    def set_app(self, application: Any) -> None:
        super().set_app(self._one_at_a_time(application))

    @staticmethod
    def _one_at_a_time(application: Any) -> Any:
        turn = threading.Lock()

        def app(environ: dict[str, Any], start_response: Any) -> _ReleasedWhenClosed:
            IN_FLIGHT.enter()
            if not turn.acquire(timeout=OneRequestAtATimeServer.TURN_TIMEOUT):
                IN_FLIGHT.leave()
                raise RuntimeError(
                    "the live server's previous response was never closed: its turn was not "
                    "given back (tests/browser/conftest.py)"
                )
            try:
                response = application(environ, start_response)
            except BaseException:
                turn.release()
                IN_FLIGHT.leave()
                raise
            return _ReleasedWhenClosed(response, turn)

        return app


class _ReleasedWhenClosed:
    """A WSGI response that gives the turn back when the server closes it (PEP 3333: the server
    calls close() however the response ends, a client that hung up included)."""

    def __init__(self, response: Any, turn: threading.Lock) -> None:
        self.response = response
        self.turn: threading.Lock | None = turn

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        try:
            if hasattr(self.response, "close"):
                self.response.close()
        finally:
            turn, self.turn = self.turn, None  # once, however often close() is called
            if turn is not None:
                turn.release()
                IN_FLIGHT.leave()


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """pytest-django's live server (same address rules), taking turns: for the tests in this
    folder only, whatever ran first in the session. The integration suite, which imports
    log_in from here, keeps pytest-django's: its double-tap tests need requests that really
    run at the same time."""
    from pytest_django.live_server_helper import LiveServer

    address = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    server = LiveServer(address, start=False)
    server.thread.server_class = OneRequestAtATimeServer  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()


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


@pytest.fixture(autouse=True)
def _requests_done_before_the_flush() -> Iterator[None]:
    """A test's own browser contexts (closed in the test) leave no request running into the
    flush of its database."""
    yield
    if not IN_FLIGHT.wait_until_idle(timeout=OneRequestAtATimeServer.TURN_TIMEOUT):
        pytest.fail("the live server was still serving requests 60 s after the test")


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    """A fresh browser context with a 360 px wide viewport, as on a health worker's phone."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    _close(context)


@pytest.fixture
def desktop_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    _close(context)


def _close(context: Any) -> None:
    """Close the browser, then let the requests it left behind finish before the test's database
    is flushed (the page fixtures are torn down before the database)."""
    context.close()
    if not IN_FLIGHT.wait_until_idle(timeout=OneRequestAtATimeServer.TURN_TIMEOUT):
        pytest.fail("the live server was still serving requests 60 s after the browser closed")


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
