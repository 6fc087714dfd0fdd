"""No template holds a word outside a translation tag, in any branch (issue #15).

test_i18n_pages renders the main pages in a pseudo-locale, so it sees only the branches its data
reach: a row shown only when a worker has answered a ping, or a notice shown only on a failed
run, is never rendered there. This test reads every template's source instead: Django's lexer
splits it into text, variables and tags; {% translate %} and {% blocktranslate %} become
translation markers, variables and other tags become blanks, and what a reader would see of the
rest (text and visible attributes, tests/pseudo_locale.py) must hold no word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

from tests.healthwatch.test_i18n_pages import ALLOWED
from tests.pseudo_locale import CLOSE, OPEN, untranslated_words

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRECTORIES = {".venv", "node_modules", "staticfiles"}
# A download's file name ("measurements.csv", "{{ analysis }}.csv") is the same in every
# language, like the CSV itself.
FILE_NAME = re.compile(r"[\w-]*\.(?:csv|json|pdf|svg)\b")


def templates() -> list[Path]:
    return sorted(
        path
        for path in ROOT.glob("**/templates/**/*.html")
        if not SKIPPED_DIRECTORIES.intersection(path.relative_to(ROOT).parts)
    )


def skeleton(source: str) -> str:
    """The template as a reader would see it in the pseudo-locale, whatever the data: each
    translation tag a marked span, each variable and other tag a blank, comments gone."""
    out: list[str] = []
    in_comment = False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.COMMENT:
            continue
        name = token.contents.split()[0] if token.token_type == TokenType.BLOCK else ""
        if name in ("comment", "endcomment"):
            in_comment = name == "comment"
        elif in_comment:
            continue
        elif name in ("blocktranslate", "blocktrans"):
            out.append(OPEN)
        elif name in ("endblocktranslate", "endblocktrans"):
            out.append(CLOSE)
        elif name in ("translate", "trans"):
            out.append(OPEN + CLOSE)
        elif token.token_type == TokenType.TEXT:
            out.append(FILE_NAME.sub(" ", token.contents))
        elif name != "plural":  # {% plural %} sits inside a marked span
            out.append(" ")
    return "".join(out)


def test_the_templates_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in templates()}
    assert "templates/base.html" in names and "templates/healthwatch/system.html" in names
    assert len(names) > 40


@pytest.mark.parametrize("path", templates(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_template_shows_a_word_outside_a_translation_tag(path: Path) -> None:
    assert untranslated_words(skeleton(path.read_text(encoding="utf-8")), (), ALLOWED) == []


def test_a_word_outside_a_translation_tag_is_found_in_a_branch_no_data_reach() -> None:
    source = (
        '{% load i18n %}<p title="{% translate "Status" %}">{% if ping %}Worker '
        "{{ ping.worker_hostname }}{% endif %}</p>"
    )
    assert untranslated_words(skeleton(source), (), ALLOWED) == ["Worker"]


def test_translated_text_variables_comments_and_file_names_are_not_words_to_translate() -> None:
    source = (
        "{% load i18n %}{# a note for developers #}{% comment %}Old wording{% endcomment %}"
        '<a href="{% url "x" %}" aria-label="{% translate "Close" %}">{{ name }}.csv</a>'
        "{% blocktranslate count n=rows %}{{ n }} row{% plural %}{{ n }} rows"
        "{% endblocktranslate %}<script>const label = 'English';</script>"
    )
    assert untranslated_words(skeleton(source), (), ALLOWED) == []
    assert untranslated_words(skeleton("<p>Hello {{ name }}.csv</p>"), (), ALLOWED) == ["Hello"]
