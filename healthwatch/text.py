"""Hostile text: the one identifier rule and the one spreadsheet-formula neutralizer.

Identifiers (site, area and station codes) end up in URLs, file names, CSV cells and HTML. One
rule, checked at every entrance (model clean, forms, API serializers, CSV import), keeps them
inert everywhere: a letter or digit first (so never a formula leader = + - @), then letters,
digits, "-" or "_", at most 32 characters (the width of the code columns). It is also a subset
of Django's slug, so every code can be a URL segment (reports/urls.py).

Every CSV the system writes (public release tables, open data, staff exports, analysis results)
goes through `csv_writer`, which passes each cell through `csv_cell`: text a spreadsheet would run
as a formula gets a leading apostrophe (OWASP "CSV injection"). Numbers, and text that is exactly
a number such as "-3.5", are left alone: they cannot be formulas, and quoting them would corrupt
the data for every program that reads the file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

IDENTIFIER_MAX_LENGTH = 32
IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"
_IDENTIFIER = re.compile(rf"\A{IDENTIFIER_PATTERN}\Z")
IDENTIFIER_RULE = _(
    "a code starts with a letter or digit and has only letters, digits, '-' and '_' "
    "(at most 32 characters)"
)

# What spreadsheets (Excel, LibreOffice, Google Sheets) read as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"\A[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


def identifier_problem(value: str) -> str | None:
    """Why `value` is not an acceptable identifier (a sentence to show), or None when it is."""
    if _IDENTIFIER.match(value):
        return None
    return gettext("%(value)s is not a valid code: %(rule)s.") % {
        "value": repr(value),  # quoted, so a space or an empty value shows
        "rule": IDENTIFIER_RULE,
    }


def validate_identifier(value: str) -> None:
    """The rule as a Django validator (forms, serializers, model clean)."""
    problem = identifier_problem(value)
    if problem is not None:
        raise ValidationError(problem, code="identifier")


def csv_cell(value: Any) -> Any:
    """A cell as it is safe to write to a CSV file a person may open in a spreadsheet."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _NUMBER.match(value):
        return "'" + value
    return value


class _NeutralizingWriter:
    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: TextIO | Any, **options: Any) -> _NeutralizingWriter:
    """`csv.writer(out, **options)` whose every cell goes through `csv_cell`."""
    return _NeutralizingWriter(out, **options)
