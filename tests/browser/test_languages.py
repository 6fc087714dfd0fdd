"""The community's languages in headless Chromium (#15): a health worker switches to French on
the page they are on and records a blood lead typed with a decimal comma; the public release
page in Chinese and in Swahili (the page frozen in each language at publication), with the
vocabulary's translated labels, and its downloads the same in every language.

The assertions are on what this branch controls (the page's lang, the vocabulary labels of
surveys/data/vocabulary_v1.json), not on the catalogues' wording."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.formats import date_format

from surveys.models import Area, AreaAssignment, Observation, ProductionSite
from tests.browser.conftest import log_in, publish_tiny_release

pytestmark = pytest.mark.django_db(transaction=True)

LEAD = '[name="lab.blood_lead.value"]'
CONTRACT = (
    "analysis,outcome,area_code,period,stratum,measure,estimate,ci_lower,ci_upper,"
    "numerator,denominator,p_value,flags"
)


def switch_language(page: Any, language: str) -> None:
    page.select_option("#language-select", language)
    page.click("[data-language-switcher] [type=submit]")
    page.wait_for_selector(f'html[lang="{language}"]')


def test_a_health_worker_switches_to_french_and_types_a_decimal_comma(
    phone_page: Any, live_server: Any, worker_a: User, vocabulary_and_groups: None
) -> None:
    ProductionSite.objects.create(
        code="SEP1", name="Plant", kind="separation_plant", latitude=25.0, longitude=110.0
    )
    area = Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)
    AreaAssignment.objects.create(user=worker_a, area=area)
    page = phone_page
    page.set_default_navigation_timeout(60_000)  # the live server's first page, on a busy CI
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    page.fill("#id_study_id", "HW-FR-0001")
    page.click("form[data-outbox=find] button[type=submit]")
    page.wait_for_selector("#id_birth_year")
    page.fill("#id_birth_year", "1970")
    page.check("#id_sex_0")
    page.fill("#id_enrolled_on", "2024-01-10")
    page.click("form[data-outbox=register] button[type=submit]")
    page.wait_for_url(re.compile(r".*/field/residents/\d+/$"))
    resident_url = page.url

    switch_language(page, "fr")
    assert page.url == resident_url  # the switcher keeps the page
    page.click("a[href$='/visits/new/']")
    page.wait_for_selector(LEAD)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Plomb dans le sang" in page.content()  # the vocabulary's French label
    lead = page.locator(LEAD)
    assert lead.get_attribute("type") == "text" and lead.get_attribute("inputmode") == "decimal"
    lead.fill("23,4")
    page.click("form.visit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/field/(visits|residents)/\d+/$"))
    stored = Observation.objects.get(code__code="lab.blood_lead")
    assert stored.value == pytest.approx(23.4)
    assert page.locator("html").get_attribute("lang") == "fr"  # remembered for this user

    # and shown back as a French reader writes it: the day first, a decimal comma
    page.goto(f"{live_server.url}/field/visits/{stored.visit_id}/")
    with translation.override("fr"):
        day = date_format(stored.visit.visited_on, "SHORT_DATE_FORMAT")
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", day)
    assert day in page.locator("h1").inner_text()
    assert "23,4" in page.locator("main").inner_text()


def test_the_public_release_page_in_chinese_and_swahili_and_the_downloads_unchanged(
    desktop_page: Any,
    live_server: Any,
    tiny_community: Any,
    vocabulary_and_groups: None,
    epidemiologist: User,
    community_reviewer: User,
) -> None:
    release = publish_tiny_release(tiny_community, epidemiologist, community_reviewer)
    url = f"{live_server.url}/reports/{release.site_code}/{release.year}/v{release.version}/"
    page = desktop_page
    page.goto(url)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Blood lead" in page.content()

    for language, blood_lead in (("zh-hans", "血铅"), ("sw", "Risasi kwenye damu")):
        switch_language(page, language)
        assert page.url == url
        assert blood_lead in page.content()
        csv_text = page.request.get(url + "indicators_by_area.csv").text()
        assert csv_text.splitlines()[0] == CONTRACT
