"""Value rules shared by the forms, the API and the CSV import.

One place decides what a value means: booleans, unit conversion to the code's canonical unit,
valid ranges, below-LOD results, spreadsheet-formula injection. Every problem is a FieldError
naming the field and saying what is wrong, so each entry path can show it where it belongs
(next to a form field, in a JSON error body, or as row/column of a CSV file).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.utils.translation import gettext as _

from healthwatch.i18n import short_date
from surveys.models import CodeKind, VocabularyCode

TRUE_WORDS = frozenset({"true", "1", "yes", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "n"})
FORMULA_PREFIXES = ("=", "+", "-", "@")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    value: str = ""


class ValidationProblem(Exception):
    """Raised by services with every problem found (never only the first)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    def by_field(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error.message)
        return grouped


class ValueRuleError(ValueError):
    """One value broke one rule; the caller knows which field it was."""


class UnitRuleError(ValueRuleError):
    """The unit, not the value, is what is wrong."""


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueRuleError(_("“%(text)s” is not true or false.") % {"text": text})


def parse_number(text: str | float | int) -> float:
    if isinstance(text, int | float) and not isinstance(text, bool):
        number = float(text)
    else:
        try:
            number = float(str(text).strip())
        except ValueError:
            raise ValueRuleError(_("“%(text)s” is not a number.") % {"text": text}) from None
    if not math.isfinite(number):
        raise ValueRuleError(_("“%(text)s” is not a finite number.") % {"text": text})
    return number


def parse_date(text: str | dt.date, *, today: dt.date | None = None) -> dt.date:
    """An ISO date (YYYY-MM-DD) that is not in the future."""
    if isinstance(text, dt.date):
        value = text
    else:
        try:
            value = dt.date.fromisoformat(text.strip())
        except ValueError:
            raise ValueRuleError(
                _("“%(text)s” is not a date in the form YYYY-MM-DD.") % {"text": text}
            ) from None
    if value > (today or dt.date.today()):
        raise ValueRuleError(_("%(date)s is in the future.") % {"date": short_date(value)})
    return value


def refuse_formula(text: str) -> str:
    """Text starting with = + - @ would run as a formula when a CSV is opened in a spreadsheet."""
    if text.startswith(FORMULA_PREFIXES):
        raise ValueRuleError(
            _(
                "“%(text)s” begins with “%(first)s”, which spreadsheets run as a formula; "
                "remove the leading character."
            )
            % {"text": text, "first": text[0]}
        )
    return text


def to_canonical(code: VocabularyCode, value: float, unit: str) -> float:
    """Convert a value entered in `unit` to the code's canonical unit."""
    factors: dict[str, float] = code.accepted_units or {}
    if unit not in factors:
        accepted = ", ".join(sorted(factors)) or _("none")
        raise UnitRuleError(
            _(
                "unit “%(unit)s” cannot be converted to %(canonical)s for %(code)s; "
                "accepted units: %(accepted)s."
            )
            % {
                "unit": unit,
                "canonical": code.canonical_unit,
                "code": code.code,
                "accepted": accepted,
            }
        )
    return value * float(factors[unit])


def check_range(code: VocabularyCode, canonical: float) -> None:
    low, high = code.min_value, code.max_value
    if (low is not None and canonical < low) or (high is not None and canonical > high):
        raise ValueRuleError(
            _(
                "%(value)s %(unit)s is outside the valid range for %(code)s "
                "(%(low)s–%(high)s %(unit)s)."
            )
            % {
                "value": f"{canonical:g}",
                "unit": code.canonical_unit,
                "code": code.code,
                "low": _fmt(low),
                "high": _fmt(high),
            }
        )


def _fmt(bound: float | None) -> str:
    return "…" if bound is None else f"{bound:g}"


@dataclass(frozen=True)
class CodedValue:
    """A value ready to store: canonical unit, the unit as entered, LOD handling."""

    value: float | None
    value_boolean: bool | None
    entered_unit: str
    below_lod: bool
    lod: float | None


def coded_value(
    code: VocabularyCode,
    *,
    value: str,
    unit: str,
    below_lod: str | bool = False,
    lod: str = "",
    prefix: str = "",
) -> tuple[CodedValue | None, list[FieldError]]:
    """Validate one coded value (an observation or a measurement).

    Returns the value to store, or the errors by field (`prefix` + value/unit/below_lod/lod).
    """
    errors: list[FieldError] = []

    def fail(field: str, message: str, raw: str) -> None:
        errors.append(FieldError(prefix + field, message, raw))

    if code.kind == CodeKind.BOOLEAN:
        if str(below_lod).strip().lower() in TRUE_WORDS or str(lod).strip():
            fail(
                "below_lod",
                _("%(code)s is a yes/no code; it has no detection limit.") % {"code": code.code},
                "",
            )
        if unit.strip():
            fail(
                "unit",
                _("%(code)s is a yes/no code; leave the unit empty.") % {"code": code.code},
                unit,
            )
        try:
            flag = parse_bool(value)
        except ValueRuleError as error:
            fail("value", str(error), value)
            return None, errors
        return (CodedValue(None, flag, "", False, None), errors) if not errors else (None, errors)

    unit = unit.strip()
    try:
        is_below = parse_bool(below_lod) if str(below_lod).strip() else False
    except ValueRuleError as error:
        fail("below_lod", str(error), str(below_lod))
        is_below = False
    if not unit:
        fail(
            "unit",
            _("a unit is required for %(code)s (canonical: %(unit)s).")
            % {"code": code.code, "unit": code.canonical_unit},
            "",
        )
    canonical_lod: float | None = None
    if str(lod).strip():
        try:
            lod_number = parse_number(lod)
            if lod_number <= 0:
                raise ValueRuleError(
                    _("“%(lod)s” is not a positive detection limit.") % {"lod": lod}
                )
            if unit:
                canonical_lod = to_canonical(code, lod_number, unit)
        except ValueRuleError as error:
            fail("lod", str(error), str(lod))
    canonical: float | None = None
    if is_below:
        if str(lod).strip() == "":
            fail("lod", _("a result below the detection limit needs the limit (lod)."), "")
        if str(value).strip():
            fail(
                "value",
                _("leave the value empty when the result is below the detection limit."),
                value,
            )
    elif not str(value).strip():
        fail("value", _("a value is required for %(code)s.") % {"code": code.code}, "")
    else:
        try:
            number = parse_number(value)
            if unit:
                canonical = to_canonical(code, number, unit)
                check_range(code, canonical)
        except ValueRuleError as error:
            field = "unit" if isinstance(error, UnitRuleError) else "value"
            fail(field, str(error), unit if field == "unit" else value)
    if errors:
        return None, errors
    return CodedValue(canonical, None, unit, is_below, canonical_lod), errors
