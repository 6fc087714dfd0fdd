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


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueRuleError(f"{text!r} is not true or false.")


def parse_number(text: str | float | int) -> float:
    if isinstance(text, int | float) and not isinstance(text, bool):
        number = float(text)
    else:
        try:
            number = float(str(text).strip())
        except ValueError:
            raise ValueRuleError(f"{text!r} is not a number.") from None
    if not math.isfinite(number):
        raise ValueRuleError(f"{text!r} is not a finite number.")
    return number


def parse_date(text: str | dt.date, *, today: dt.date | None = None) -> dt.date:
    """An ISO date (YYYY-MM-DD) that is not in the future."""
    if isinstance(text, dt.date):
        value = text
    else:
        try:
            value = dt.date.fromisoformat(text.strip())
        except ValueError:
            raise ValueRuleError(f"{text!r} is not a date in the form YYYY-MM-DD.") from None
    if value > (today or dt.date.today()):
        raise ValueRuleError(f"{value.isoformat()} is in the future.")
    return value


def refuse_formula(text: str) -> str:
    """Text starting with = + - @ would run as a formula when a CSV is opened in a spreadsheet."""
    if text.startswith(FORMULA_PREFIXES):
        raise ValueRuleError(
            f"{text!r} begins with {text[0]!r}, which spreadsheets run as a formula; "
            "remove the leading character."
        )
    return text


def to_canonical(code: VocabularyCode, value: float, unit: str) -> float:
    """Convert a value entered in `unit` to the code's canonical unit."""
    factors: dict[str, float] = code.accepted_units or {}
    if unit not in factors:
        accepted = ", ".join(sorted(factors)) or "none"
        raise ValueRuleError(
            f"unit {unit!r} cannot be converted to {code.canonical_unit} for {code.code}; "
            f"accepted units: {accepted}."
        )
    return value * float(factors[unit])


def check_range(code: VocabularyCode, canonical: float) -> None:
    low, high = code.min_value, code.max_value
    if (low is not None and canonical < low) or (high is not None and canonical > high):
        raise ValueRuleError(
            f"{canonical:g} {code.canonical_unit} is outside the valid range for {code.code} "
            f"({_fmt(low)}–{_fmt(high)} {code.canonical_unit})."
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
            fail("below_lod", f"{code.code} is a yes/no code; it has no detection limit.", "")
        if unit.strip():
            fail("unit", f"{code.code} is a yes/no code; leave the unit empty.", unit)
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
        fail("unit", f"a unit is required for {code.code} (canonical: {code.canonical_unit}).", "")
    canonical_lod: float | None = None
    if str(lod).strip():
        try:
            lod_number = parse_number(lod)
            if lod_number <= 0:
                raise ValueRuleError(f"{lod!r} is not a positive detection limit.")
            if unit:
                canonical_lod = to_canonical(code, lod_number, unit)
        except ValueRuleError as error:
            fail("lod", str(error), str(lod))
    canonical: float | None = None
    if is_below:
        if str(lod).strip() == "":
            fail("lod", "a result below the detection limit needs the limit (lod).", "")
        if str(value).strip():
            fail(
                "value",
                "leave the value empty when the result is below the detection limit.",
                value,
            )
    elif not str(value).strip():
        fail("value", f"a value is required for {code.code}.", "")
    else:
        try:
            number = parse_number(value)
            if unit:
                canonical = to_canonical(code, number, unit)
                check_range(code, canonical)
        except ValueRuleError as error:
            field = "unit" if "cannot be converted" in str(error) else "value"
            fail(field, str(error), unit if field == "unit" else value)
    if errors:
        return None, errors
    return CodedValue(canonical, None, unit, is_below, canonical_lod), errors
