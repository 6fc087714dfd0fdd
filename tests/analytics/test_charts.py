"""Charts drawn for every shipped language: Chinese labels are measured with a Chinese font."""

from __future__ import annotations

import re
import warnings

import pytest

from analytics import charts


def test_a_chinese_font_is_among_the_chart_fonts() -> None:
    assert set(charts.font_families()) & set(charts.CJK_FAMILIES), (
        "no Chinese font for the charts: install Debian's fonts-wqy-microhei "
        "(make browser-deps does, as root)"
    )


def test_a_chart_with_chinese_labels_has_a_glyph_for_every_character() -> None:
    points = [
        {"period": "2024", "estimate": 3.1, "ci_lower": 2.0, "ci_upper": 4.2},
        {"period": "2025", "estimate": 3.4, "ci_lower": 2.2, "ci_upper": 4.6},
    ]
    with warnings.catch_warnings():
        # matplotlib warns "Glyph … missing from font(s)" and draws a box in its place.
        warnings.filterwarnings("error", message=r"Glyph \d+ .* missing from font")
        svg = charts.trend_chart(points, title="急性呼吸道疾病发病率", ylabel="每千人年")

    assert "急性呼吸道疾病发病率" in svg
    assert "WenQuanYi Micro Hei" in svg or "Noto Sans CJK SC" in svg


@pytest.mark.parametrize("family", ["Noto Sans CJK SC", "WenQuanYi Micro Hei"])
def test_a_font_that_is_not_installed_is_not_listed(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    others = [f for f in charts.font_manager.fontManager.ttflist if f.name != family]
    monkeypatch.setattr(charts.font_manager.fontManager, "ttflist", others)
    monkeypatch.setattr(charts, "CJK_FILES", ())
    assert family not in charts.font_families()


def test_a_font_installed_after_matplotlib_cached_its_list_is_found_by_its_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cached = [
        f for f in charts.font_manager.fontManager.ttflist if f.name not in charts.CJK_FAMILIES
    ]
    monkeypatch.setattr(charts.font_manager.fontManager, "ttflist", cached)
    assert set(charts.font_families()) & set(charts.CJK_FAMILIES)


def _tick_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_tick_numbers_and_week_days_are_written_as_the_readers_language_does() -> None:
    from django.utils import translation

    points = [
        {"period": "2024", "estimate": 0.31, "ci_lower": 0.20, "ci_upper": 0.42},
        {"period": "2025", "estimate": 0.34, "ci_lower": 0.22, "ci_upper": 0.46},
    ]
    weeks = [
        {"period": "2025-10-06", "observed": 3, "expected": 2.5, "upper_bound": 6.0},
        {"period": "2025-10-13", "observed": 4, "expected": 2.5, "upper_bound": 6.0},
    ]
    drawn = {}
    for language in ("fr", "en"):
        with translation.override(language):
            drawn[language] = _tick_texts(charts.trend_chart(points, title="t", ylabel="y"))
            drawn[language] += _tick_texts(charts.weekly_chart(weeks, title="w"))
    assert "0,3" in drawn["fr"] and "0.3" in drawn["en"]  # the trend's y axis
    assert not [text for text in drawn["fr"] if re.fullmatch(r"[\d.]+\.\d+", text)]
    assert "13/10/2025" in drawn["fr"] and "2025-10-13" in drawn["en"]
