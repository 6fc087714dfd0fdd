"""Temporal trends: annual percent change, joinpoint regression, Mann–Kendall with Sen's slope.

Units: ``years`` are calendar years (any equally or unequally spaced numeric time);
``rates`` are positive rates in any unit (the APC is unit-free, in % per year).

References:
    Kim HJ, Fay MP, Feuer EJ, Midthune DN. Permutation tests for joinpoint regression with
        applications to cancer rates. Stat Med 2000;19:335-51.
    Zhang NR, Siegmund DO. A modified Bayes information criterion with applications to the
        analysis of comparative genomic hybridization data. Biometrics 2007;63:22-32; and
        NCI Joinpoint Regression Program help, "Model Selection Method: BIC".
    Clegg LX, Hankey BF, Tiwari R, Feuer EJ, Edwards BK. Estimating average annual per cent
        change in trend analysis. Stat Med 2009;28:3670-82.
    Mann HB. Nonparametric tests against trend. Econometrica 1945;13:245-59.
    Kendall MG. Rank Correlation Methods, 4th ed. Griffin, 1975.
    Sen PK. Estimates of the regression coefficient based on Kendall's tau. JASA
        1968;63:1379-89. Gilbert RO. Statistical Methods for Environmental Pollution
        Monitoring. Van Nostrand Reinhold, 1987, §16.5 (interval for Sen's slope).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analytics.stats._validate import FloatArray, as_float_array, as_positive
from analytics.stats.errors import MismatchedStrataError, ShortHistoryError, StatsInputError
from analytics.stats.results import Estimate


def _xy(
    years: Sequence[float], values: Sequence[float], name: str
) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(years, "years")
    y = as_positive(values, name)
    if len(x) != len(y):
        raise MismatchedStrataError(f"years has {len(x)} values but {name} has {len(y)}")
    if len(set(x.tolist())) != len(x):
        raise StatsInputError("years must be distinct")
    order = np.argsort(x)
    return x[order], y[order]


def annual_percent_change(
    years: Sequence[float], rates: Sequence[float], *, conf: float = 0.95
) -> Estimate:
    """APC from the least-squares fit ``ln r_t = a + b t``: ``APC = 100 (e^b − 1)``.

    Interval ``100 (exp(b ± t_{n−2} SE_b) − 1)``; p-value of ``b = 0`` (t-test, n − 2 df), as
    SEER*Stat / NCI Joinpoint with zero joinpoints and homoscedastic errors. Needs ≥ 3 years
    and positive rates (a zero rate has no logarithm: aggregate years or use a count model).
    """
    x, y = _xy(years, rates, "rates")
    if len(x) < 3:
        raise ShortHistoryError("annual percent change", 3, len(x))
    fit = _ols(np.column_stack([np.ones(len(x)), x]), np.log(y))
    b, se = fit.beta[1], math.sqrt(fit.cov[1, 1])
    tq = float(stats.t.ppf(1 - (1 - conf) / 2, fit.df))
    return Estimate(
        measure="apc_percent_per_year",
        estimate=100 * math.expm1(b),
        ci_lower=100 * math.expm1(b - tq * se),
        ci_upper=100 * math.expm1(b + tq * se),
        p_value=float(2 * stats.t.sf(abs(b / se), fit.df)),
        conf=conf,
        method="log_linear_ols",
    )


def annual_percent_changes(
    years: Sequence[float], rates: Sequence[Sequence[float]], *, conf: float = 0.95
) -> list[Estimate]:
    """:func:`annual_percent_change` of several series of rates over the same ``years``: the
    same estimates, bit for bit, the t quantile computed once and the p-values in one call."""
    fits = []
    for series in rates:
        x, y = _xy(years, series, "rates")
        if len(x) < 3:
            raise ShortHistoryError("annual percent change", 3, len(x))
        fits.append(_ols(np.column_stack([np.ones(len(x)), x]), np.log(y)))
    if not fits:
        return []
    df = fits[0].df
    tq = float(stats.t.ppf(1 - (1 - conf) / 2, df))
    b = [float(fit.beta[1]) for fit in fits]
    se = [math.sqrt(fit.cov[1, 1]) for fit in fits]
    p = (2 * stats.t.sf(np.abs(np.asarray(b) / np.asarray(se)), df)).tolist()
    return [
        Estimate(
            measure="apc_percent_per_year",
            estimate=100 * math.expm1(bi),
            ci_lower=100 * math.expm1(bi - tq * si),
            ci_upper=100 * math.expm1(bi + tq * si),
            p_value=float(pi),
            conf=conf,
            method="log_linear_ols",
        )
        for bi, si, pi in zip(b, se, p, strict=True)
    ]


@dataclass(frozen=True)
class _Ols:
    beta: FloatArray
    cov: FloatArray
    sse: float
    df: int


def _ols(x: FloatArray, y: FloatArray) -> _Ols:
    beta = np.asarray(np.linalg.lstsq(x, y, rcond=None)[0], dtype=np.float64)
    resid = y - x @ beta
    sse = float(resid @ resid)
    df = len(y) - x.shape[1]
    sigma2 = sse / df if df > 0 else math.nan
    cov = np.asarray(np.linalg.inv(x.T @ x) * sigma2, dtype=np.float64)
    return _Ols(beta, cov, sse, df)


@dataclass(frozen=True)
class JoinpointResult:
    """Selected joinpoint model.

    Attributes:
        joinpoints: years at which the slope changes (empty for a straight line).
        segments: APC per segment (``stratum`` = ``"1990-1998"``), t-interval with
            n − 2k − 2 df (NCI's parametric intervals conditional on the joinpoints).
        aapc: average APC over the whole period (Clegg 2009), normal interval.
        bic: BIC of each candidate number of joinpoints, ``{k: BIC}``.
        fitted: fitted rates.
    """

    joinpoints: tuple[float, ...]
    segments: list[Estimate]
    aapc: Estimate
    bic: dict[int, float]
    fitted: FloatArray


def _hinge_design(x: FloatArray, taus: Sequence[float]) -> FloatArray:
    cols = [np.ones(len(x)), x]
    cols.extend(np.maximum(x - tau, 0.0) for tau in taus)
    return np.column_stack(cols)


def _candidate_sets(x: FloatArray, k: int, min_end: int, min_between: int) -> list[tuple[int, ...]]:
    """Index sets of k joinpoints at observed x, NCI grid rules.

    ``min_end``: observations strictly between a joinpoint and either end (NCI default 2);
    ``min_between``: observations strictly between two joinpoints (NCI default 2).
    """
    n = len(x)
    allowed = range(min_end + 1, n - min_end - 1)
    out = []
    for combo in itertools.combinations(allowed, k):
        if all(b - a - 1 >= min_between for a, b in itertools.pairwise(combo)):
            out.append(combo)
    return out


def joinpoint(
    years: Sequence[float],
    rates: Sequence[float],
    *,
    max_joinpoints: int = 2,
    min_obs_end: int = 2,
    min_obs_between: int = 2,
    conf: float = 0.95,
) -> JoinpointResult:
    """Joinpoint regression of ``ln(rate)`` on year (NCI Joinpoint conventions).

    * Model: continuous piecewise-linear ``ln r = a + b x + Σ_j d_j (x − τ_j)₊``, least squares,
      homoscedastic errors.
    * Grid search: joinpoints only at observed years, at least ``min_obs_end`` observations
      between a joinpoint and either end and ``min_obs_between`` between joinpoints (the
      joinpoints themselves excluded) — NCI defaults 2 and 2; k = 0 … ``max_joinpoints``.
    * Selection by BIC: ``BIC(k) = ln(SSE_k / n) + 2(k + 1) ln(n) / n`` (each joinpoint counts as
      a location and a slope parameter, as in NCI's BIC option); the smallest BIC wins.
      The permutation test of Kim et al. (2000) is not implemented.
    * APC per segment ``100 (e^{b_s} − 1)`` with t-intervals on n − 2k − 2 df; AAPC over the
      full range ``100 (exp(Σ w_s b_s / Σ w_s) − 1)``, ``w_s`` = segment length in years, with a
      normal interval from the slope covariance (Clegg et al. 2009).

    Raises:
        ShortHistoryError: fewer years than a k-joinpoint model with these rules needs
            (``2·min_obs_end + 3`` for one joinpoint; at least 3 for a straight line).
    """
    x, y = _xy(years, rates, "rates")
    n = len(x)
    if n < 3:
        raise ShortHistoryError("joinpoint regression", 3, n)
    ly = np.log(y)
    best: dict[int, tuple[float, tuple[int, ...], _Ols]] = {}
    for k in range(0, max_joinpoints + 1):
        if n - 2 * k - 2 <= 0:
            break
        cands = [()] if k == 0 else _candidate_sets(x, k, min_obs_end, min_obs_between)
        for combo in cands:
            fit = _ols(_hinge_design(x, [x[i] for i in combo]), ly)
            if k not in best or fit.sse < best[k][0] - 1e-12:
                best[k] = (fit.sse, combo, fit)
    bic = {
        k: math.log(max(sse, 1e-300) / n) + 2 * (k + 1) * math.log(n) / n
        for k, (sse, _, _) in best.items()
    }
    k_sel = min(bic, key=lambda k: (bic[k], k))
    _, combo, fit = best[k_sel]
    taus = [float(x[i]) for i in combo]
    df = n - 2 * k_sel - 2
    # slope of segment s = b + Σ_{j<s} d_j  →  contrast vectors on the coefficient vector
    p = 2 + k_sel
    contrasts = []
    for s in range(k_sel + 1):
        c = np.zeros(p)
        c[1] = 1.0
        c[2 : 2 + s] = 1.0
        contrasts.append(c)
    # the selected model's residual df follow NCI (joinpoint locations count as parameters)
    sigma2 = fit.sse / df if df > 0 else math.nan
    cov = fit.cov / (fit.sse / fit.df) * sigma2 if fit.df > 0 else fit.cov
    tq = float(stats.t.ppf(1 - (1 - conf) / 2, df)) if df > 0 else math.nan
    bounds = [float(x[0]), *taus, float(x[-1])]
    segments = []
    for s, c in enumerate(contrasts):
        b = float(c @ fit.beta)
        se = math.sqrt(float(c @ cov @ c))
        segments.append(
            Estimate(
                measure="apc_percent_per_year",
                estimate=100 * math.expm1(b),
                ci_lower=100 * math.expm1(b - tq * se),
                ci_upper=100 * math.expm1(b + tq * se),
                p_value=float(2 * stats.t.sf(abs(b / se), df)) if df > 0 else math.nan,
                stratum=f"{bounds[s]:g}-{bounds[s + 1]:g}",
                conf=conf,
                method="joinpoint_bic",
            )
        )
    lengths = np.diff(bounds)
    wvec = sum((lw / lengths.sum()) * c for lw, c in zip(lengths, contrasts, strict=True))
    b_avg = float(wvec @ fit.beta)
    se_avg = math.sqrt(float(wvec @ cov @ wvec))
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    aapc = Estimate(
        measure="aapc_percent_per_year",
        estimate=100 * math.expm1(b_avg),
        ci_lower=100 * math.expm1(b_avg - z * se_avg),
        ci_upper=100 * math.expm1(b_avg + z * se_avg),
        p_value=float(2 * stats.norm.sf(abs(b_avg / se_avg))),
        stratum=f"{bounds[0]:g}-{bounds[-1]:g}",
        conf=conf,
        method="clegg_2009_normal",
    )
    fitted = np.exp(_hinge_design(x, taus) @ fit.beta)
    return JoinpointResult(tuple(taus), segments, aapc, bic, fitted)


@dataclass(frozen=True)
class MannKendallResult:
    """Mann–Kendall test and Sen's slope.

    Attributes:
        s: Kendall's S; var_s: its variance (ties corrected); z: continuity-corrected score.
        tau: Kendall's tau-a ``S / (n(n−1)/2)``.
        p_value: two-sided normal p-value.
        slope: Sen's slope (median of pairwise slopes), in value units per time unit, with
            the Gilbert (1987) interval in ``slope.ci_lower``/``ci_upper``.
    """

    s: float
    var_s: float
    z: float
    tau: float
    p_value: float
    slope: Estimate


def mann_kendall(
    values: Sequence[float], times: Sequence[float] | None = None, *, conf: float = 0.95
) -> MannKendallResult:
    """Mann–Kendall trend test with Sen's slope (as R ``trend::mk.test`` / ``sens.slope``).

    ``S = Σ_{i<j} sign(x_j − x_i)``; ``Var S = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)]/18`` over tie
    groups ``t``; ``Z = (S − sign S)/√Var S``. Sen's slope is the median of
    ``(x_j − x_i)/(t_j − t_i)``; its interval takes the ``round((N − C)/2)``-th and
    ``round((N + C)/2 + 1)``-th ordered slopes, ``C = z_{1−α/2} √Var S``, ``N`` = number of pairs.
    Needs ≥ 4 observations (the normal approximation is poor below ~10; documented).
    """
    x = as_float_array(values, "values")
    t = np.arange(1.0, len(x) + 1) if times is None else as_float_array(times, "times")
    if len(t) != len(x):
        raise MismatchedStrataError("times and values differ in length")
    n = len(x)
    if n < 4:
        raise ShortHistoryError("Mann–Kendall test", 4, n)
    order = np.argsort(t, kind="stable")
    x, t = x[order], t[order]
    i, j = np.triu_indices(n, k=1)
    s = float(np.sign(x[j] - x[i]).sum())
    _, counts = np.unique(x, return_counts=True)
    var_s = (
        n * (n - 1) * (2 * n + 5) - float(np.sum(counts * (counts - 1) * (2 * counts + 5)))
    ) / 18.0
    z = (s - math.copysign(1.0, s)) / math.sqrt(var_s) if s != 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    dt = t[j] - t[i]
    if (dt == 0).any():
        raise StatsInputError("times must be distinct")
    slopes = np.sort((x[j] - x[i]) / dt)
    big_n = len(slopes)
    c = float(stats.norm.ppf(1 - (1 - conf) / 2)) * math.sqrt(var_s)
    lo_rank = int(_r_round((big_n - c) / 2))
    hi_rank = int(_r_round((big_n + c) / 2 + 1))
    lo = float(slopes[lo_rank - 1]) if 1 <= lo_rank <= big_n else math.nan
    hi = float(slopes[hi_rank - 1]) if 1 <= hi_rank <= big_n else math.nan
    slope = Estimate(
        measure="sen_slope_per_time_unit",
        estimate=float(np.median(slopes)),
        ci_lower=lo,
        ci_upper=hi,
        p_value=p,
        conf=conf,
        method="mann_kendall_sen",
    )
    return MannKendallResult(s, var_s, z, s / (n * (n - 1) / 2), p, slope)


def _r_round(v: float) -> float:
    """R's ``round`` (IEC 60559 round-half-even), same as Python's ``round``."""
    return float(round(v))
