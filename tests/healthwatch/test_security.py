"""Authentication hardening: login lockout, API throttles, proxy-aware addresses, CSP, renderers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.i18n import h

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/accounts/login/"
WRONG = {"username": "epi", "password": "not-the-password"}
RIGHT = {"username": "epi", "password": "test-password-123"}
API = cast(dict[str, Any], settings.REST_FRAMEWORK)
RATES = cast(dict[str, str], API["DEFAULT_THROTTLE_RATES"])  # read live by the throttles


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Throttle counters live in the cache: each test starts from none."""
    cache.clear()
    yield
    cache.clear()


# --- the client's address ----------------------------------------------------------------------


def test_without_a_trusted_proxy_the_client_address_is_the_socket_peer_whatever_the_headers() -> (
    None
):
    from healthwatch.security import client_address

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    with override_settings(HEALTHWATCH_TRUSTED_PROXIES=0):
        assert client_address(request) == "10.0.0.1"


def test_behind_one_trusted_proxy_the_client_address_is_the_one_the_proxy_saw() -> None:
    # A client may send its own X-Forwarded-For; the proxy appends the address it saw last.
    from healthwatch.security import client_address

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    with override_settings(HEALTHWATCH_TRUSTED_PROXIES=1):
        assert client_address(request) == "203.0.113.7"


def test_a_malformed_forwarded_address_falls_back_to_the_socket_peer() -> None:
    from healthwatch.security import client_address

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="<script>")
    with override_settings(HEALTHWATCH_TRUSTED_PROXIES=1):
        assert client_address(request) == "10.0.0.1"


# --- login lockout -------------------------------------------------------------------------------


def test_repeated_wrong_passwords_lock_the_account_from_that_address_even_for_the_right_one(
    epidemiologist: User,
) -> None:
    client = Client(REMOTE_ADDR="198.51.100.5")
    answers = [client.post(LOGIN, WRONG).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    # The form is shown again until the failure that reaches the limit, which locks.
    assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = client.post(LOGIN, RIGHT)
    assert locked.status_code == 429
    locked_out = h(
        "Too many failed sign-in attempts for this account from your connection. Please wait "
        "and try again later, or ask an administrator to lift the lock."
    )
    assert locked_out.encode() in locked.content
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_keyed_on_user_and_address_so_another_address_can_still_sign_in(
    epidemiologist: User,
) -> None:
    attacker = Client(REMOTE_ADDR="198.51.100.5")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(LOGIN, WRONG)
    colleague = Client(REMOTE_ADDR="198.51.100.99")
    assert colleague.post(LOGIN, RIGHT).status_code == 302


@override_settings(HEALTHWATCH_TRUSTED_PROXIES=1)
def test_behind_the_proxy_the_lockout_follows_the_forwarded_client_not_the_proxy(
    epidemiologist: User,
) -> None:
    attacker = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.5")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(LOGIN, WRONG)
    assert attacker.post(LOGIN, RIGHT).status_code == 429
    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert colleague.post(LOGIN, RIGHT).status_code == 302


# --- API throttles -------------------------------------------------------------------------------


def test_guessing_api_tokens_is_throttled_per_client_address(
    epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(RATES, "token_failures", "3/h")
    guesser = APIClient(REMOTE_ADDR="198.51.100.5")
    for attempt in range(3):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token wrong{attempt}")
        assert guesser.get("/api/v1/me/").status_code == 403  # DRF: 403 when sessions come first
    token = Token.objects.create(user=epidemiologist)
    guesser.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert guesser.get("/api/v1/me/").status_code == 429
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.99")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert elsewhere.get("/api/v1/me/").status_code == 200


def test_a_signed_in_api_user_is_throttled_past_the_configured_rate(
    epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(RATES, "user", "3/min")
    client = APIClient()
    client.force_authenticate(epidemiologist)
    assert [client.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_the_api_throttles_are_configured() -> None:
    assert API["DEFAULT_THROTTLE_CLASSES"]
    assert {"anon", "user", "token_failures"} <= set(RATES)


# --- API renderers -------------------------------------------------------------------------------


def test_with_debug_off_the_api_answers_json_even_to_a_browser(epidemiologist: User) -> None:
    assert not settings.DEBUG
    client = Client()
    client.force_login(epidemiologist)
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get("/api/v1/me/", HTTP_ACCEPT=browser_accept)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["username"] == "epi"


# --- Content-Security-Policy ---------------------------------------------------------------------


def test_every_page_carries_a_strict_content_security_policy(db: None) -> None:
    response = Client().get("/")
    policy = response["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives.get("script-src", directives["default-src"])
    assert "'unsafe-inline'" not in directives.get("style-src", directives["default-src"])
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


def test_no_template_carries_an_inline_script_style_or_event_handler() -> None:
    """Under the CSP inline code does not run: it belongs in static files."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=\"", re.IGNORECASE
    )
    offenders = []
    for folder in ("templates", "healthwatch", "surveys", "analytics", "reports", "notifications"):
        for path in (ROOT / folder).rglob("*.html"):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if inline.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_an_api_url_that_matches_no_route_answers_json_404_and_a_page_url_html(db: None) -> None:
    api = Client().get("/api/v1/visits/0.5/")
    assert api.status_code == 404 and api["Content-Type"] == "application/json"
    page = Client().get("/no/such/page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_the_api_schema_declares_the_refusals_every_operation_can_answer() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            declared = set(operation["responses"])
            assert {"400", "401", "403", "404", "429"} <= declared, (method, path)


def test_signing_in_without_a_request_still_works_as_there_is_no_address_to_lock(
    epidemiologist: User,
) -> None:
    """The test client's login() and management commands authenticate with no request."""
    assert Client().login(username="epi", password="test-password-123")
