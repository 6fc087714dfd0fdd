"""After login each role lands on its own workspace; pages refuse the other roles."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from healthwatch.roles import Role
from tests.conftest import client_for, make_user
from tests.i18n import h


def log_in(user: User) -> Client:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "test-password-123"}
    )
    assert response.status_code == 302
    return client


@pytest.mark.parametrize(
    ("role", "workspace", "marker"),
    [
        (Role.HEALTH_WORKER, "/field/", b'data-workspace="health_worker"'),
        (Role.EPIDEMIOLOGIST, "/analysis/", b'data-workspace="epidemiologist"'),
        (Role.COMMUNITY_REVIEWER, "/review/", b'data-workspace="community_reviewer"'),
        (Role.ADMIN, "/system/", b'data-workspace="admin"'),
    ],
)
@pytest.mark.django_db
def test_each_role_lands_on_its_own_workspace_after_login(
    role: Role, workspace: str, marker: bytes
) -> None:
    client = log_in(make_user("someone", role))
    response = client.get("/workspace/", follow=True)
    assert response.redirect_chain[-1][0] == workspace
    assert marker in response.content


@pytest.mark.django_db
def test_logging_in_goes_through_the_workspace_router() -> None:
    make_user("someone", Role.EPIDEMIOLOGIST)
    response = Client().post(
        "/accounts/login/", {"username": "someone", "password": "test-password-123"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/analysis/"


@pytest.mark.django_db
def test_a_user_without_a_role_is_told_to_ask_an_administrator() -> None:
    client = log_in(make_user("nobody"))
    response = client.get("/workspace/")
    assert response.status_code == 403
    assert h("Your account has no role yet").encode() in response.content


@pytest.mark.django_db
def test_a_wrong_password_shows_an_error_and_logs_nobody_in() -> None:
    make_user("someone", Role.HEALTH_WORKER)
    client = Client()
    response = client.post("/accounts/login/", {"username": "someone", "password": "nope"})
    assert response.status_code == 200
    # Django's own message, in the active language (its catalogue), naming the username field.
    wrong = h(
        "Please enter a correct %(username)s and password. Note that both fields may be "
        "case-sensitive.",
        username=str(User._meta.get_field("username").verbose_name),
    )
    assert wrong.encode() in response.content
    assert client.get("/field/").status_code == 302


@pytest.mark.django_db
def test_staff_workspaces_refuse_other_roles(
    worker_a: User, epidemiologist: User, community_reviewer: User
) -> None:
    assert client_for(worker_a).get("/analysis/").status_code == 403
    assert client_for(worker_a).get("/review/").status_code == 403
    assert client_for(worker_a).get("/system/").status_code == 403
    assert client_for(epidemiologist).get("/field/").status_code == 403
    assert client_for(community_reviewer).get("/analysis/").status_code == 403


@pytest.mark.django_db
def test_the_api_tells_a_signed_in_user_their_roles(epidemiologist: User) -> None:
    response = client_for(epidemiologist).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["roles"] == ["epidemiologist"]


@pytest.mark.django_db
def test_navigation_shows_only_the_links_a_role_may_open(worker_a: User) -> None:
    content = client_for(worker_a).get("/field/").content
    assert b'href="/field/"' in content
    assert b'href="/analysis/"' not in content
    assert b'href="/system/"' not in content
