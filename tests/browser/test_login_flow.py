"""A person logs in on a phone-sized screen and lands on their workspace."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_health_worker_logs_in_on_a_phone_and_reaches_the_field_workspace(
    phone_page: Any, live_server: Any, worker_a: User
) -> None:
    log_in(phone_page, live_server, "worker_a")
    phone_page.wait_for_url(f"{live_server.url}/field/")
    assert phone_page.locator("h1").inner_text() == "Field workspace"
    # Nothing is wider than the phone: no horizontal scrolling on a 360 px screen.
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360


def test_a_wrong_password_is_explained_on_the_login_page(
    phone_page: Any, live_server: Any, worker_a: User
) -> None:
    log_in(phone_page, live_server, "worker_a", password="wrong")
    assert "correct username and password" in phone_page.locator("[role=alert]").inner_text()


def test_an_anonymous_visitor_sees_the_public_site_without_staff_links(
    desktop_page: Any, live_server: Any
) -> None:
    desktop_page.goto(live_server.url + "/")
    assert "Community health" in desktop_page.locator("h1").inner_text()
    assert desktop_page.locator("[data-staff-link]").count() == 0
    desktop_page.goto(live_server.url + "/analysis/")
    assert "/accounts/login/" in desktop_page.url


def test_an_epidemiologist_logs_out_and_is_back_on_the_public_site(
    desktop_page: Any, live_server: Any, epidemiologist: User
) -> None:
    log_in(desktop_page, live_server, "epi")
    desktop_page.wait_for_url(f"{live_server.url}/analysis/")
    desktop_page.click("text=Log out epi")
    desktop_page.wait_for_url(f"{live_server.url}/")
    assert desktop_page.locator("text=Staff login").count() == 1
