"""A community monitor reaches their own monitoring pages and the public site, nothing else:
no health record, analysis, report draft, export, import, admin or API route. Walked over every
route of the URL conf, so a route added later is held to it too."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from healthwatch.roles import Role
from tests.conftest import client_for, make_user
from tests.urlwalk import Route, walk

pytestmark = pytest.mark.django_db

MONITOR_PAGES = {
    "monitoring:monitor_home",
    "monitoring:monitor_sample_new",
    "monitoring:monitor_reading_new",
    "monitoring:monitor_sw",  # the offline worker of these pages
}
ALWAYS = {"workspace", "login", "logout"}


def may_open(route: Route) -> bool:
    if route.path.startswith(("/api/", "/openrosa/", "/admin/")):
        return False
    return route.name in MONITOR_PAGES | ALWAYS or route.is_public


def refused(response: object) -> bool:
    status = response.status_code  # type: ignore[attr-defined]
    location = response.headers.get("Location", "")  # type: ignore[attr-defined]
    return status in (401, 403, 404) or (status == 302 and "/login/" in location)


def test_a_monitor_is_refused_on_every_route_that_is_not_theirs_or_public(monitor: User) -> None:
    client = client_for(monitor)
    checked = 0
    for route in walk():
        if may_open(route):
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(route.path)
            assert refused(response), (
                f"{method.upper()} {route.name} {route.path}: {response.status_code}"
            )
        checked += 1
    assert checked >= 40


def test_a_monitor_with_an_api_token_is_refused_on_every_api_route(monitor: User) -> None:
    token = Token.objects.create(user=monitor)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    checked = 0
    for route in walk():
        if not route.path.startswith("/api/"):
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(route.path)
            assert response.status_code in (403, 404), (
                f"{method.upper()} {route.name} {route.path}: {response.status_code}"
            )
        checked += 1
    assert checked >= 5


def test_the_monitor_pages_open_for_a_monitor_and_the_workspace_sends_them_there(
    monitor: User,
) -> None:
    client = client_for(monitor)
    for path in ("/monitoring/my/", "/monitoring/my/samples/new/", "/monitoring/my/readings/new/"):
        assert client.get(path).status_code == 200, path
    response = client.get("/workspace/", follow=True)
    assert response.redirect_chain[-1][0] == "/monitoring/my/"
    assert b'data-workspace="community_monitor"' in response.content
    assert b"/field/" not in response.content  # no link to the health workspace


def test_a_monitor_who_is_also_a_health_worker_keeps_the_health_workers_pages(db: None) -> None:
    user = make_user("both", Role.COMMUNITY_MONITOR, Role.HEALTH_WORKER)
    assert client_for(user).get("/field/").status_code == 200


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("epidemiologist", 200),
        ("admin_user", 200),
        ("worker_a", 403),
        ("community_reviewer", 403),
    ],
)
def test_only_validators_open_lab_results_and_validation(
    who: str, expected: int, request: pytest.FixtureRequest
) -> None:
    client = client_for(request.getfixturevalue(who))
    for path in ("/monitoring/lab-results/", "/monitoring/validation/"):
        assert client.get(path).status_code == expected, path


def test_anonymous_visitors_see_the_public_monitoring_pages_but_not_the_staff_ones(
    anonymous: Client, water_station: object
) -> None:
    from monitoring.publishing import public_snapshot_refresh

    public_snapshot_refresh()
    for path in ("/monitoring/", "/monitoring/stations/W-01/", "/monitoring/complaints/new/"):
        assert anonymous.get(path).status_code == 200, path
    for path in ("/monitoring/my/", "/monitoring/validation/", "/monitoring/complaints/"):
        assert anonymous.get(path).status_code == 302, path
