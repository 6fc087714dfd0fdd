"""Coded values (observations and measurements) through surveys.validation.coded_value."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from surveys.importing.cells import Row, formula_reason
from surveys.models import VocabularyCode
from surveys.validation import CodedValue, FieldError, ValueRuleError, coded_value, parse_number

VALUE_COLUMNS = ("value", "unit", "below_lod", "lod")
CACHE_LIMIT = 50_000


class CodedValueReader:
    """coded_value with a cache: field data repeat the same few (code, value, unit) a lot."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Any, ...], tuple[CodedValue | None, list[FieldError]]] = {}

    def read(self, row: Row, code: VocabularyCode) -> CodedValue | None:
        cells = [row.raw(column) for column in VALUE_COLUMNS]
        refused = False
        for column, text in zip(VALUE_COLUMNS, cells, strict=True):
            if not text.startswith(("=", "+", "-", "@")):
                continue
            if column in ("value", "lod"):
                try:
                    parse_number(text)
                    continue  # a (negative) number: the range rules decide
                except ValueRuleError:
                    pass
            reason = formula_reason(column, text)
            if reason:
                row.fail(column, reason)
                refused = True
        if refused:
            return None
        key = (code.pk, *cells)
        hit = self.cache.get(key)
        if hit is None:
            value, lod_hint = cells[0], cells[0].startswith("<")
            hit = coded_value(code, value=value, unit=cells[1], below_lod=cells[2], lod=cells[3])
            if lod_hint and hit[1]:
                hit = (
                    None,
                    [
                        FieldError(
                            e.field,
                            gettext(
                                "%(message)s For a result below the detection limit write"
                                " below_lod=true, the limit in lod, and leave value empty."
                            )
                            % {"message": e.message}
                            if e.field == "value"
                            else e.message,
                            e.value,
                        )
                        for e in hit[1]
                    ],
                )
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = hit
        coded, errors = hit
        for error in errors:
            row.fail(error.field, error.message, row.raw(error.field))
        return coded
