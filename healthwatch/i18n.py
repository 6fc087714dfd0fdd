"""The language of the screens (issue #15): saved per user, else cookie, else Accept-Language.

LocaleMiddleware picks the cookie or the browser's language; UserLanguageMiddleware (after
authentication) then applies a signed-in user's saved choice, which it reads from the session
(copied there at login and by the switcher), so a page costs no extra query.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.formats import date_format, get_format
from django.views import i18n as i18n_views
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from healthwatch.roles import public

SESSION_KEY = "healthwatch_language"


def localized_decimal(number: float, places: int | None = None) -> str:
    """`number` in its shortest form (23.4, 5, 0.05), or rounded to `places` decimals (2.0), with
    the active language's separator. (Django's number_format truncates: 2.46 → "2,4".)"""
    return with_decimal_separator(f"{number:g}" if places is None else f"{number:.{places}f}")


def with_decimal_separator(text: str) -> str:
    """A number written with a point ("3.5") in the active language's notation ("3,5")."""
    return text.replace(".", str(get_format("DECIMAL_SEPARATOR")))


def short_date(day: dt.date | str) -> str:
    """A day as the active language writes it (SHORT_DATE_FORMAT: 01/03/2024, 2024年3月1日, ISO in
    English); a stored ISO text ("2024-03-01") is read first, and any other text is shown as is."""
    if isinstance(day, str):
        try:
            return date_format(dt.date.fromisoformat(day), "SHORT_DATE_FORMAT")
        except ValueError:
            return day
    return date_format(day, "SHORT_DATE_FORMAT")


def shipped_language(code: str | None) -> str | None:
    """`code` when it is one of settings.LANGUAGES, else None."""
    codes = {language for language, _name in settings.LANGUAGES}
    return code if code in codes else None


class UserLanguageMiddleware:
    """A signed-in user's saved language wins over the cookie and Accept-Language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = shipped_language(request.session.get(SESSION_KEY))
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        return self.get_response(request)


def saved_language(user: Any) -> str:
    """The user's saved language ('' when none)."""
    from healthwatch.models import UserProfile

    profile = UserProfile.objects.filter(user=user).only("language").first()
    return profile.language if profile else ""


def in_saved_language(user: Any) -> contextlib.AbstractContextManager[Any]:
    """Work a worker does for `user` (a user or its id), worded in their saved language; in
    the worker's own (LANGUAGE_CODE) when there is no user or no saved choice."""
    language = saved_language(user) if user else ""
    return translation.override(language) if language else contextlib.nullcontext()


@receiver(user_logged_in)
def _remember_language_at_login(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if request is None or not hasattr(request, "session"):
        return
    language = saved_language(user)
    if language:
        request.session[SESSION_KEY] = language
    else:
        request.session.pop(SESSION_KEY, None)


def save_language(user: Any, language: str) -> None:
    """Store `language` as the user's choice (a shipped language code)."""
    from healthwatch.models import UserProfile

    UserProfile.objects.update_or_create(user=user, defaults={"language": language})


@csrf_protect
def _set_language_of_user(request: HttpRequest) -> HttpResponseBase:
    response = i18n_views.set_language(request)
    language = shipped_language(request.POST.get("language"))
    if language:
        save_language(request.user, language)
        request.session[SESSION_KEY] = language
    return response


@public
@csrf_exempt
@require_POST
def set_language(request: HttpRequest) -> HttpResponseBase:
    """The switcher: Django's set_language (cookie, back to `next`), and for a signed-in user
    the choice saved in their profile.

    The public pages are cached whole and set no cookie, so they carry no CSRF token: for an
    anonymous visitor the only effect is the language cookie, which a forged request could at
    worst switch to another shipped language. A signed-in user's choice is written to the
    database, so there the CSRF token is checked.
    """
    if request.user.is_authenticated:
        return _set_language_of_user(request)
    return i18n_views.set_language(request)
