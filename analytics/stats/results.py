"""Result types that map one-to-one onto the tidy result-row contract.

The storage contract (ARCHITECTURE.md, "Data contracts") is one estimate per row::

    analysis, outcome, area_code, period, stratum, measure, estimate, ci_lower, ci_upper,
    numerator, denominator, p_value, flags

Statistical functions know the *measure* (e.g. ``rate_per_100000``), the estimate, interval,
numerator, denominator, p-value and flags; the caller knows the *context* (analysis, outcome,
area, period).  :class:`Estimate` carries the former; :meth:`Estimate.to_row` and
:func:`to_frame` add the latter, so storing results is a plain ``DataFrame.to_records``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pandas as pd

ROW_COLUMNS: tuple[str, ...] = (
    "analysis",
    "outcome",
    "area_code",
    "period",
    "stratum",
    "measure",
    "estimate",
    "ci_lower",
    "ci_upper",
    "numerator",
    "denominator",
    "p_value",
    "flags",
)


def _nan_to_none(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(x)


@dataclass(frozen=True)
class Estimate:
    """One estimate with its interval.

    Attributes:
        measure: machine name of the quantity, including its unit where it has one
            (``rate_per_100000``, ``smr``, ``proportion``, ``gm_ug_per_l``...).
        estimate: point estimate (``nan`` when withheld, with the reason in ``flags``).
        ci_lower, ci_upper: interval bounds at ``conf`` (``nan`` when not defined).
        numerator, denominator: the counts/person-time behind the estimate when meaningful.
        p_value: p-value of the test attached to the measure, if any.
        stratum: stratum label ("" for all strata combined).
        flags: machine-readable remarks (``zero_events``, ``withheld_low_detection`` ...).
        conf: confidence level of the interval.
        method: name of the interval/test method, for documentation and audit.
    """

    measure: str
    estimate: float
    ci_lower: float = math.nan
    ci_upper: float = math.nan
    numerator: float | None = None
    denominator: float | None = None
    p_value: float | None = None
    stratum: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)
    conf: float = 0.95
    method: str = ""

    def with_stratum(self, stratum: str) -> Estimate:
        """Return a copy labelled with ``stratum``."""
        return replace(self, stratum=stratum)

    def to_row(
        self,
        *,
        analysis: str = "",
        outcome: str = "",
        area_code: str = "",
        period: str = "",
    ) -> dict[str, object]:
        """The tidy row of the result contract (missing numbers become ``None``)."""
        return {
            "analysis": analysis,
            "outcome": outcome,
            "area_code": area_code,
            "period": period,
            "stratum": self.stratum,
            "measure": self.measure,
            "estimate": _nan_to_none(self.estimate),
            "ci_lower": _nan_to_none(self.ci_lower),
            "ci_upper": _nan_to_none(self.ci_upper),
            "numerator": _nan_to_none(self.numerator),
            "denominator": _nan_to_none(self.denominator),
            "p_value": _nan_to_none(self.p_value),
            "flags": ";".join(self.flags),
        }


def to_frame(
    estimates: Iterable[Estimate],
    *,
    analysis: str = "",
    outcome: str = "",
    area_code: str = "",
    period: str = "",
) -> pd.DataFrame:
    """Tidy DataFrame (columns :data:`ROW_COLUMNS`) from estimates sharing one context."""
    rows = [
        e.to_row(analysis=analysis, outcome=outcome, area_code=area_code, period=period)
        for e in estimates
    ]
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))
