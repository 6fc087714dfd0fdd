"""The printable PDF of a release (A4, black and white), made once at publication.

Library: ReportLab (BSD, maintained since 2000, wheels on PyPI, no system library needed), see
docs/print-and-map.md for the choice. Text uses the DejaVu fonts that matplotlib ships (already a
dependency), embedded in the PDF, so accents, µ, ³, – and † print on any printer and the text
stays extractable (pdftotext finds the content hash).

The PDF holds the release's findings, the map's text equivalent and every table with labels
(never codes), and the release's content hash: the same hash as the zip's metadata.json.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import matplotlib
from django.utils.formats import date_format, number_format
from django.utils.timezone import localtime
from django.utils.translation import get_language, gettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import (
    KeepTogether,
    ListFlowable,
    ListItem,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from reports import maps

if TYPE_CHECKING:
    from reports.models import Release
    from reports.rendering import Labels

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = {
    "HW-Sans": "DejaVuSans.ttf",
    "HW-Sans-Bold": "DejaVuSans-Bold.ttf",
    "HW-Mono": "DejaVuSansMono.ttf",
}
# DejaVu has no Chinese glyphs: the Chinese PDF is set in Debian's fonts-wqy-microhei (which
# `make browser-deps` and .ci/run install for the charts, analytics/charts.py), embedded.
CJK_FONT = "HW-CJK"
MARGIN = 16 * mm


class PrintError(RuntimeError):
    """The PDF cannot be made (the message says why)."""


class NoFontForLanguage(PrintError):
    """No installed font has the glyphs of the active language (Chinese without a CJK font)."""


def _needs_cjk() -> bool:
    return (get_language() or "").startswith("zh")


def _register_cjk_font() -> None:
    if CJK_FONT in pdfmetrics.getRegisteredFontNames():
        return
    from analytics.charts import CJK_FILES

    # ReportLab embeds TrueType outlines only: WenQuanYi Micro Hei loads, Noto Sans CJK (CFF
    # outlines) does not, so each installed file is tried, WenQuanYi first.
    for path in sorted(CJK_FILES, key=lambda path: "wqy" not in path.name):
        if not path.exists():
            continue
        try:
            pdfmetrics.registerFont(TTFont(CJK_FONT, str(path), subfontIndex=0))
        except TTFError:
            continue
        return
    raise NoFontForLanguage(
        gettext("no Chinese font is installed (apt-get install fonts-wqy-microhei)")
    )


def _register_fonts() -> None:
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, filename in FONTS.items():
        if name not in registered:
            path = FONT_DIR / filename
            if not path.exists():
                raise PrintError(gettext("the font file %(path)s is missing") % {"path": path})
            pdfmetrics.registerFont(TTFont(name, str(path)))
    pdfmetrics.registerFontFamily("HW-Sans", normal="HW-Sans", bold="HW-Sans-Bold")
    if _needs_cjk():
        _register_cjk_font()


def _styles() -> dict[str, ParagraphStyle]:
    sans, bold = ("HW-Sans", "HW-Sans-Bold") if not _needs_cjk() else (CJK_FONT, CJK_FONT)
    base = ParagraphStyle("body", fontName=sans, fontSize=10, leading=13)
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=17, leading=21),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=bold,
            fontSize=13,
            leading=16,
            spaceBefore=10,
            spaceAfter=4,
        ),
        "h3": ParagraphStyle(
            "h3",
            parent=base,
            fontName=bold,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=3,
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=base, fontName=bold, fontSize=7.5, leading=9),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
        "hash": ParagraphStyle("hash", parent=base, fontName="HW-Mono", fontSize=8.5, leading=11),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(
    header: list[str],
    lines: list[list[str]],
    styles: dict[str, ParagraphStyle],
    first: float = 0.26,
) -> LongTable:
    width = A4[0] - 2 * MARGIN
    rest = (width * (1 - first)) / max(len(header) - 1, 1)
    data = [[_p(h, styles["head"]) for h in header]] + [
        [_p(v, styles["cell"]) for v in line] for line in lines
    ]
    table = LongTable(data, colWidths=[width * first] + [rest] * (len(header) - 1), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.Color(0.6, 0.6, 0.6)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def release_pdf(release: Release, release_map: dict[str, Any], labels: Labels) -> bytes:
    """The release as an A4 PDF in the active language, its tables named as the web's table
    pages name them (``labels``: the publication's, read once for the page, the table pages
    and this; ``release_map``: the map's text drawn in the same language)."""
    from reports.rendering import display_table, findings

    try:
        _register_fonts()
    except PrintError:
        raise
    except Exception as error:  # a broken font file: say so rather than a bare traceback
        raise PrintError(
            gettext("the fonts could not be loaded (%(error)s)") % {"error": error}
        ) from error
    if not release.content_hash:
        raise PrintError(gettext("the release has no content hash yet"))
    styles = _styles()
    content = release.content
    title = gettext("Community health report: %(site)s, %(year)s") % {
        "site": content["site"]["name"],
        "year": content["year"],
    }
    version = gettext("Version %(version)s") % {"version": release.version}
    if release.published_at:
        version += ", " + gettext("published %(date)s") % {
            "date": date_format(localtime(release.published_at), "DATE_FORMAT")
        }
    story: list[Any] = [_p(title, styles["title"]), Spacer(1, 3 * mm), _p(version, styles["body"])]
    if release.erratum:
        story.append(_p(gettext("Erratum: %(text)s") % {"text": release.erratum}, styles["body"]))
    story += [
        Spacer(1, 2 * mm),
        _p(
            gettext("Content hash (SHA-256), the same as in the release's zip download:"),
            styles["small"],
        ),
        _p(release.content_hash, styles["hash"]),
        _p(gettext("Key findings"), styles["h2"]),
        ListFlowable(
            [ListItem(_p(f, styles["body"]), leftIndent=12) for f in findings(content, labels)],
            bulletType="bullet",
            start="•",
            bulletFontName=styles["body"].fontName,
        ),
    ]
    # The map's text equivalent (the SVG map itself is on the web page).
    story.append(_p(gettext("Areas around the site"), styles["h2"]))
    story.append(
        _p(
            gettext("%(indicator)s in %(year)s by area. “suppressed”: withheld to protect privacy.")
            % {"indicator": release_map["indicator"], "year": content["year"]},
            styles["small"],
        )
    )
    story.append(
        _table(
            [
                gettext("Area"),
                gettext("Distance to the site"),
                gettext("Rate per 1,000 resident-years (cases)"),
            ],
            [
                [
                    row["name"],
                    gettext("%(km)s km") % {"km": number_format(round(row["distance_km"], 1), 1)},
                    _map_value(row),
                ]
                for row in release_map["areas"]
            ],
            styles,
            first=0.4,
        )
    )
    story.append(_p(gettext("Tables"), styles["h2"]))
    story.append(
        _p(
            gettext(
                "“–” marks a value withheld to protect privacy (counts below %(threshold)s, and "
                "other cells that could reveal them); † marks a rate based on fewer than 20 "
                "cases, which is unreliable. Intervals are 95%%."
            )
            % {"threshold": content["threshold"]},
            styles["small"],
        )
    )
    for name, rows in content["tables"].items():
        # The web's table pages' layout: describing columns that hold one value throughout
        # (e.g. "All areas") are said once under the title instead of on every line.
        shown = display_table(rows, labels)
        header = [
            gettext("Indicator"),
            *[str(h) for h in shown["headers"]],
            *[str(c) for c in shown["columns"]],
        ]
        lines = [
            [
                line["outcome"],
                *[d["text"] for d in line["describing"]],
                *[v["text"] + ("†" if v["note"] == "unreliable" else "") for v in line["values"]],
            ]
            for line in shown["lines"]
        ]
        fixed = "; ".join(f"{f['title']}: {f['value']}" for f in shown["fixed"])
        title_of_table = gettext(content["table_titles"].get(name, name))
        story.append(KeepTogether([_p(title_of_table, styles["h3"])]))
        if fixed:
            story.append(_p(fixed, styles["small"]))
        story.append(_table(header, lines, styles))
    story.append(Spacer(1, 4 * mm))
    story.append(
        _p(
            gettext(
                "Privacy: %(cells)s cells were withheld; every withheld value was checked against "
                "all published equations of this and earlier releases."
            )
            % {"cells": content["privacy"]["suppressed_cells"]},
            styles["small"],
        )
    )
    footer = gettext(
        "%(site)s %(year)s, version %(version)s · content hash %(hash)s · page %%(page)s"
    ) % {
        "site": content["site"]["name"],
        "year": content["year"],
        "version": release.version,
        "hash": release.content_hash[:16] + "…",
    }

    def decorate(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(styles["body"].fontName, 7.5)
        canvas.drawString(MARGIN, 9 * mm, footer % {"page": document.page})
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=title,
        author="HealthWatch",
        subject=gettext("Content hash %(hash)s") % {"hash": release.content_hash},
        invariant=1,  # the same release gives the same bytes (no timestamp, fixed ids)
    )
    try:
        document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    except Exception as error:
        raise PrintError(gettext("the PDF layout failed (%(error)s)") % {"error": error}) from error
    return buffer.getvalue()


def _map_value(row: dict[str, Any]) -> str:
    if row["state"] == maps.SUPPRESSED:
        return gettext("suppressed")
    if row["state"] == maps.NOT_PUBLISHED:
        return gettext("%(cases)s cases; no rate published") % {"cases": row["cases"]}
    # rounded first: Django's number_format cuts a float's digits (0.96 → "0.9")
    rate = number_format(round(row["rate"], 1), decimal_pos=1, force_grouping=True)
    return f"{rate} ({row['cases']})"
