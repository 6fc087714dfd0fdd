"""The station chart: a pollutant's readings over time against its guideline values (SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext
from matplotlib.figure import Figure

from analytics.charts import ACCENT, ALARM, INK, _svg
from monitoring.models import Guideline, Reading
from surveys.models import MeasurementStatus


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
            f"{guideline.authority} {guideline.value:g}",
            xy=(0, guideline.value),
            xycoords=("axes fraction", "data"),
            color=ALARM,
            fontsize=8,
            va="bottom",
        )
    axes.set_ylabel(unit)
    axes.set_ylim(bottom=0)
    axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    axes.legend(frameon=False, loc="upper left", fontsize=7)
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)
