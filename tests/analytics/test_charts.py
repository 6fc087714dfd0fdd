"""Charts drawn for every shipped language: Chinese labels are measured with a Chinese font."""

from __future__ import annotations

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
