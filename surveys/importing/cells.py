"""Reading one cell of one row with the shared value rules (surveys.validation).

Each reader returns the parsed value, or None after recording a RowError for that cell, so a
row reports every bad cell, not just the first. Text cells beginning with = + - @ are refused
(surveys.validation.refuse_formula). Numeric cells are parsed as numbers first: "-3.5" is a
number (a valid longitude, or a range error for a concentration), never a formula; only a cell
that is not a number and begins with one of those characters is reported as a formula.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils.translation import gettext

from healthwatch.text import IDENTIFIER_RULE, identifier_problem
from surveys.importing.report import ErrorSink
from surveys.validation import (
    FORMULA_PREFIXES,
    TRUE_WORDS,
    ValueRuleError,
    parse_bool,
    parse_date,
    parse_number,
    refuse_formula,
)

#: Columns whose value is never echoed back (in RowError.value or a reason).
SECRET_COLUMNS = frozenset({"study_id"})


def formula_reason(column: str, text: str) -> str | None:
    """The reason a cell is refused as a spreadsheet formula, or None."""
    if not text.startswith(FORMULA_PREFIXES):
        return None
    if column in SECRET_COLUMNS:
        return gettext(
            "begins with '%(first)s', which spreadsheets run as a formula; "
            "remove the leading character."
        ) % {"first": text[0]}
    try:
        refuse_formula(text)
    except ValueRuleError as error:
        return str(error)
    return None  # pragma: no cover - refuse_formula refused above


class Row:
    """One data row: its number, its cells by column, and where its errors go."""

    __slots__ = ("cells", "ok", "rownum", "sink")

    def __init__(self, number: int, cells: dict[str, str], sink: ErrorSink) -> None:
        self.rownum = number
        self.cells = cells
        self.sink = sink
        self.ok = True

    def raw(self, column: str) -> str:
        return self.cells[column].strip()

    def fail(self, column: str, reason: str, value: str | None = None) -> None:
        self.ok = False
        if column in SECRET_COLUMNS:
            shown = ""
        else:
            shown = self.cells.get(column, "") if value is None else value
        self.sink.add(self.rownum, column, shown, reason)

    # -- typed readers --------------------------------------------------------------------

    def text(self, column: str, *, required: bool = True, max_length: int = 200) -> str | None:
        value = self.raw(column)
        if not value:
            if required:
                self.fail(column, gettext("a value is required."))
                return None
            return ""
        reason = formula_reason(column, value)
        if reason:
            self.fail(column, reason)
            return None
        if len(value) > max_length:
            self.fail(
                column,
                gettext("is longer than %(max)s characters.") % {"max": max_length},
            )
            return None
        return value

    def identifier(self, column: str) -> str | None:
        """A site, area or station code: the one identifier rule of healthwatch.text."""
        value = self.text(column)
        if value is not None and identifier_problem(value) is not None:
            self.fail(column, gettext("is not a valid code: %(rule)s.") % {"rule": IDENTIFIER_RULE})
            return None
        return value

    def choice(
        self, column: str, allowed: Iterable[str], *, default: str | None = None
    ) -> str | None:
        value = self.raw(column)
        allowed = tuple(allowed)
        if not value and default is not None:
            return default
        if not value:
            self.fail(
                column,
                gettext("a value is required: one of %(allowed)s.")
                % {"allowed": ", ".join(allowed)},
            )
            return None
        reason = formula_reason(column, value)
        if reason:
            self.fail(column, reason)
            return None
        if value not in allowed:
            self.fail(
                column,
                gettext("'%(value)s' is not one of %(allowed)s.")
                % {"value": value, "allowed": ", ".join(allowed)},
            )
            return None
        return value

    def number(
        self,
        column: str,
        *,
        low: float | None = None,
        high: float | None = None,
        required: bool = True,
        what: str = "",
    ) -> float | None:
        value = self.raw(column)
        if not value:
            if required:
                self.fail(column, gettext("a value is required."))
            return None
        try:
            number = parse_number(value)
        except ValueRuleError as error:
            self.fail(column, formula_reason(column, value) or str(error))
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            self.fail(
                column,
                gettext("%(value)s is out of range for %(what)s (%(bounds)s).")
                % {"value": value, "what": what or column, "bounds": _bounds(low, high)},
            )
            return None
        return number

    def integer(
        self, column: str, *, low: int, high: int, required: bool = True, what: str = ""
    ) -> int | None:
        value = self.raw(column)
        if not value:
            if required:
                self.fail(column, gettext("a value is required."))
            return None
        try:
            number = int(value)
        except ValueError:
            try:
                parse_number(value)
            except ValueRuleError as error:
                self.fail(column, formula_reason(column, value) or str(error))
            else:
                self.fail(column, gettext("'%(value)s' is not a whole number.") % {"value": value})
            return None
        if not low <= number <= high:
            self.fail(
                column,
                gettext("%(value)s is out of range for %(what)s (%(low)s to %(high)s).")
                % {"value": value, "what": what or column, "low": low, "high": high},
            )
            return None
        return number

    def date(
        self, column: str, *, today: dt.date, required: bool = True, cache: dict | None = None
    ) -> dt.date | None:
        value = self.raw(column)
        if not value:
            if required:
                self.fail(column, gettext("a date (YYYY-MM-DD) is required."))
            return None
        if cache is not None and value in cache:
            hit = cache[value]
            if isinstance(hit, dt.date):
                return hit
            self.fail(column, hit)
            return None
        reason = formula_reason(column, value)
        if reason is None:
            try:
                parsed = parse_date(value, today=today)
            except ValueRuleError as error:
                reason = str(error)
            else:
                if cache is not None:
                    cache[value] = parsed
                return parsed
        if cache is not None:
            cache[value] = reason
        self.fail(column, reason)
        return None

    def boolean(self, column: str, *, default: bool = False) -> bool | None:
        value = self.raw(column)
        if not value:
            return default
        try:
            return parse_bool(value)
        except ValueRuleError as error:
            self.fail(column, formula_reason(column, value) or str(error))
            return None


def _bounds(low: float | None, high: float | None) -> str:
    return gettext("%(low)s to %(high)s") % {
        "low": "…" if low is None else f"{low:g}",
        "high": "…" if high is None else f"{high:g}",
    }


def is_true(text: str) -> bool:
    return text.strip().lower() in TRUE_WORDS
