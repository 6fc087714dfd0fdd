"""A pseudo-locale for tests: every translated string comes out wrapped in ⟦…⟧.

Whatever a rendered page shows outside the markers did not go through a translation tag. The
wrapper sits over English (formats, plural rules), so pages render as they do in English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

from django.test import override_settings
from django.utils import translation
from django.utils.translation import trans_real

OPEN, CLOSE = "⟦", "⟧"
CONTEXT_SEPARATOR = "\x04"


class PseudoTranslation:
    """English, with each message marked. Delegates everything else (to_language, plural
    rules, …) to the English catalogue."""

    def __init__(self, english: Any) -> None:
        self._english = english

    def __getattr__(self, name: str) -> Any:
        return getattr(self._english, name)

    @staticmethod
    def _mark(message: str) -> str:
        # pgettext asks for "context\x04message" and falls back when the separator survives.
        return OPEN + message.split(CONTEXT_SEPARATOR, 1)[-1] + CLOSE

    def gettext(self, message: str) -> str:
        return self._mark(self._english.gettext(message))

    def ngettext(self, singular: str, plural: str, number: int) -> str:
        return self._mark(self._english.ngettext(singular, plural, number))


@contextmanager
def pseudo_locale() -> Iterator[None]:
    """English with every translation marked, for the block: the English catalogue itself is
    swapped, so a request's LocaleMiddleware activating "en" gets the marked one too."""
    # English as the site's language for the block: with LANGUAGE_CODE=fr (make
    # test-languages) a request without Accept-Language would get French, and Django's English
    # catalogue would fall back to the French one for its untranslated (= English) messages.
    # Changing the setting resets Django's catalogue cache, on entry and again on exit.
    with override_settings(LANGUAGE_CODE="en"):
        english = trans_real.translation("en")
        pseudo = PseudoTranslation(english)
        trans_real._translations["en"] = pseudo  # type: ignore[attr-defined]
        try:
            with translation.override("en"):
                yield
        finally:
            trans_real._translations["en"] = english  # type: ignore[attr-defined]


# --- what a person reads on a page ----------------------------------------------------------

VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label"}
HIDDEN_ELEMENTS = {"script", "style", "template", "svg", "code", "pre", "textarea", "option"}
VOID_ELEMENTS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


def _is_code(name: str, value: str) -> bool:
    """A tooltip holding an identifier (the screens show labels, and codes in tooltips): a
    title of one token. Other attributes: one token with an underscore, dot, equals sign,
    colon, slash or digit."""
    if any(c.isspace() for c in value):
        return False
    return name == "title" or any(c in "_.=:/" or c.isdigit() for c in value)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_ELEMENTS and tag not in VOID_ELEMENTS:
            self._hidden.append(tag)
        if self._hidden:
            return
        named = dict(attrs)
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value and not _is_code(name, value):
                self.parts.append(value)
        if tag == "input" and named.get("type") in ("submit", "button") and named.get("value"):
            self.parts.append(named["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if self._hidden and self._hidden[-1] == tag:
            self._hidden.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser.parts


def strip_marked(text: str) -> str:
    """`text` without its ⟦…⟧ parts (nested markers: the outermost span goes, with any
    markup inside it)."""
    out: list[str] = []
    depth = 0
    for char in text:
        if char == OPEN:
            depth += 1
        elif char == CLOSE:
            depth = max(depth - 1, 0)
            out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


WORD = re.compile(r"[^\W\d_]{2,}")


def untranslated_words(html: str, data: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """The words a reader sees outside translation markers, once `data` (names and codes from
    the database, longest first) are removed; `allowed` are words no language translates
    (the product's name, units, file formats)."""
    allowed_set = set(allowed)
    values = sorted({d for d in data if d}, key=len, reverse=True)
    words: list[str] = []
    # Translated spans go first, whole: a translated sentence may hold a link.
    for rest in visible_text(strip_marked(html)):
        for value in values:
            if value in rest:
                rest = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", rest)
        words += [w for w in WORD.findall(rest) if w not in allowed_set]
    return words
