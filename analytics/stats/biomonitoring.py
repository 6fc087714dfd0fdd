"""Biomonitoring summaries following the CDC National Report on Human Exposure conventions.

Units: concentrations in the biomarker's canonical unit (e.g. blood lead µg/dL, urine metals
µg/L); the measure names carry no unit, the caller's ``outcome`` code fixes it.

Conventions (CDC, Fourth National Report on Human Exposure to Environmental Chemicals, 2009,
and its Updated Tables, "Data analysis" appendix):

* results below the limit of detection (LOD) are replaced by ``LOD/√2`` (Hornung & Reed 1990);
* the geometric mean is **withheld** when more than 40% of results are below the LOD
  (:data:`MAX_PROPORTION_BELOW_LOD`); a percentile that falls below the LOD is reported as
  "< LOD" (flag ``below_lod``, estimate NaN, the LOD in ``ci_lower``/``ci_upper`` is *not* set);
* intervals: simple random sampling here (no survey design): GM by the t-interval of the mean
  log concentration; percentiles by the distribution-free order-statistic interval (Hahn &
  Meeker 1991, §5.2), point estimate by R's default (type 7) quantile.

References:
    CDC. Fourth National Report on Human Exposure to Environmental Chemicals. Atlanta, 2009.
    Hornung RW, Reed LD. Estimation of average concentration in the presence of nondetectable
        values. Appl Occup Environ Hyg 1990;5:46-51.
    Hahn GJ, Meeker WQ. Statistical Intervals. Wiley, 1991.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from analytics.stats._validate import FloatArray, as_float_array, check_conf
from analytics.stats.errors import MismatchedStrataError, StatsInputError
from analytics.stats.rates import ProportionMethod, proportion
from analytics.stats.regression import design_matrix
from analytics.stats.results import Estimate

MAX_PROPORTION_BELOW_LOD = 0.40
"""GM withheld when the proportion of results below the LOD exceeds this (CDC rule)."""

SQRT2 = math.sqrt(2.0)


def substitute_below_lod(
    values: npt.ArrayLike, below_lod: npt.ArrayLike, lod: npt.ArrayLike
) -> FloatArray:
    """Replace results flagged below the LOD by ``LOD/√2`` (value column ignored there)."""
    v = np.asarray(values, dtype=np.float64)
    flags = np.asarray(below_lod, dtype=bool)
    lods = np.broadcast_to(np.asarray(lod, dtype=np.float64), v.shape)
    if flags.shape != v.shape:
        raise MismatchedStrataError("below_lod must flag every value")
    if np.isnan(lods[flags]).any() or (lods[flags] <= 0).any():
        raise StatsInputError("every result below the LOD needs a positive LOD")
    out = np.where(flags, lods / SQRT2, v)
    out = as_float_array(out, "values")
    if (out <= 0).any():
        raise StatsInputError("concentrations must be positive (use below_lod for non-detects)")
    return out


def _prep(
    values: Sequence[float], below_lod: Sequence[bool] | None, lod: Sequence[float] | float | None
) -> tuple[FloatArray, FloatArray, float]:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        from analytics.stats.errors import EmptyInputError

        raise EmptyInputError("no biomonitoring results")
    if below_lod is None:
        flags = np.zeros(v.size, dtype=bool)
        x = as_float_array(v, "values")
        if (x <= 0).any():
            raise StatsInputError("concentrations must be positive")
        lods = np.full(v.size, np.nan)
    else:
        flags = np.asarray(below_lod, dtype=bool)
        lods = np.broadcast_to(
            np.asarray(lod if lod is not None else np.nan, dtype=np.float64), v.shape
        ).copy()
        x = substitute_below_lod(v, flags, lods)
    return x, lods, float(flags.mean())


def geometric_mean(
    values: Sequence[float],
    below_lod: Sequence[bool] | None = None,
    lod: Sequence[float] | float | None = None,
    *,
    conf: float = 0.95,
    max_below_lod: float = MAX_PROPORTION_BELOW_LOD,
) -> Estimate:
    """Geometric mean with a t-interval: ``exp(mean(ln x) ± t_{n−1} sd(ln x)/√n)``.

    Withheld (estimate NaN, flag ``withheld_low_detection``) when the proportion below the LOD
    exceeds ``max_below_lod``. Needs n ≥ 2. Matches R ``exp(t.test(log(x))$conf.int)``.
    """
    check_conf(conf)
    x, _, p_below = _prep(values, below_lod, lod)
    n = len(x)
    flags = [f"detection_frequency={1 - p_below:.3f}"]
    if p_below > max_below_lod:
        return Estimate(
            measure="geometric_mean",
            estimate=math.nan,
            numerator=float(n),
            flags=(*flags, "withheld_low_detection"),
            conf=conf,
            method="t_interval_log",
        )
    if n < 2:
        raise StatsInputError("a geometric mean interval needs at least 2 results")
    lx = np.log(x)
    m, se = float(lx.mean()), float(lx.std(ddof=1) / math.sqrt(n))
    tq = float(stats.t.ppf(1 - (1 - conf) / 2, n - 1))
    return Estimate(
        measure="geometric_mean",
        estimate=math.exp(m),
        ci_lower=math.exp(m - tq * se),
        ci_upper=math.exp(m + tq * se),
        numerator=float(n),
        flags=tuple(flags),
        conf=conf,
        method="t_interval_log",
    )


def percentiles(
    values: Sequence[float],
    below_lod: Sequence[bool] | None = None,
    lod: Sequence[float] | float | None = None,
    *,
    probs: Sequence[float] = (0.50, 0.75, 0.90, 0.95),
    conf: float = 0.95,
) -> list[Estimate]:
    """Percentiles (R type-7) with distribution-free order-statistic intervals.

    For percentile ``p`` and n results the interval is ``[x_(l), x_(u)]`` with
    ``l = F⁻¹_{Bin(n,p)}(α/2)`` and ``u = F⁻¹_{Bin(n,p)}(1 − α/2) + 1`` (1-based order
    statistics), giving coverage ≥ conf; a rank outside 1..n leaves that limit NaN (flag
    ``interval_open``). A percentile below the (largest) LOD is reported as "< LOD": estimate
    and both limits NaN, flag ``below_lod``; a lower limit below the LOD is withheld (NaN, flag
    ``ci_lower_below_lod``). ``stratum`` is ``"p50"``, ``"p75"``, ...
    """
    check_conf(conf)
    x, lods, _ = _prep(values, below_lod, lod)
    n = len(x)
    xs = np.sort(x)
    alpha = 1 - conf
    max_lod = float(np.nanmax(lods)) if not np.isnan(lods).all() else math.nan
    out = []
    for p in probs:
        if not 0 < p < 1:
            raise StatsInputError("percentiles must be strictly between 0 and 1")
        est = float(np.quantile(xs, p))  # numpy "linear" == R type 7
        lo_rank = int(stats.binom.ppf(alpha / 2, n, p))
        hi_rank = int(stats.binom.ppf(1 - alpha / 2, n, p)) + 1
        lo = float(xs[lo_rank - 1]) if 1 <= lo_rank <= n else math.nan
        hi = float(xs[hi_rank - 1]) if 1 <= hi_rank <= n else math.nan
        flags: list[str] = []
        if math.isnan(lo) or math.isnan(hi):
            flags.append("interval_open")
        if not math.isnan(max_lod) and est < max_lod:
            # "< LOD": the interval goes too, its limits would be substituted LOD/√2 values
            flags.append("below_lod")
            est, lo, hi = math.nan, math.nan, math.nan
        elif not math.isnan(max_lod) and lo < max_lod:
            # a lower limit below the LOD is a substituted value, not a measurement
            flags.append("ci_lower_below_lod")
            lo = math.nan
        out.append(
            Estimate(
                measure="percentile",
                estimate=est,
                ci_lower=lo,
                ci_upper=hi,
                numerator=float(n),
                stratum=f"p{round(p * 100):d}",
                flags=tuple(flags),
                conf=conf,
                method="order_statistic",
            )
        )
    return out


def share_above_reference(
    values: Sequence[float],
    reference_level: float,
    below_lod: Sequence[bool] | None = None,
    lod: Sequence[float] | float | None = None,
    *,
    method: ProportionMethod = "wilson",
    conf: float = 0.95,
) -> Estimate:
    """Proportion of results strictly above a reference level (e.g. blood lead 3.5 µg/dL).

    Non-detects count as not above when their LOD ≤ the reference level; if a non-detect's LOD
    exceeds the reference level it cannot be classified and :class:`StatsInputError` is raised.
    """
    v = np.asarray(values, dtype=np.float64)
    flags = np.zeros(v.size, dtype=bool) if below_lod is None else np.asarray(below_lod, bool)
    if below_lod is not None:
        lods = np.broadcast_to(np.asarray(lod, dtype=np.float64), v.shape)
        if (lods[flags] > reference_level).any():
            raise StatsInputError("a non-detect's LOD exceeds the reference level: unclassifiable")
    x, _, _ = _prep(values, below_lod, lod)
    above = int(np.sum((x > reference_level) & ~flags))
    est = proportion(above, len(x), method=method, conf=conf)
    return Estimate(
        measure="proportion_above_reference",
        estimate=est.estimate,
        ci_lower=est.ci_lower,
        ci_upper=est.ci_upper,
        numerator=est.numerator,
        denominator=est.denominator,
        conf=conf,
        method=method,
        flags=(f"reference_level={reference_level:g}",),
    )


def adjusted_gm_ratio(
    data: pd.DataFrame,
    *,
    value: str,
    group: str,
    reference_group: Any,
    covariates: Sequence[str] = (),
    reference: Mapping[str, Any] | None = None,
    below_lod: str | None = None,
    lod: str | None = None,
    conf: float = 0.95,
) -> list[Estimate]:
    """Adjusted geometric-mean ratios between exposure groups.

    Linear model ``ln x = a + Σ_g β_g [group = g] + Xγ`` (OLS); the GM ratio of group ``g``
    to ``reference_group`` is ``exp(β_g)`` with the t-interval on n − p df. Non-detects are set
    to LOD/√2 first. Matches R ``exp(coef(lm(log(x) ~ group + covariates)))`` and
    ``exp(confint(...))``. One estimate per non-reference group (``stratum`` = ``group=g``).
    """
    check_conf(conf)
    if len(data) == 0:
        from analytics.stats.errors import EmptyInputError

        raise EmptyInputError("no biomonitoring results")
    flags = data[below_lod].to_numpy(bool) if below_lod else None
    lods = data[lod].to_numpy(float) if lod else None
    x, _, _ = _prep(data[value].to_numpy(float), flags, lods)
    ref = dict(reference or {})
    ref[group] = reference_group
    design, names = design_matrix(data, [group, *covariates], reference=ref)
    fit = sm.OLS(np.log(x), design).fit()
    tq = float(stats.t.ppf(1 - (1 - conf) / 2, fit.df_resid))
    out = []
    for i, name in enumerate(names):
        if not name.startswith(f"{group}="):
            continue
        b, se = float(fit.params[i]), float(fit.bse[i])
        out.append(
            Estimate(
                measure="gm_ratio",
                estimate=math.exp(b),
                ci_lower=math.exp(b - tq * se),
                ci_upper=math.exp(b + tq * se),
                p_value=float(fit.pvalues[i]),
                stratum=name,
                conf=conf,
                method="ols_log",
            )
        )
    return out
