"""The station chart speaks the reader's language: its days, its numbers."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace
from typing import Any

from django.utils import translation

from monitoring.charts import guideline_chart
from surveys.models import MeasurementStatus


def _reading(day: int, value: float) -> Any:
    return SimpleNamespace(
        measured_at=dt.datetime(2024, 3, day, 10, 0, tzinfo=dt.UTC),
        value=value,
        status=MeasurementStatus.VALIDATED,
    )


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_the_station_chart_writes_days_and_the_guideline_value_in_the_readers_notation() -> None:
    readings = [_reading(day, 1.2 + day / 10) for day in range(1, 29, 3)]
    guideline = SimpleNamespace(authority="WHO", value=1.5)
    drawn = {}
    for language in ("fr", "zh-hans", "en"):
        with translation.override(language):
            drawn[language] = _texts(
                guideline_chart(readings, [guideline], title="PM10", unit="µg/m³")  # type: ignore[list-item]
            )
    assert "WHO 1,5" in drawn["fr"] and "WHO 1.5" in drawn["en"]
    assert any(re.fullmatch(r"\d\d/03/2024", text) for text in drawn["fr"]), drawn["fr"]
    assert any(re.fullmatch(r"2024年3月\d+日", text) for text in drawn["zh-hans"])
    assert any(re.fullmatch(r"2024-03-\d\d", text) for text in drawn["en"])
