"""The station chart: a pollutant's readings over time against its guideline values (SVG)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from matplotlib.dates import num2date
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analytics.charts import ACCENT, ALARM, INK, _svg
from healthwatch.i18n import localized_decimal
from monitoring.models import Guideline, Reading
from surveys.models import MeasurementStatus


def _tick_day_formatter(dates: Sequence[dt.datetime]) -> Any:
    """Ticks as the reader's language writes a day, in the site's time zone (the readings'
    history beside the chart is in local time too); with the time when they span under two
    days, where several ticks fall on one day."""
    span = (max(dates) - min(dates)) if dates else dt.timedelta(0)
    name = "SHORT_DATETIME_FORMAT" if span < dt.timedelta(days=2) else "SHORT_DATE_FORMAT"

    def tick(value: float, _pos: int | None) -> str:
        return date_format(num2date(value, tz=timezone.get_current_timezone()), name)

    return tick


def guideline_chart(
    readings: Sequence[Reading], guidelines: Sequence[Guideline], *, title: str, unit: str
) -> str:
    """Validated readings filled, preliminary ones hollow; each guideline a dashed line."""
    figure = Figure(figsize=(4.2, 2.6))
    axes = figure.subplots()
    dates: Any = [r.measured_at for r in readings]
    values = [r.value if r.value is not None else 0.0 for r in readings]
    axes.plot(dates, values, color=ACCENT, linewidth=1)
    validated = [r.status == MeasurementStatus.VALIDATED for r in readings]
    axes.scatter(
        [d for d, v in zip(dates, validated, strict=True) if v],
        [x for x, v in zip(values, validated, strict=True) if v],
        color=ACCENT,
        zorder=3,
        label=gettext("validated"),
    )
    axes.scatter(
        [d for d, v in zip(dates, validated, strict=True) if not v],
        [x for x, v in zip(values, validated, strict=True) if not v],
        facecolors="white",
        edgecolors=ACCENT,
        zorder=3,
        label=gettext("preliminary"),
    )
    for guideline in guidelines:
        axes.axhline(guideline.value, color=ALARM, linestyle="--", linewidth=1)
        axes.annotate(
            f"{guideline.authority} {localized_decimal(guideline.value)}",
            xy=(0, guideline.value),
            xycoords=("axes fraction", "data"),
            color=ALARM,
            fontsize=8,
            va="bottom",
        )
    axes.set_ylabel(unit)
    axes.set_ylim(bottom=0)
    axes.xaxis.set_major_formatter(FuncFormatter(_tick_day_formatter(dates)))
    axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    axes.legend(frameon=False, loc="upper left", fontsize=7)
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)
