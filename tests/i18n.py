"""Human text as the product shows it in the active language (issue #15: the whole suite passes
with LANGUAGE_CODE set to each shipped language, `make test-languages`).

Tests assert wording through the catalogue, with the product's exact msgid, so that an English
run checks the English text and a French run the French one — the same check in every language:

    assert t("Check passed (nothing written)") in text_of(page)        # plain text
    assert h("Say what you checked (a short note).") in html            # as escaped in HTML
    with pytest.raises(ValidationProblem, match=rx("... %(row)s ...", row=2)): ...

Machine-facing contracts (CSV headers, JSON keys, codes, numbers in files) are never looked up
here: they must not change with the language, so tests keep them literal.
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.translation import gettext, ngettext, pgettext


def t(msgid: str, /, **params: object) -> str:
    """The message in the active language, formatted as the product formats it (`%` with a
    mapping) when parameters are given."""
    text = gettext(msgid)
    return text % params if params else text


def tp(context: str, msgid: str, /, **params: object) -> str:
    """The message with a context (pgettext: "Open" as a status, not as a verb), formatted."""
    text = pgettext(context, msgid)
    return text % params if params else text


def tn(singular: str, plural: str, number: int, /, **params: object) -> str:
    """The plural form for `number` in the active language (ngettext), formatted."""
    return ngettext(singular, plural, number) % params


def h(msgid: str, /, **params: object) -> str:
    """The message as a page's HTML carries it (Django escapes apostrophes, quotes, <, >, &)."""
    return escape(t(msgid, **params))


def bt(msgid: str, /, **params: object) -> str:
    """The message as {% blocktranslate %} renders it in HTML: the message's own markup kept,
    each variable escaped."""
    return gettext(msgid) % {name: escape(value) for name, value in params.items()}


def shape(msgid: str, /) -> str:
    """A regular expression of the translated message with any value in each placeholder: for a
    test that checks which message a reason is, not the values in it."""
    parts = re.split(r"%\(\w+\)[srd]", gettext(msgid))
    return ".+?".join(re.escape(part.replace("%%", "%")) for part in parts)


def rx(msgid: str, /, **params: object) -> str:
    """A `pytest.raises(match=...)` pattern that matches the translated message literally."""
    return re.escape(t(msgid, **params))


def label_of(code: str) -> str:
    """A vocabulary code's label in the active language, read from the vocabulary's data (the
    translations are rows, not catalogue messages), its English label where it has none."""
    from django.utils.translation import get_language

    from surveys.models import CodeLabelTranslation, VocabularyCode

    translated = CodeLabelTranslation.objects.filter(code__code=code, language=get_language())
    row = translated.values_list("label", flat=True).first()
    return row or VocabularyCode.objects.get(code=code).label


def dec(number: str, /) -> str:
    """A number written with a point ("2.400") as the active language writes it ("2,400" in
    French): the decimal separator of Django's locale formats (no digit grouping)."""
    from django.utils.formats import get_format

    return number.replace(".", str(get_format("DECIMAL_SEPARATOR")))
