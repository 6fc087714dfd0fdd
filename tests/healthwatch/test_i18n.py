"""The language of the screens (#15): saved preference, then cookie, then Accept-Language; the
switcher; vocabulary labels as data; numbers typed in the locale's notation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from healthwatch.models import UserProfile
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _lang(client: Client, url: str = "/", **headers: str) -> str:
    html = client.get(url, headers=headers).content.decode()
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, html[:200]
    return match.group(1)


def test_locale_middleware_order_and_the_user_choice_after_authentication() -> None:
    order = settings.MIDDLEWARE
    locale = order.index("django.middleware.locale.LocaleMiddleware")
    assert order.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < order.index("django.middleware.common.CommonMiddleware")
    assert order.index("django.contrib.auth.middleware.AuthenticationMiddleware") < order.index(
        "healthwatch.i18n.UserLanguageMiddleware"
    )


def test_the_browser_language_is_the_default_and_the_sites_language_the_fallback(
    anonymous: Client,
) -> None:
    assert _lang(anonymous, accept_language="fr-FR,fr;q=0.9") == "fr"
    assert _lang(anonymous, accept_language="zh-CN,zh;q=0.9") == "zh-hans"
    assert _lang(anonymous, accept_language="de-DE") == settings.LANGUAGE_CODE  # "en" unless set


def test_the_cookie_beats_the_browser_language(anonymous: Client) -> None:
    anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = "sw"
    assert _lang(anonymous, accept_language="fr") == "sw"


def test_the_switcher_sets_the_cookie_and_keeps_the_page(anonymous: Client) -> None:
    response = anonymous.post("/i18n/setlang/", {"language": "pt-br", "next": "/privacy/"})
    assert response.status_code == 302 and response["Location"] == "/privacy/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    assert _lang(anonymous, "/privacy/") == "pt-br"


def test_the_switcher_is_on_every_page_and_points_back_to_it(anonymous: Client) -> None:
    html = anonymous.get("/methodology/").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert '<input type="hidden" name="next" value="/methodology/">' in html
    for code, _name in settings.LANGUAGES:
        assert f'<option value="{code}"' in html


def test_a_signed_in_users_choice_is_saved_and_beats_cookie_and_browser(
    worker_a: User,
) -> None:
    client = client_for(worker_a)
    client.post("/i18n/setlang/", {"language": "ms", "next": "/"})
    assert UserProfile.objects.get(user=worker_a).language == "ms"
    fresh = client_for(worker_a)  # a new session: the saved choice is read at login
    fresh.cookies[settings.LANGUAGE_COOKIE_NAME] = "sw"
    assert _lang(fresh, "/", accept_language="fr") == "ms"


def test_a_signed_in_users_switch_needs_the_csrf_token(worker_a: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(worker_a)
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert response.status_code == 403
    assert not UserProfile.objects.filter(user=worker_a, language="fr").exists()


def test_the_codes_api_adds_labels_in_every_language_beside_the_unchanged_fields(
    worker_a: User,
) -> None:
    api = APIClient()
    api.force_authenticate(worker_a)
    body = api.get("/api/v1/codes/symptom.cough/", HTTP_ACCEPT_LANGUAGE="fr").json()
    assert body["code"] == "symptom.cough" and body["label"] == "Cough"
    assert body["labels"] == {
        "en": "Cough",
        "fr": "Toux",
        "pt-br": "Tosse",
        "zh-hans": "咳嗽",
        "ms": "Batuk",
        "sw": "Kikohozi",
    }


def test_every_code_of_the_vocabulary_has_a_label_in_every_shipped_language() -> None:
    from surveys.models import CodeLabelTranslation, VocabularyCode

    shipped = {code for code, _name in settings.LANGUAGES} - {"en"}
    for code in VocabularyCode.objects.all():
        languages = set(
            CodeLabelTranslation.objects.filter(code=code).values_list("language", flat=True)
        )
        assert languages == shipped, code.code


def test_a_code_shows_the_active_languages_label_and_english_without_one() -> None:
    from surveys.models import CodeLabelTranslation, VocabularyCode

    cough = VocabularyCode.objects.get(code="symptom.cough")
    with translation.override("zh-hans"):
        assert cough.display_label == "咳嗽"
    CodeLabelTranslation.objects.filter(code=cough, language="sw").delete()
    with translation.override("sw"):
        assert cough.display_label == "Cough"
    with translation.override("en"):
        assert cough.display_label == "Cough"


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [
        ("fr", "23,4", "23.4"),
        ("pt-br", " 0,05 ", "0.05"),
        ("fr", "23.4", "23.4"),  # a point is understood everywhere
        ("en", "23.4", "23.4"),
        ("en", "23,4", "23,4"),  # English: a comma is not a decimal point (the rules refuse it)
        ("zh-hans", "23,4", "23,4"),
        ("fr", "1,2,3", "1,2,3"),
    ],
)
def test_numbers_typed_in_the_locales_notation_reach_the_services_with_a_point(
    language: str, typed: str, read: str
) -> None:
    from surveys.forms import DecimalTextField

    with translation.override(language):
        assert DecimalTextField(required=False).clean(typed) == read


def test_a_stored_value_is_shown_back_in_the_locales_notation() -> None:
    from surveys.forms import localized_decimal

    with translation.override("fr"):
        assert localized_decimal(23.4) == "23,4"
    with translation.override("en"):
        assert localized_decimal(23.4) == "23.4"


@pytest.mark.parametrize(
    ("language", "short", "long"),
    [
        # ISO in English (healthwatch/formats/en): 03/01/2024 would read as January to most.
        ("en", "2024-03-01", "1 Mar 2024"),
        ("fr", "01/03/2024", "1 mars 2024"),
        ("pt-br", "01/03/2024", "1 de Março de 2024"),
        ("zh-hans", "2024年3月1日", "2024年3月1日"),
        ("ms", "01/03/2024", "1 Mac 2024"),  # healthwatch/formats/ms: the month written out
        # Django ships no Swahili formats: healthwatch/formats/sw, day first.
        ("sw", "01/03/2024", "1 Machi 2024"),
    ],
)
def test_dates_are_written_as_each_shipped_language_writes_them(
    language: str, short: str, long: str
) -> None:
    from django.template import Context, Template

    template = Template('{{ day|date:"SHORT_DATE_FORMAT" }}|{{ day|date:"DATE_FORMAT" }}')
    with translation.override(language):
        assert template.render(Context({"day": dt.date(2024, 3, 1)})) == f"{short}|{long}"


def test_a_swahili_date_typed_as_shown_is_read_day_first() -> None:
    from django import forms

    with translation.override("sw"):
        assert forms.DateField().clean("04/12/2026") == dt.date(2026, 12, 4)
        assert forms.DateField().clean("2026-12-04") == dt.date(2026, 12, 4)
