"""Web security helpers: the client's address behind a proxy, API throttles, one-writer locks.

The client's address. Behind a reverse proxy every request comes from the proxy, so a limit
keyed on REMOTE_ADDR would lock out everyone at once (or no one). With
HEALTHWATCH_TRUSTED_PROXIES = N (the number of proxies in front of the app, each appending the
address it saw to X-Forwarded-For), the client is the N-th address from the right of that
header: the entries further left were written by the client itself and are not trusted. With
N = 0 (the default: the app is reached directly) the header is ignored entirely, since any
client can send one. The same function keys the login lockout (django-axes), the API throttles
and the public comment limit.
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


def client_address(request: HttpRequest | Request) -> str:
    """The address of the client, as the outermost trusted proxy saw it (see module docstring)."""
    peer = str(request.META.get("REMOTE_ADDR", ""))
    proxies = int(getattr(settings, "HEALTHWATCH_TRUSTED_PROXIES", 0))
    if proxies <= 0:
        return peer
    forwarded = [a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [a for a in forwarded if a]
    if not forwarded:
        return peer
    candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every sign-in that comes with a request.

    authenticate() without a request (the test client's login(), a management command) has no
    client address to key a lockout on, and no one guessing through the web: it is passed on
    to the next backend instead of refused.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def _rate(scope: str | None) -> str | None:
    # Read at each request (DRF binds its rates at import), so the deployment's settings and a
    # test's override are both seen.
    api = cast(dict[str, Any], settings.REST_FRAMEWORK)
    rates = cast(dict[str, str | None], api.get("DEFAULT_THROTTLE_RATES", {}))
    return rates.get(scope) if scope else None


class AnonAPIThrottle(AnonRateThrottle):
    """Anonymous API requests, per client address (proxy-aware)."""

    def get_rate(self) -> str | None:
        return _rate(self.scope)

    def get_ident(self, request: Request) -> str:
        return client_address(request)


class UserAPIThrottle(UserRateThrottle):
    """Signed-in API requests, per user (per client address for anonymous ones)."""

    def get_rate(self) -> str | None:
        return _rate(self.scope)

    def get_ident(self, request: Request) -> str:
        return client_address(request)


class _TokenFailures(SimpleRateThrottle):
    scope = "token_failures"

    def get_rate(self) -> str | None:
        return _rate(self.scope)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class ThrottledTokenAuthentication(TokenAuthentication):
    """Token authentication that stops answering an address after too many wrong tokens.

    DRF's throttles run after authentication, so a wrong token is refused before any throttle
    sees it: guessing tokens would be unlimited. Here the failures of each client address are
    counted (rate "token_failures"); past the limit that address gets 429 for every token,
    right or wrong, until the window has passed, so a guesser learns nothing from the answer.
    """

    def authenticate(self, request: Request) -> Any:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        failures = _TokenFailures()
        limit, duration = failures.parse_rate(failures.rate)
        if limit is None or duration is None:
            return super().authenticate(request)
        key = failures.get_cache_key(request, None)
        now = failures.timer()
        history = [t for t in failures.cache.get(key, []) if t > now - duration]
        if len(history) >= limit:
            raise exceptions.Throttled(wait=duration - (now - history[-1]))
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.cache.set(key, [now, *history], duration)
            raise
