"""Walk the URL conf so access tests cover every route, including ones added later."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

_CONVERTER_SAMPLES = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "path": "x",
    "uuid": str(uuid.UUID(int=1)),
}


@dataclass(frozen=True)
class Route:
    path: str
    name: str
    callback: Callable[..., Any]

    @property
    def is_public(self) -> bool:
        # Django's LoginRequiredMiddleware reads this flag (set by login_not_required/public).
        return getattr(self.callback, "login_required", True) is False


def _sample_route(route: str) -> str:
    return re.sub(
        r"<(?:(\w+):)?\w+>", lambda m: _CONVERTER_SAMPLES.get(m.group(1) or "str", "x"), route
    )


def _sample_regex(regex: str) -> str:
    text = regex.lstrip("^").rstrip("$").replace(r"\Z", "").replace("\\.", ".")
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", text)
    text = re.sub(r"\(([^|)]+)\|[^)]*\)", r"\1", text)  # first alternative of a group
    return text.replace("\\", "").replace("?", "")


def _sample(pattern: Any) -> str:
    route = getattr(pattern.pattern, "_route", None)
    if route is not None:
        return _sample_route(route)
    return _sample_regex(pattern.pattern.regex.pattern)


def walk(
    patterns: list[Any] | None = None, prefix: str = "/", namespace: str = ""
) -> Iterator[Route]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        here = prefix + _sample(pattern)
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}{pattern.namespace}:"
            yield from walk(pattern.url_patterns, here, ns)
        elif isinstance(pattern, URLPattern):
            yield Route(here, f"{namespace}{pattern.name or '?'}", pattern.callback)
