"""Standard populations for direct age standardization, in the 18 five-year bands.

Bands are those of the ``population`` data contract: ``0-4, 5-9, …, 80-84, 85+``.

WHO World Standard Population (2000–2025)
    Ahmad OB, Boschi-Pinto C, Lopez AD, Murray CJL, Lozano R, Inoue M. *Age standardization of
    rates: a new WHO standard.* GPE Discussion Paper Series No. 31, WHO, 2001, Table 4. The WHO
    table gives 21 bands (… 80-84, 85-89, 90-94, 95-99, 100+) per 100,000; we collapse the last
    four: 85+ = 440 + 150 + 40 + 5 = 635. As published, the table sums to **100,035**, not
    100,000 (rounding in the source). We keep the published numbers; standardization always
    uses normalized weights ``w_i = N_i / ΣN``, which equals SEER*Stat's "World (WHO 2000-2025)
    Std Million" rescaling (e.g. 0-4: 8860/100035 × 10⁶ = 88,569).

US 2000 standard population
    Day JC. *Population projections of the United States by age, sex, race, and Hispanic origin:
    1995 to 2050.* Current Population Reports P25-1130, US Census Bureau, 1996; per-million
    form as in Klein RJ, Schoenborn CA, *Age adjustment using the 2000 projected U.S.
    population*, Healthy People 2010 Statistical Notes No. 20, NCHS, 2001 (also SEER "2000 US
    Std Population (Census P25-1130)", 18 age groups, where 0-4 = 13,818 (<1) + 55,317 (1-4)).
    Sums to exactly 1,000,000.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import numpy as np

from analytics.stats._validate import FloatArray
from analytics.stats.errors import MismatchedStrataError

AGE_BANDS: Final[tuple[str, ...]] = (
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44",
    "45-49", "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85+",
)  # fmt: skip

#: WHO (2001) Table 4 as published, per 100,000, 21 bands.
WHO_WORLD_2000_2025_21_BANDS: Final = MappingProxyType(
    {
        "0-4": 8860.0, "5-9": 8690.0, "10-14": 8600.0, "15-19": 8470.0, "20-24": 8220.0,
        "25-29": 7930.0, "30-34": 7610.0, "35-39": 7150.0, "40-44": 6590.0, "45-49": 6040.0,
        "50-54": 5370.0, "55-59": 4550.0, "60-64": 3720.0, "65-69": 2960.0, "70-74": 2210.0,
        "75-79": 1520.0, "80-84": 910.0, "85-89": 440.0, "90-94": 150.0, "95-99": 40.0,
        "100+": 5.0,
    }
)  # fmt: skip


def _collapse_who() -> dict[str, float]:
    out = {band: WHO_WORLD_2000_2025_21_BANDS[band] for band in AGE_BANDS[:-1]}
    out["85+"] = sum(WHO_WORLD_2000_2025_21_BANDS[b] for b in ("85-89", "90-94", "95-99", "100+"))
    return out


#: WHO World Standard (2000–2025), 18 bands, per 100,000 as published (sums to 100,035).
WHO_WORLD_2000_2025: Final = MappingProxyType(_collapse_who())

#: US 2000 standard population, 18 bands, per 1,000,000 (sums to 1,000,000).
US_2000: Final = MappingProxyType(
    {
        "0-4": 69135.0, "5-9": 72533.0, "10-14": 73032.0, "15-19": 72169.0, "20-24": 66478.0,
        "25-29": 64529.0, "30-34": 71044.0, "35-39": 80762.0, "40-44": 81851.0,
        "45-49": 72118.0, "50-54": 62716.0, "55-59": 48454.0, "60-64": 38793.0,
        "65-69": 34264.0, "70-74": 31773.0, "75-79": 26999.0, "80-84": 17842.0, "85+": 15508.0,
    }
)  # fmt: skip

STANDARDS: Final = MappingProxyType(
    {"who_world_2000_2025": WHO_WORLD_2000_2025, "us_2000": US_2000}
)


def standard_weights(name: str, bands: tuple[str, ...] | list[str] = AGE_BANDS) -> FloatArray:
    """Normalized weights (summing to 1) of standard ``name`` for ``bands``, in that order.

    Args:
        name: ``"who_world_2000_2025"`` or ``"us_2000"``.
        bands: the age bands of the data, in the data's order; every band must belong to
            the standard and each band may appear once. A subset (e.g. 30-34 … 85+ for an
            adult cohort) is renormalized over the subset, which is the usual "truncated
            standard" convention (SEER*Stat, epitools).

    Raises:
        MismatchedStrataError: unknown standard, unknown or repeated band.
    """
    try:
        table = STANDARDS[name]
    except KeyError as exc:
        raise MismatchedStrataError(
            f"unknown standard population {name!r}; choose one of {sorted(STANDARDS)}"
        ) from exc
    if len(set(bands)) != len(bands):
        raise MismatchedStrataError("age bands must not repeat")
    unknown = [b for b in bands if b not in table]
    if unknown:
        raise MismatchedStrataError(
            f"age bands {unknown} are not in the standard {name!r} (bands: {list(AGE_BANDS)})"
        )
    raw = np.array([table[b] for b in bands], dtype=np.float64)
    return np.asarray(raw / raw.sum(), dtype=np.float64)
