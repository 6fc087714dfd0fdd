"""Anonymous visitors reach only public pages: checked on every route of the URL conf."""

import pytest
from django.test import Client

from tests.i18n import h
from tests.urlwalk import walk

# Views that anonymous visitors may open. Anything else public is a mistake this test catches.
PUBLIC_VIEWS = {
    "reports:home",
    "login",
    "logout",
    "admin:login",
    "set_language",  # the language switcher on every page (POST only)
}
PUBLIC_PREFIXES = ("reports:public_", "monitoring:public_")


def test_every_public_route_is_one_we_meant_to_publish() -> None:
    # DRF marks its views login-exempt and answers 401/403 itself; so do the OpenRosa routes
    # for ODK Collect, with a Basic challenge (both checked below).
    public = {
        r.name for r in walk() if r.is_public and not r.path.startswith(("/api/", "/openrosa/"))
    }
    unexpected = {name for name in public - PUBLIC_VIEWS if not name.startswith(PUBLIC_PREFIXES)}
    assert not unexpected, (
        f"routes readable without login that nobody declared public: {unexpected}"
    )


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_login_from_every_staff_page(anonymous: Client) -> None:
    checked = 0
    for route in walk():
        if route.is_public or route.path.startswith("/api/"):
            continue
        response = anonymous.get(route.path)
        location = response.headers.get("Location", "")
        assert response.status_code == 302, f"{route.name} {route.path}: {response.status_code}"
        assert location.startswith(("/accounts/login/", "/admin/login/")), (
            f"{route.name} {route.path} redirects to {location}"
        )
        checked += 1
    assert checked >= 5


@pytest.mark.django_db
def test_anonymous_api_clients_are_refused_on_every_api_route(anonymous: Client) -> None:
    checked = 0
    for route in walk():
        if not route.path.startswith("/api/"):
            continue
        for method in ("get", "post"):
            response = getattr(anonymous, method)(route.path)
            assert response.status_code in (401, 403), (
                f"{method.upper()} {route.name} {route.path}: {response.status_code}"
            )
        checked += 1
    assert checked >= 2


@pytest.mark.django_db
def test_anonymous_phones_are_challenged_on_every_login_exempt_openrosa_route(
    anonymous: Client,
) -> None:
    checked = 0
    for route in walk():
        if not (route.path.startswith("/openrosa/") and route.is_public):
            continue
        for method in ("get", "post", "head"):
            response = getattr(anonymous, method)(route.path)
            assert response.status_code == 401, (
                f"{method.upper()} {route.name} {route.path}: {response.status_code}"
            )
            assert response.headers["WWW-Authenticate"].startswith("Basic ")
        checked += 1
    assert checked >= 4


@pytest.mark.django_db
def test_the_public_home_page_opens_without_login(anonymous: Client) -> None:
    response = anonymous.get("/")
    assert response.status_code == 200
    assert h("Staff login").encode() in response.content
    assert b"data-staff-link" not in response.content
