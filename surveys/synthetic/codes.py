"""The vocabulary codes the generator writes, with their unit and number format.

Boolean codes are written with value ``true``/``false`` and an empty unit. Numeric codes are
written in their canonical unit with a fixed number of decimals; a biomarker result below its
limit of detection is written with an empty value, ``below_lod=true`` and the LOD in ``lod``
(in the same unit). ``lod`` is empty whenever ``below_lod`` is ``false``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import params as P


@dataclass(frozen=True)
class Code:
    code: str
    kind: str  # boolean | numeric
    unit: str  # "" for boolean codes
    decimals: int
    lod: float | None


def _build() -> tuple[Code, ...]:
    codes: list[Code] = []
    for code in (P.COUGH_CODE, P.TREND_CODE, *P.OTHER_SYMPTOMS):
        codes.append(Code(code, "boolean", "", 0, None))
    for code in (*P.ACUTE_CODES, *P.CHRONIC_DX):
        codes.append(Code(code, "boolean", "", 0, None))
    for code, spec in P.BIOMARKERS.items():
        codes.append(Code(code, "numeric", spec[0], spec[7], spec[6]))
    codes.append(Code("vital.bmi", "numeric", "kg/m²", 1, None))
    codes.append(Code("vital.fev1_pct_pred", "numeric", "%", 1, None))
    return tuple(sorted(codes, key=lambda c: c.code))


#: Sorted by code: the index of a code is its sort key within a visit.
CODES: tuple[Code, ...] = _build()
CODE_INDEX: dict[str, int] = {c.code: i for i, c in enumerate(CODES)}


def format_decimal(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"
