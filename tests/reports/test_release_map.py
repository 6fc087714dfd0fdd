"""The release map (issue 16, part 2): drawn from published cells only, one shape per area,
suppressed areas hatched and numberless, and a text equivalent that says the same."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from django.template.loader import render_to_string
from django.utils.formats import number_format

from reports import maps
from tests.i18n import bt, h

SVG = "{http://www.w3.org/2000/svg}"
SITE = maps.Place("RH-SEP", "Red Hollow Separation Plant", 44.15, -105.9)
COORDINATES = {
    "A01": (44.148, -105.907),
    "A02": (44.157, -105.909),
    "A03": (44.133, -105.850),
    "A04": (44.124, -105.913),
}
# A hidden value that must never reach the map: the suppressed area's true rate, planted in a
# row whose count is withheld (a rate without its count is never drawn either).
PLANTED = 987.6


def _row(area: str, measure: str, estimate: float | None, flags: str = "") -> dict[str, Any]:
    return {
        "outcome": "acute_respiratory",
        "area_code": area,
        "period": "2025",
        "stratum": "",
        "measure": measure,
        "estimate": estimate,
        "flags": flags,
    }


def _content() -> dict[str, Any]:
    rows = [
        _row("A01", "events", 12.0),
        _row("A01", "crude_rate_per_1000", 40.5),
        _row("A02", "events", None, "suppressed"),
        _row("A02", "crude_rate_per_1000", PLANTED),  # must be ignored: the count is withheld
        _row("A03", "events", 15.0),
        _row("A03", "crude_rate_per_1000", None, "suppressed"),  # count shown, rate withheld
        _row("A04", "events", 30.0),
        _row("A04", "crude_rate_per_1000", 90.25),
    ]
    return {
        "year": 2025,
        "tables": {"indicators_by_area": rows},
        "areas": [
            {"area_code": "A01", "name": "Plant Row", "distance_km": 0.6, "band": "near"},
            {"area_code": "A02", "name": "Kiln Flats", "distance_km": 1.1, "band": "near"},
            {"area_code": "A03", "name": "Tailings Bend", "distance_km": 1.6, "band": "near"},
            {"area_code": "A04", "name": "Millbrook", "distance_km": 3.0, "band": "middle"},
        ],
    }


def _draw() -> tuple[list[dict[str, Any]], str]:
    rows = maps.key_indicator_rows(_content())
    areas = [(maps.Place(r["area_code"], r["name"], *COORDINATES[r["area_code"]]), r) for r in rows]
    stations = [
        maps.Place("AQ-01", "Plant fence-line monitor", 44.15, -105.91, "air"),
        maps.Place("WQ-01", "Tailings seepage well", 44.136, -105.862, "water"),
    ]
    svg = maps.draw_map(
        site=SITE,
        areas=areas,
        stations=stations,
        rings_km=[2.0, 8.0],
        indicator="Acute respiratory illness",
    )
    return rows, svg


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - the SVG this code drew, not outside input


def _area_shapes(svg: str) -> dict[str, ET.Element]:
    root = _parse(svg)
    return {e.attrib["data-area"]: e for e in root.iter() if "data-area" in e.attrib}


def test_the_key_indicator_is_read_from_published_cells_and_a_withheld_count_gives_no_number() -> (
    None
):
    rows = {r["area_code"]: r for r in maps.key_indicator_rows(_content())}
    assert rows["A01"] == {**rows["A01"], "state": "published", "rate": 40.5, "cases": 12}
    assert rows["A02"]["state"] == "suppressed"
    assert rows["A02"]["rate"] is None and rows["A02"]["cases"] is None
    assert rows["A03"]["state"] == "not_published" and rows["A03"]["cases"] == 15


def test_the_map_has_one_shape_per_area_named_a_title_and_a_description() -> None:
    rows, svg = _draw()
    root = _parse(svg)  # well-formed XML (inline and as map.svg)
    shapes = _area_shapes(svg)
    assert sorted(shapes) == ["A01", "A02", "A03", "A04"]
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert root.attrib["role"] == "img"
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    for row in rows:
        assert row["name"] in texts
    assert "Red Hollow Separation Plant" in texts
    assert len([e for e in root.iter() if "data-station" in e.attrib]) == 2
    assert len([e for e in root.iter() if "data-ring" in e.attrib]) == 2
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no fetch


def test_a_suppressed_area_is_hatched_and_carries_no_number_anywhere_on_the_map() -> None:
    _, svg = _draw()
    shapes = _area_shapes(svg)
    assert (
        shapes["A02"].attrib["fill"].startswith("url(#") and "hatch" in shapes["A02"].attrib["fill"]
    )
    assert shapes["A02"].attrib["data-state"] == "suppressed"
    assert not re.search(r"\d", "".join(shapes["A02"].itertext()))
    root = _parse(svg)
    label = next(t for t in root.iter(f"{SVG}text") if "".join(t.itertext()).startswith("Kiln"))
    assert "".join(label.itertext()) == "Kiln Flats"
    assert "987" not in svg
    # Published areas are shaded in grey (no hatch); the one without a rate stays white.
    assert not shapes["A01"].attrib["fill"].startswith("url(")
    assert shapes["A01"].attrib["fill"] != shapes["A04"].attrib["fill"]
    assert shapes["A03"].attrib["fill"] == "#ffffff"


def test_the_shade_classes_span_the_published_rates_only() -> None:
    rows = maps.key_indicator_rows(_content())
    classes = maps.shade_classes(rows)
    assert classes[0][0] == 40.5 and classes[-1][1] == 90.25


def km(distance: float) -> str:
    """A distance as the text equivalent shows it: one decimal in the locale's format."""
    return bt("%(km)s km", km=number_format(distance, 1))


def test_the_text_equivalent_lists_every_area_with_its_distance_and_value_or_suppressed() -> None:
    rows, svg = _draw()
    html = render_to_string(
        "reports/public/_map.html",
        {
            "map": {
                "svg": svg,
                "areas": rows,
                "indicator": "Acute respiratory illness",
                "year": 2025,
            }
        },
    )
    lines = dict(re.findall(r'data-area-row="(A\d\d)" data-state="[a-z_]+">(.*?)</tr>', html))
    assert sorted(lines) == sorted(_area_shapes(svg))
    assert "Plant Row" in lines["A01"] and km(0.6) in lines["A01"]
    assert f"{number_format(40.5, 1)} (12)" in lines["A01"]  # the locale's decimal separator
    assert "Kiln Flats" in lines["A02"] and h("suppressed") in lines["A02"]
    assert not re.search(r"\d", lines["A02"].replace(km(1.1), ""))
    assert bt("%(cases)s cases; no rate published", cases=15) in lines["A03"]
    for code, shape in _area_shapes(svg).items():
        assert f'data-area-row="{code}" data-state="{shape.attrib["data-state"]}"' in html
    assert "<svg" in html and "<caption>" in html


def test_a_draft_preview_without_a_map_renders_no_map_section() -> None:
    assert render_to_string("reports/public/_map.html", {"map": None}).strip() == ""


def test_when_the_key_outcome_is_withheld_in_every_area_the_map_shades_a_published_one() -> None:
    content = _content()
    rows = content["tables"]["indicators_by_area"]
    for row in rows:
        row["estimate"], row["flags"] = None, "suppressed"
    rows += [
        {**_row("A01", "events", 11.0), "outcome": "symptom.headache"},
        {**_row("A01", "crude_rate_per_1000", 30.0), "outcome": "symptom.headache"},
        {**_row("A02", "events", None, "suppressed"), "outcome": "dx.J45"},
    ]
    assert maps.key_outcome(content) == "symptom.headache"
    states = {r["area_code"]: r["state"] for r in maps.key_indicator_rows(content)}
    assert states == {
        "A01": "published",
        "A02": "suppressed",
        "A03": "suppressed",
        "A04": "suppressed",
    }
