"""Server-rendered SVG charts (matplotlib), so pages and frozen releases need no JavaScript.

Each function takes plain rows (dicts of the tidy result contract) and returns an SVG string
with a <title> for screen readers. Charts are drawn with matplotlib's object API (no pyplot
global state), which is safe in threaded web servers.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
from django.utils.formats import get_format
from django.utils.translation import gettext
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter, ScalarFormatter

from healthwatch.i18n import short_date, with_decimal_separator

INK = "#1b1f24"
ACCENT = "#0f4c5c"
ALARM = "#c0392b"
BAND = "#9cc5cf"
# Chinese labels: DejaVu Sans has no CJK glyphs. matplotlib (3.6+) falls back glyph by glyph
# through a list of families, so a Chinese title is measured with the glyphs it is shown in
# (bbox_inches="tight" otherwise clips or crowds it), and the SVG's font-family names the
# fallback for the reader's browser. Debian's fonts-wqy-microhei is installed by
# `make browser-deps` and .ci/run; only installed families are listed (matplotlib logs each
# missing one on every draw).
CJK_FAMILIES = ("Noto Sans CJK SC", "WenQuanYi Micro Hei")
# matplotlib's font cache (~/.cache/matplotlib) does not notice fonts installed after it was
# built: Debian's files are added by path when the cache lacks them.
CJK_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)


def font_families() -> list[str]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not installed & set(CJK_FAMILIES):
        for path in CJK_FILES:
            if path.exists():
                font_manager.fontManager.addfont(str(path))
        installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(family for family in CJK_FAMILIES if family in installed)]


matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: searchable, accessible, small
        "font.family": font_families(),
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "healthwatch",  # deterministic ids: the same data gives the same SVG
    }
)


class _LocalizedScalarFormatter(ScalarFormatter):
    """Matplotlib's default tick numbers with the reader's decimal separator (23,4 in French)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return with_decimal_separator(super().__call__(x, pos))


def _localize_tick_numbers(figure: Figure) -> None:
    """Matplotlib's default tick numbers in the language's notation (a chart's own number
    formatter is built with _number_ticks). Date and text ticks are left alone."""
    if get_format("DECIMAL_SEPARATOR") == ".":
        return
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(_LocalizedScalarFormatter())


def _number_ticks(func: Any) -> FuncFormatter:
    """A tick formatter of numbers whose "." becomes the reader's decimal separator."""
    return FuncFormatter(lambda value, pos: with_decimal_separator(func(value, pos)))


def _svg(figure: Figure, title: str) -> str:
    _localize_tick_numbers(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    start = svg.index("<svg")
    svg = svg[start:]
    head_end = svg.index(">") + 1
    safe = title.replace("&", "&amp;").replace("<", "&lt;")
    return f"{svg[:head_end]}<title>{safe}</title>{svg[head_end:]}".replace(
        "<svg ", '<svg role="img" class="chart" ', 1
    )


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def trend_chart(points: Sequence[dict[str, Any]], *, title: str, ylabel: str) -> str:
    """Estimate by period with its interval as a band. `points`: period, estimate, ci_*, and
    `partial` (an incomplete period: drawn hollow, apart from the line, its tick starred)."""
    figure = Figure(figsize=(6.4, 3.2))
    axes = figure.subplots()
    partial = [bool(p.get("partial")) for p in points]
    periods = [
        str(p["period"]) + ("*" if part else "") for p, part in zip(points, partial, strict=True)
    ]
    estimate = [_num(p["estimate"]) for p in points]
    lower = [_num(p.get("ci_lower")) for p in points]
    upper = [_num(p.get("ci_upper")) for p in points]
    whole = [math.nan if part else v for v, part in zip(estimate, partial, strict=True)]
    x = list(range(len(periods)))
    axes.fill_between(
        x,
        [math.nan if part else v for v, part in zip(lower, partial, strict=True)],
        [math.nan if part else v for v, part in zip(upper, partial, strict=True)],
        color=BAND,
        alpha=0.6,
        linewidth=0,
        # xgettext:no-python-format
        label=gettext("95% interval"),
    )
    axes.plot(x, whole, color=ACCENT, marker="o", label=gettext("estimate"))
    incomplete = [i for i, part in enumerate(partial) if part]
    if incomplete:
        axes.errorbar(
            incomplete,
            [estimate[i] for i in incomplete],
            yerr=[
                [max(estimate[i] - lower[i], 0) for i in incomplete],
                [max(upper[i] - estimate[i], 0) for i in incomplete],
            ],
            fmt="o",
            mfc="white",
            color="#8c959f",
            capsize=3,
            label=gettext("* incomplete period (not in the trend)"),
        )
    axes.set_xticks(x, periods)
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False, loc="upper left", fontsize=8)
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)


def weekly_chart(weeks: Sequence[dict[str, Any]], *, title: str) -> str:
    """Weekly observed counts, expected, the upper bound, and alarms marked."""
    figure = Figure(figsize=(7.2, 3.0))
    axes = figure.subplots()
    x = list(range(len(weeks)))
    observed = [_num(w.get("observed")) for w in weeks]
    # one filled step outline rather than a bar per week: the same picture in a tenth of the SVG
    axes.stairs(
        observed,
        [i - 0.5 for i in range(len(weeks) + 1)],
        fill=True,
        color="#8c959f",
        label=gettext("observed"),
    )
    axes.plot(
        x, [_num(w.get("expected")) for w in weeks], color=ACCENT, lw=1, label=gettext("expected")
    )
    axes.plot(
        x,
        [_num(w.get("upper_bound")) for w in weeks],
        color=ALARM,
        lw=1,
        ls="--",
        label=gettext("upper bound"),
    )
    undetermined = [i for i, w in enumerate(weeks) if w.get("undetermined")]
    if undetermined:
        # a decision the method could not make is drawn, never left blank
        axes.scatter(
            undetermined,
            [observed[i] for i in undetermined],
            color=ALARM,
            facecolors="none",
            marker="o",
            s=50,
            zorder=3,
            label=gettext("undetermined"),
        )
    alarms = [i for i, w in enumerate(weeks) if w.get("alarm")]
    if alarms:
        axes.scatter(
            alarms,
            [observed[i] for i in alarms],
            color=ALARM,
            marker="v",
            s=40,
            zorder=3,
            label=gettext("alarm"),
        )
    step = max(1, len(weeks) // 8)
    ticks = [short_date(str(w["period"])) for w in weeks][::step]
    axes.set_xticks(x[::step], ticks, rotation=30, ha="right")
    axes.set_ylabel(gettext("cases per week"))
    axes.legend(frameon=False, ncol=4, loc="upper left", fontsize=8)
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)


def forest_chart(estimates: Sequence[dict[str, Any]], *, title: str, xlabel: str = "") -> str:
    """Ratios with intervals on a log axis, one line each (label, estimate, ci_lower, ci_upper)."""
    figure = Figure(figsize=(6.4, 0.5 + 0.45 * max(len(estimates), 1)))
    axes = figure.subplots()
    y = list(range(len(estimates)))[::-1]
    for row, e in zip(y, estimates, strict=True):
        low, high = _num(e.get("ci_lower")), _num(e.get("ci_upper"))
        axes.plot([low, high], [row, row], color=ACCENT, lw=2)
        axes.plot([_num(e["estimate"])], [row], "s", color=ACCENT)
    axes.axvline(1.0, color="#8c959f", lw=1, ls=":")
    axes.set_yticks(y, [str(e["label"]) for e in estimates])
    axes.set_xscale("log")
    # plain numbers (0.5, 1, 2) rather than 10^x: easier to read, and no mathtext to typeset
    # (it was a third of the time of drawing the chart)
    axes.xaxis.set_major_formatter(_number_ticks(lambda value, _pos: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(xlabel or gettext("rate ratio"))
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)


def group_chart(
    groups: Sequence[dict[str, Any]], *, title: str, ylabel: str, reference: float | None = None
) -> str:
    """Estimates with intervals per group (e.g. geometric mean by distance band)."""
    figure = Figure(figsize=(5.6, 3.0))
    axes = figure.subplots()
    x = list(range(len(groups)))
    estimate = [_num(g["estimate"]) for g in groups]
    lower = [e - _num(g.get("ci_lower")) for e, g in zip(estimate, groups, strict=True)]
    upper = [_num(g.get("ci_upper")) - e for e, g in zip(estimate, groups, strict=True)]
    axes.errorbar(x, estimate, yerr=[lower, upper], fmt="o", color=ACCENT, capsize=4)
    if reference is not None:
        axes.axhline(
            reference,
            color=ALARM,
            lw=1,
            ls="--",
            label=gettext("reference %(level)s") % {"level": f"{reference:g}"},
        )
        axes.legend(frameon=False)
    axes.set_xticks(x, [str(g["label"]) for g in groups])
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)


def scan_map(
    locations: Sequence[dict[str, Any]],
    *,
    sites: Sequence[dict[str, Any]],
    clusters: Sequence[dict[str, Any]],
    title: str,
) -> str:
    """A point map of a scan: each location at its longitude/latitude, coloured by observed /
    expected (blue below 1, red above), members of a significant cluster ringed, production
    sites as triangles, and each reported cluster's circle.

    `locations`: latitude, longitude, ratio, significant (bool). `sites`: label, latitude,
    longitude. `clusters`: latitude, longitude (centre), radius_km, rank, significant.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Ellipse

    figure = Figure(figsize=(6.4, 5.2))
    axes = figure.subplots()
    lon = [_num(p["longitude"]) for p in locations]
    lat = [_num(p["latitude"]) for p in locations]
    ratio = [_num(p.get("ratio")) for p in locations]
    finite = [r for r in ratio if not math.isnan(r)]
    top = max([2.0, *finite])
    points = axes.scatter(
        lon,
        lat,
        c=ratio,
        cmap="RdBu_r",
        norm=TwoSlopeNorm(vcenter=1.0, vmin=0.0, vmax=top),
        s=36,
        edgecolors="none",
        zorder=2,
    )
    ringed = [i for i, p in enumerate(locations) if p.get("significant")]
    if ringed:
        axes.scatter(
            [lon[i] for i in ringed],
            [lat[i] for i in ringed],
            s=90,
            facecolors="none",
            edgecolors=INK,
            linewidths=1.2,
            zorder=3,
            label=gettext("in a significant cluster"),
        )
    for c in clusters:
        # the circle is drawn in degrees: 1° latitude ≈ 111.32 km, longitude shrinks by cos φ
        centre_lat = _num(c["latitude"])
        height = 2 * _num(c["radius_km"]) / 111.32
        width = height / max(math.cos(math.radians(centre_lat)), 1e-6)
        axes.add_patch(
            Ellipse(
                (_num(c["longitude"]), centre_lat),
                width,
                height,
                fill=False,
                color=ALARM if c.get("significant") else "#8c959f",
                lw=1.5,
                ls="-" if c.get("significant") else "--",
                zorder=1,
            )
        )
    if sites:
        axes.scatter(
            [_num(s["longitude"]) for s in sites],
            [_num(s["latitude"]) for s in sites],
            marker="^",
            s=70,
            color=INK,
            zorder=4,
            label=gettext("production site"),
        )
        for s in sites:
            axes.annotate(
                str(s["label"]),
                (_num(s["longitude"]), _num(s["latitude"])),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=8,
                color=INK,
            )
    figure.colorbar(points, ax=axes, label=gettext("observed / expected"), shrink=0.8)
    axes.set_xlabel(gettext("longitude"))
    axes.set_ylabel(gettext("latitude"))
    axes.set_aspect(1 / max(math.cos(math.radians(sum(lat) / max(len(lat), 1))), 1e-6))
    if ringed or sites:
        axes.legend(frameon=False, loc="upper left", fontsize=8)
    axes.set_title(title, loc="left", color=INK)
    return _svg(figure, title)
