"""The shipped languages are complete (issue #15): every message of every catalogue translated,
none fuzzy, each catalogue valid for msgfmt, and each translation with the placeholders of its
English message. Red until the translators' work is merged: that is its purpose."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation import to_locale

PLACEHOLDER = re.compile(r"%\((\w+)\)[#0\- +]*\d*(?:\.\d+)?[sdifgeEGxXrc]|%[sdifgr]|\{\w*\}")


@dataclass
class Message:
    msgid: str = ""
    msgid_plural: str = ""
    msgstr: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False
    context: str = ""
    line: int = 0


def _unquote(text: str) -> str:
    return str(ast.literal_eval(text))


def read_po(path: Path) -> list[Message]:
    """The messages of a .po file (the header and obsolete #~ entries left out)."""
    messages: list[Message] = []
    current = Message()
    target: tuple[str, int] | None = None

    def flush() -> None:
        nonlocal current
        if current.msgid or current.msgstr:
            messages.append(current)
        current = Message()

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            target = None
        elif line.startswith("#,"):
            if current.msgid or current.msgstr:
                flush()
            current.fuzzy = "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith("msgctxt "):
            current.context = _unquote(line[8:])
            target = ("msgctxt", 0)
        elif line.startswith("msgid_plural "):
            current.msgid_plural = _unquote(line[13:])
            target = ("msgid_plural", 0)
        elif line.startswith("msgid "):
            if current.msgid or current.msgstr:
                flush()
            current.msgid = _unquote(line[6:])
            current.line = number
            target = ("msgid", 0)
        elif line.startswith("msgstr["):
            index = int(line[7 : line.index("]")])
            current.msgstr[index] = _unquote(line[line.index("]") + 2 :])
            target = ("msgstr", index)
        elif line.startswith("msgstr "):
            current.msgstr[0] = _unquote(line[7:])
            target = ("msgstr", 0)
        elif line.startswith('"') and target is not None:
            kind, index = target
            text = _unquote(line)
            if kind == "msgid":
                current.msgid += text
            elif kind == "msgid_plural":
                current.msgid_plural += text
            elif kind == "msgctxt":
                current.context += text
            else:
                current.msgstr[index] = current.msgstr.get(index, "") + text
    flush()
    return [m for m in messages if m.msgid]  # the header has an empty msgid


def _named(text: str) -> set[str]:
    return {m.group(0) for m in PLACEHOLDER.finditer(text)}


def catalogue_problems(path: Path) -> list[str]:
    problems: list[str] = []
    for m in read_po(path):
        where = f"{path.name}:{m.line} {m.msgid[:60]!r}"
        if m.fuzzy:
            problems.append(f"{where}: fuzzy")
        if not m.msgstr or any(not s for s in m.msgstr.values()):
            problems.append(f"{where}: untranslated")
            continue
        expected = _named(m.msgid) | _named(m.msgid_plural)
        for index, translated in m.msgstr.items():
            got = _named(translated)
            # A plural form may leave out the count ("one file"), never add or rename one.
            if got - expected or (not m.msgid_plural and got != expected):
                problems.append(
                    f"{where}: placeholders {sorted(got)} in msgstr[{index}], "
                    f"the English has {sorted(expected)}"
                )
    return problems


SHIPPED = [code for code, _name in settings.LANGUAGES if code != "en"]


def _catalogue(language: str) -> Path:
    return Path(settings.LOCALE_PATHS[0]) / to_locale(language) / "LC_MESSAGES" / "django.po"


@pytest.mark.catalogue_completeness
@pytest.mark.parametrize("language", SHIPPED)
def test_catalogue_completeness_every_message_is_translated_with_its_placeholders(
    language: str,
) -> None:
    path = _catalogue(language)
    assert path.exists(), f"{language}: no catalogue at {path}"
    problems = catalogue_problems(path)
    shown = "\n  ".join(problems[:40])
    more = f"\n  … and {len(problems) - 40} more" if len(problems) > 40 else ""
    assert not problems, f"{language}: {len(problems)} problems:\n  {shown}{more}"


@pytest.mark.catalogue_completeness
@pytest.mark.parametrize("language", SHIPPED)
def test_catalogue_completeness_msgfmt_accepts_the_catalogue(language: str) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt (GNU gettext) is needed: apt-get install gettext"
    result = subprocess.run(
        [msgfmt, "--check", "-o", "/dev/null", str(_catalogue(language))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_catalogue_reader_sees_untranslated_fuzzy_and_wrong_placeholders(
    tmp_path: Path,
) -> None:
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Done"\nmsgstr "Fait"\n\n'
        'msgid "Empty"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Guess"\nmsgstr "Devine"\n\n'
        '#, python-format\nmsgid "%(count)s rows"\nmsgstr "%(nombre)s lignes"\n\n'
        'msgid "one %(n)s"\nmsgid_plural "%(n)s items"\nmsgstr[0] "un"\nmsgstr[1] "%(n)s choses"\n',
        encoding="utf-8",
    )
    problems = catalogue_problems(po)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "untranslated",
        "fuzzy",
        "placeholders ['%(nombre)s'] in msgstr[0], the English has ['%(count)s']",
    ]


def _keys(path: Path) -> set[tuple[str, str]]:
    return {(m.context, m.msgid) for m in read_po(path)}


@pytest.mark.catalogue_completeness
def test_the_shipped_catalogues_hold_every_message_the_code_asks_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `_()` or {% translate %} added without `makemessages` would show English in every
    language while each catalogue still looked complete: extract the messages afresh (the
    Makefile's flags, into a scratch directory) and compare with the shipped catalogue."""
    from django.core.management import call_command
    from django.test import override_settings

    if shutil.which("xgettext") is None:
        pytest.fail("xgettext is missing: install GNU gettext (apt-get install gettext)")
    # The project seen through links, with an empty locale directory of its own: makemessages
    # writes into ./locale, which must not be the shipped one.
    project = Path(settings.BASE_DIR)
    skipped = {"locale", ".venv", ".git", "tests", "bench", "node_modules", "staticfiles"}
    for entry in project.iterdir():
        if entry.name not in skipped:
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "locale").mkdir()
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        call_command(
            "makemessages",
            locale=["fr"],
            symlinks=True,
            ignore_patterns=["*/node_modules/*", "staticfiles/*"],
            add_location="file",
            verbosity=0,
        )
    fresh = _keys(tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    shipped = _keys(_catalogue("fr"))
    missing = sorted(fresh - shipped)
    assert not missing, (
        f"{len(missing)} message(s) in the code but not in the catalogues (run makemessages with "
        "the flags in the README, then translate): "
        + "; ".join(repr(msgid[:60]) for _context, msgid in missing[:20])
    )
    assert len(fresh) > 1000  # the extraction really read the project
