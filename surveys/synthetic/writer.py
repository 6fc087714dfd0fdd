"""CSV writing with fixed formats (byte-identical output for the same input)."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from .codes import CODES

#: Column order of each CSV kind, exactly as in ARCHITECTURE.md "Data contracts (v1)".
COLUMNS: dict[str, tuple[str, ...]] = {
    "sites": ("site_code", "name", "kind", "latitude", "longitude", "operator", "opened_on"),
    "areas": ("area_code", "name", "latitude", "longitude"),
    "population": ("area_code", "year", "sex", "age_band", "population"),
    "stations": ("station_code", "name", "medium", "latitude", "longitude"),
    "measurements": (
        "station_code",
        "sampled_on",
        "pollutant",
        "value",
        "unit",
        "below_lod",
        "lod",
        "status",
    ),
    "residents": (
        "study_id",
        "area_code",
        "birth_year",
        "sex",
        "enrolled_on",
        "latitude",
        "longitude",
        "works_at_site",
        "smoking",
    ),
    "observations": ("study_id", "observed_on", "code", "value", "unit", "below_lod", "lod"),
}

#: The order in which the kinds must be imported (each depends only on earlier ones).
IMPORT_ORDER: tuple[str, ...] = (
    "sites",
    "areas",
    "population",
    "stations",
    "measurements",
    "residents",
    "observations",
)


def boolean(value: bool) -> str:
    return "true" if value else "false"


def plain_number(value: float) -> str:
    """Shortest plain decimal for a limit such as 0.005 (never exponent notation)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def open_csv(path: Path, kind: str) -> IO[str]:
    f = path.open("w", encoding="utf-8", newline="")
    f.write(",".join(COLUMNS[kind]) + "\n")
    return f


def write_rows(f: IO[str], rows: Iterable[Sequence[str]]) -> int:
    writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n


def write_table(path: Path, kind: str, rows: Iterable[Sequence[str]]) -> int:
    with open_csv(path, kind) as f:
        return write_rows(f, rows)


def format_fixed(values: npt.NDArray[np.float64], decimals: int) -> list[str]:
    fmt = f"%.{decimals}f"
    return [fmt % v for v in values.tolist()]


# Per code and below-LOD flag: the trailing "unit,below_lod,lod" cells of an observation row.
_TAILS: list[list[str]] = [
    [
        f"{c.unit},false,",
        f"{c.unit},true,{plain_number(c.lod) if c.lod is not None else ''}",
    ]
    for c in CODES
]
_CODE_NAMES: list[str] = [c.code for c in CODES]


def observation_lines(
    study_ids: list[str],
    date_strings: npt.NDArray[np.str_],
    res_local: npt.NDArray[np.int64],
    day: npt.NDArray[np.int64],
    code: npt.NDArray[np.int64],
    value: npt.NDArray[np.float64],
    below: npt.NDArray[np.bool_],
) -> str:
    """Observation rows (sorted arrays in) as CSV text."""
    n = len(code)
    cells: list[str] = [""] * n
    for ci, c in enumerate(CODES):
        idx = np.flatnonzero(code == ci)
        if len(idx) == 0:
            continue
        if c.kind == "boolean":
            text = np.where(value[idx] > 0.5, "true", "false").tolist()
        else:
            text = format_fixed(value[idx], c.decimals)
            for j in np.flatnonzero(below[idx]).tolist():
                text[j] = ""
        for i, t in zip(idx.tolist(), text, strict=True):
            cells[i] = t
    sids = [study_ids[i] for i in res_local.tolist()]
    dates = date_strings[day].tolist()
    tails = [_TAILS[c][b] for c, b in zip(code.tolist(), below.tolist(), strict=True)]
    codes = [_CODE_NAMES[c] for c in code.tolist()]
    return "".join(
        f"{s},{d},{c},{v},{t}\n"
        for s, d, c, v, t in zip(sids, dates, codes, cells, tails, strict=True)
    )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
