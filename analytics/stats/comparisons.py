"""Comparisons of rates and odds: SMR/SIR, exact rate ratio, Mantel–Haenszel estimators.

References:
    Breslow NE, Day NE. Statistical Methods in Cancer Research, vol. I (1980) and II (1987),
        IARC Sci Publ 32 and 82 (SMR, MH estimators, homogeneity tests).
    Robins J, Breslow N, Greenland S. Estimators of the Mantel-Haenszel variance consistent in
        both sparse data and large-strata limiting models. Biometrics 1986;42:311-23.
    Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up
        data. Biometrics 1985;41:55-68 (MH rate ratio and its variance).
    Tarone RE. On heterogeneity tests based on efficient scores. Biometrika 1985;72:91-5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from analytics.stats._validate import as_counts, as_positive, check_conf, same_length
from analytics.stats.errors import AllZeroBaselineError, MismatchedStrataError, StatsInputError
from analytics.stats.rates import poisson_exact_interval
from analytics.stats.results import Estimate

_REL_ERR = 1 + 1e-7  # R's tolerance when collecting "as or less likely" outcomes


def poisson_test_two_sided_p(x: int, mean: float) -> float:
    """Two-sided exact Poisson p-value as in R's ``poisson.test`` (sum of P(k) ≤ P(x))."""
    if mean == 0:
        return 1.0 if x == 0 else 0.0
    d = stats.poisson.pmf(x, mean)
    if x == mean:
        return 1.0
    if x < mean:
        n_hi = math.ceil(2 * mean - x)
        while stats.poisson.pmf(n_hi, mean) > d:
            n_hi *= 2
        i = np.arange(math.ceil(mean), n_hi + 1)
        y = int(np.sum(stats.poisson.pmf(i, mean) <= d * _REL_ERR))
        p = stats.poisson.cdf(x, mean) + stats.poisson.sf(n_hi - y, mean)
    else:
        i = np.arange(0, math.floor(mean) + 1)
        y = int(np.sum(stats.poisson.pmf(i, mean) <= d * _REL_ERR))
        p = stats.poisson.cdf(y - 1, mean) + stats.poisson.sf(x - 1, mean)
    return float(min(1.0, p))


def binom_test_two_sided_p(x: int, n: int, p: float) -> float:
    """Two-sided exact binomial p-value as in R's ``binom.test``."""
    if p == 0:
        return 1.0 if x == 0 else 0.0
    if p == 1:
        return 1.0 if x == n else 0.0
    d = stats.binom.pmf(x, n, p)
    m = n * p
    if x == m:
        return 1.0
    if x < m:
        i = np.arange(math.ceil(m), n + 1)
        y = int(np.sum(stats.binom.pmf(i, n, p) <= d * _REL_ERR))
        pv = stats.binom.cdf(x, n, p) + stats.binom.sf(n - y, n, p)
    else:
        i = np.arange(0, math.floor(m) + 1)
        y = int(np.sum(stats.binom.pmf(i, n, p) <= d * _REL_ERR))
        pv = stats.binom.cdf(y - 1, n, p) + stats.binom.sf(x - 1, n, p)
    return float(min(1.0, pv))


def smr(
    observed: float,
    expected: float | None = None,
    *,
    person_time: Sequence[float] | None = None,
    reference_rates: Sequence[float] | None = None,
    conf: float = 0.95,
    measure: str = "smr",
) -> Estimate:
    """Standardized mortality/incidence ratio ``O / E`` with exact Poisson interval and test.

    ``E`` is either given or computed by indirect standardization as ``Σ r_i n_i`` from
    reference stratum rates ``r_i`` (events per person-year) and the study person-time ``n_i``.
    Interval: Garwood limits of ``O`` divided by ``E``; p-value: two-sided exact Poisson test of
    ``SMR = 1`` (R ``poisson.test(O, E)``). Use ``measure="sir"`` for incidence.
    """
    check_conf(conf)
    o = float(as_counts([observed], "observed")[0])
    if expected is None:
        if person_time is None or reference_rates is None:
            raise StatsInputError("give expected, or person_time and reference_rates")
        same_length("person_time", person_time, "reference_rates", reference_rates)
        pt = as_counts(person_time, "person_time", integer=False)
        rr = as_counts(reference_rates, "reference_rates", integer=False)
        e = float(np.sum(pt * rr))
    else:
        e = float(as_counts([expected], "expected", integer=False)[0])
    if e <= 0:
        raise AllZeroBaselineError(
            "expected count is zero: reference rates or person-time are all zero"
        )
    lo, hi = poisson_exact_interval(o, conf)
    return Estimate(
        measure=measure,
        estimate=o / e,
        ci_lower=lo / e,
        ci_upper=hi / e,
        numerator=o,
        denominator=e,
        p_value=poisson_test_two_sided_p(int(o), e),
        conf=conf,
        method="exact_poisson",
    )


def rate_ratio_exact(
    events_exposed: float,
    person_time_exposed: float,
    events_unexposed: float,
    person_time_unexposed: float,
    *,
    conf: float = 0.95,
) -> Estimate:
    """Rate ratio (exposed / unexposed) with the exact conditional test and interval.

    Conditional on the total ``x1 + x0``, ``x1`` is binomial with
    ``π = RR·T1 / (RR·T1 + T0)``. The p-value is the two-sided exact binomial test of
    ``RR = 1`` and the interval transforms the Clopper–Pearson limits of ``π`` by
    ``RR = π/(1-π) · T0/T1``. Identical to R ``poisson.test(c(x1, x0), c(T1, T0))``.
    """
    check_conf(conf)
    x1 = float(as_counts([events_exposed], "events_exposed")[0])
    x0 = float(as_counts([events_unexposed], "events_unexposed")[0])
    t1 = float(as_positive([person_time_exposed], "person_time_exposed")[0])
    t0 = float(as_positive([person_time_unexposed], "person_time_unexposed")[0])
    n = x1 + x0
    if n == 0:
        raise AllZeroBaselineError("no events in either group: the rate ratio is undefined")
    alpha = 1 - conf
    p_lo = 0.0 if x1 == 0 else float(stats.beta.ppf(alpha / 2, x1, n - x1 + 1))
    p_hi = 1.0 if x1 == n else float(stats.beta.ppf(1 - alpha / 2, x1 + 1, n - x1))
    ratio_t = t0 / t1
    lo = p_lo / (1 - p_lo) * ratio_t
    hi = math.inf if p_hi == 1.0 else p_hi / (1 - p_hi) * ratio_t
    est = math.inf if x0 == 0 else (x1 / t1) / (x0 / t0)
    pval = binom_test_two_sided_p(int(x1), int(n), t1 / (t1 + t0))
    return Estimate(
        measure="rate_ratio",
        estimate=est,
        ci_lower=lo,
        ci_upper=hi,
        numerator=x1,
        denominator=x0,
        p_value=pval,
        conf=conf,
        method="exact_conditional",
    )


def _tables(
    a: Sequence[float], b: Sequence[float], c: Sequence[float], d: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    same_length("a", a, "b", b)
    same_length("a", a, "c", c)
    same_length("a", a, "d", d)
    return as_counts(a, "a"), as_counts(b, "b"), as_counts(c, "c"), as_counts(d, "d")


def mantel_haenszel_odds_ratio(
    a: Sequence[float],
    b: Sequence[float],
    c: Sequence[float],
    d: Sequence[float],
    *,
    conf: float = 0.95,
    correct: bool = True,
) -> tuple[Estimate, Estimate]:
    """Mantel–Haenszel common odds ratio across K 2×2 tables, and a homogeneity test.

    Each stratum ``k`` is the table ``[[a, b], [c, d]]`` (rows exposed/unexposed, columns
    cases/non-cases). Returns ``(or_mh, homogeneity)``:

    * ``or_mh``: ``Σ a d/n / Σ b c/n`` with the Robins–Breslow–Greenland interval and the
      Cochran–Mantel–Haenszel χ² p-value (continuity corrected when ``correct``) — identical to
      R ``mantelhaen.test(x, correct=correct)``.
    * ``homogeneity``: Breslow–Day statistic with Tarone's correction (measure
      ``breslow_day_tarone_chi2``, ``estimate`` = statistic, p-value on K-1 df).

    A stratum with fewer than 2 subjects contributes zero to every sum (``ad = bc = 0`` and its
    CMH variance term is 0/0) and is left out; ``numerator`` of the homogeneity estimate is
    the degrees of freedom of the strata used. R's ``mantelhaen.test`` refuses such strata.

    Raises:
        StatsInputError: fewer than 2 subjects in every stratum, or a zero sum of ``b c / n``.
    """
    check_conf(conf)
    aa, bb, cc, dd = _tables(a, b, c, d)
    n = aa + bb + cc + dd
    used = n >= 2
    if not used.any():
        raise StatsInputError("every stratum has fewer than 2 subjects")
    aa, bb, cc, dd, n = aa[used], bb[used], cc[used], dd[used], n[used]
    r = aa * dd / n
    s = bb * cc / n
    sr, ss = float(r.sum()), float(s.sum())
    if sr == 0 or ss == 0:
        raise AllZeroBaselineError("Mantel–Haenszel odds ratio undefined (Σad/n or Σbc/n is 0)")
    or_mh = sr / ss
    p_ = (aa + dd) / n
    q_ = (bb + cc) / n
    var_log = (
        float(np.sum(p_ * r)) / (2 * sr**2)
        + float(np.sum(p_ * s + q_ * r)) / (2 * sr * ss)
        + float(np.sum(q_ * s)) / (2 * ss**2)
    )
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    se = math.sqrt(var_log)
    # Cochran–Mantel–Haenszel test of OR = 1
    row1, col1 = aa + bb, aa + cc
    ea = row1 * col1 / n
    va = row1 * (n - row1) * col1 * (n - col1) / (n * n * (n - 1))
    dev = abs(float(np.sum(aa - ea)))
    if correct and dev >= 0.5:  # R's Yates step: only when |Δ| >= 0.5
        dev -= 0.5
    stat = dev**2 / float(va.sum())
    p_cmh = float(stats.chi2.sf(stat, 1))
    est = Estimate(
        measure="odds_ratio_mh",
        estimate=or_mh,
        ci_lower=math.exp(math.log(or_mh) - z * se),
        ci_upper=math.exp(math.log(or_mh) + z * se),
        numerator=float(aa.sum()),
        denominator=float(n.sum()),
        p_value=p_cmh,
        conf=conf,
        method="mantel_haenszel_rbg",
    )
    bd, df = _breslow_day_tarone(aa, bb, cc, dd, or_mh)
    hom = Estimate(
        measure="breslow_day_tarone_chi2",
        estimate=bd,
        p_value=float(stats.chi2.sf(bd, df)) if df > 0 else math.nan,
        numerator=float(df),
        method="breslow_day_tarone",
    )
    return est, hom


def _breslow_day_tarone(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, or_mh: float
) -> tuple[float, int]:
    """Breslow–Day χ² with Tarone correction; strata with a zero margin are skipped."""
    stat = 0.0
    diffs = 0.0
    var_sum = 0.0
    k_used = 0
    for ai, bi, ci, di in zip(a, b, c, d, strict=True):
        m1, n1, n0 = ai + ci, ai + bi, ci + di  # cases, exposed, unexposed
        lo, hi = max(0.0, m1 - n0), min(n1, m1)
        if hi <= lo:  # degenerate: the table is fixed by its margins
            continue

        def f(e: float, m1: float = m1, n1: float = n1, n0: float = n0) -> float:
            return e * (n0 - m1 + e) - or_mh * (n1 - e) * (m1 - e)

        e_a = float(optimize.brentq(f, lo, hi, xtol=1e-14))
        v = 1.0 / (1 / e_a + 1 / (n1 - e_a) + 1 / (m1 - e_a) + 1 / (n0 - m1 + e_a))
        stat += (ai - e_a) ** 2 / v
        diffs += ai - e_a
        var_sum += v
        k_used += 1
    if var_sum > 0:
        stat -= diffs**2 / var_sum
    return float(stat), k_used - 1


def mantel_haenszel_rate_ratio(
    events_exposed: Sequence[float],
    person_time_exposed: Sequence[float],
    events_unexposed: Sequence[float],
    person_time_unexposed: Sequence[float],
    *,
    conf: float = 0.95,
) -> tuple[Estimate, Estimate]:
    """Mantel–Haenszel rate ratio across strata with a homogeneity test.

    ``RR_MH = Σ a_k T0_k/T_k / Σ b_k T1_k/T_k`` (``a``, ``b`` events in exposed/unexposed,
    ``T = T1 + T0``); variance of ``ln RR_MH`` by Greenland & Robins (1985)::

        Var = Σ M_k T1_k T0_k / T_k²  /  [(Σ a_k T0_k/T_k)(Σ b_k T1_k/T_k)],  M = a + b

    Homogeneity: conditional score χ² on K−1 df, ``Σ (a_k − E_k)² / V_k`` with
    ``E_k = M_k π_k``, ``V_k = M_k π_k (1−π_k)``, ``π_k = RR·T1/(RR·T1 + T0)`` (Breslow & Day
    1987, §3.4), skipping strata without events. A stratum without person-time in one group
    (0 events there) contributes zero and is left out instead of raising.
    Returns ``(rr_mh, homogeneity)``; ``rr_mh.p_value`` is the MH χ² test of RR = 1
    (no continuity correction).
    """
    check_conf(conf)
    same_length("events_exposed", events_exposed, "events_unexposed", events_unexposed)
    same_length("events_exposed", events_exposed, "person_time_exposed", person_time_exposed)
    same_length("events_exposed", events_exposed, "person_time_unexposed", person_time_unexposed)
    a = as_counts(events_exposed, "events_exposed")
    b = as_counts(events_unexposed, "events_unexposed")
    t1 = as_counts(person_time_exposed, "person_time_exposed", integer=False)
    t0 = as_counts(person_time_unexposed, "person_time_unexposed", integer=False)
    for events, time, name in ((a, t1, "exposed"), (b, t0, "unexposed")):
        bad = (time == 0) & (events > 0)
        if bad.any():
            raise StatsInputError(
                f"events without person-time ({name}) in strata {np.flatnonzero(bad)[:10].tolist()}"
            )
    # A stratum with no person-time in one group (and so no events there) contributes zero to
    # both sums and to the variance: a t1·t0 factor is in every term. Kept out of the
    # homogeneity test too (it carries no information on the ratio).
    informative = (t1 > 0) & (t0 > 0)
    if not informative.any():
        raise StatsInputError("no stratum has person-time in both exposure groups")
    a, b, t1, t0 = a[informative], b[informative], t1[informative], t0[informative]
    t = t1 + t0
    num = float(np.sum(a * t0 / t))
    den = float(np.sum(b * t1 / t))
    if num == 0 or den == 0:
        raise AllZeroBaselineError("MH rate ratio undefined: no events in one exposure group")
    rr = num / den
    m = a + b
    var_log = float(np.sum(m * t1 * t0 / t**2)) / (num * den)
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    se = math.sqrt(var_log)
    # MH test of RR = 1: Σ(a − M T1/T)² / Σ M T1 T0 / T²
    e0 = m * t1 / t
    v0 = m * t1 * t0 / t**2
    chi_mh = float(np.sum(a - e0)) ** 2 / float(v0.sum())
    est = Estimate(
        measure="rate_ratio_mh",
        estimate=rr,
        ci_lower=math.exp(math.log(rr) - z * se),
        ci_upper=math.exp(math.log(rr) + z * se),
        numerator=float(a.sum()),
        denominator=float(b.sum()),
        p_value=float(stats.chi2.sf(chi_mh, 1)),
        conf=conf,
        method="mantel_haenszel_greenland_robins",
    )
    used = m > 0
    pi = rr * t1[used] / (rr * t1[used] + t0[used])
    e = m[used] * pi
    v = m[used] * pi * (1 - pi)
    hom_stat = float(np.sum((a[used] - e) ** 2 / v))
    df = int(used.sum()) - 1
    hom = Estimate(
        measure="rate_ratio_homogeneity_chi2",
        estimate=hom_stat,
        p_value=float(stats.chi2.sf(hom_stat, df)) if df > 0 else math.nan,
        numerator=float(df),
        method="conditional_score",
    )
    return est, hom


def check_strata_labels(left: Sequence[str], right: Sequence[str]) -> None:
    """Raise :class:`MismatchedStrataError` unless two stratum label lists are identical."""
    if list(left) != list(right):
        raise MismatchedStrataError(
            f"strata differ: {sorted(set(left) ^ set(right))[:10]} (order matters)"
        )
