"""Crude and stratum rates, proportions and direct age standardization.

Units: ``person_time`` in person-years (or persons for period prevalence); rates are reported
per ``per`` units (default 100,000 person-years) and the measure name carries that unit,
e.g. ``rate_per_100000``.

References:
    Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;28:437-42.
    Wilson EB. Probable inference... JASA 1927;22:209-12.
    Clopper CJ, Pearson ES. The use of confidence or fiducial limits... Biometrika 1934;26:404-13.
    Fay MP, Feuer EJ. Confidence intervals for directly standardized rates: a method based on
        the gamma distribution. Stat Med 1997;16:791-801.
    Tiwari RC, Clegg LX, Zou Z. Efficient interval estimation for age-adjusted cancer rates.
        Stat Methods Med Res 2006;15:547-69.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from analytics.stats._validate import (
    FloatArray,
    as_count,
    as_counts,
    as_number,
    as_positive,
    check_conf,
    same_length,
)
from analytics.stats.errors import StatsInputError
from analytics.stats.results import Estimate
from analytics.stats.standard_populations import AGE_BANDS, STANDARDS, standard_weights

SMALL_DENOMINATOR = 1.0
"""Person-time (person-years) below which a rate is flagged ``small_denominator``.

A rate on less than one person-year of observation is arithmetic, not an estimate: one event
on 1e-12 person-years is a "rate" of 1e17 per 100,000. The estimate is still returned (the
exact interval is honest about it) but flagged so that no table or chart shows it as a rate
without the warning. Published tables apply the stricter disclosure rules (no rate on a
denominator under 20)."""


def _per_label(per: float) -> str:
    return f"{int(per)}" if float(per).is_integer() else f"{per:g}"


def poisson_exact_interval(count: float, conf: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson mean given an observed ``count``.

    ``lower = G⁻¹(α/2; x)``, ``upper = G⁻¹(1-α/2; x+1)`` with ``G`` the unit-scale gamma
    quantile (equivalently χ²/2); ``lower = 0`` when ``x = 0``. Matches R's
    ``poisson.test(x)$conf.int``. ``count`` must be a whole number (R refuses 2.5 too); anything
    else raises :class:`StatsInputError`.
    """
    check_conf(conf)
    count = as_count(count, "count")
    alpha = 1.0 - conf
    lower = 0.0 if count == 0 else float(stats.gamma.ppf(alpha / 2, count))
    upper = float(stats.gamma.ppf(1 - alpha / 2, count + 1))
    return lower, upper


def crude_rate(
    events: float, person_time: float, *, per: float = 100_000.0, conf: float = 0.95
) -> Estimate:
    """Crude rate ``events / person_time × per`` with an exact Poisson interval.

    Flag ``small_denominator`` when ``person_time`` < :data:`SMALL_DENOMINATOR`.

    Args:
        events: number of events (non-negative integer).
        person_time: person-years at risk (> 0).
        per: multiplier; the measure is ``rate_per_<per>``.
        conf: confidence level.
    """
    x = as_count(events, "events")
    pt = as_number(person_time, "person_time")
    pt = float(as_positive([pt], "person_time")[0])
    as_number(per, "per")
    lo, hi = poisson_exact_interval(x, conf)
    flags: tuple[str, ...] = ("zero_events",) if x == 0 else ()
    if pt < SMALL_DENOMINATOR:
        flags = (*flags, "small_denominator")
    return Estimate(
        measure=f"rate_per_{_per_label(per)}",
        estimate=x / pt * per,
        ci_lower=lo / pt * per,
        ci_upper=hi / pt * per,
        numerator=x,
        denominator=pt,
        flags=flags,
        conf=conf,
        method="exact_poisson_garwood",
    )


def stratum_rates(
    events: Sequence[float],
    person_time: Sequence[float],
    strata: Sequence[str],
    *,
    per: float = 100_000.0,
    conf: float = 0.95,
) -> list[Estimate]:
    """Crude rate with exact interval in each stratum (e.g. age band × sex)."""
    same_length("events", events, "person_time", person_time)
    same_length("events", events, "strata", strata)
    x = as_counts(events, "events")
    pt = as_positive(person_time, "person_time")
    return [
        crude_rate(float(xi), float(pi), per=per, conf=conf).with_stratum(str(s))
        for xi, pi, s in zip(x, pt, strata, strict=True)
    ]


ProportionMethod = Literal["wilson", "clopper_pearson"]


def proportion(
    successes: float, n: float, *, method: ProportionMethod = "wilson", conf: float = 0.95
) -> Estimate:
    """Proportion ``successes / n`` with a Wilson score or Clopper–Pearson interval.

    Wilson (no continuity correction) matches ``epitools::binom.wilson``; Clopper–Pearson
    ("exact") matches ``epitools::binom.exact`` / ``binom.test``.
    """
    check_conf(conf)
    x = as_count(successes, "successes")
    nn = as_count(n, "n")
    if nn == 0:
        raise StatsInputError("n must be positive")
    if x > nn:
        raise StatsInputError(f"successes ({x:g}) exceed n ({nn:g})")
    alpha = 1 - conf
    p = x / nn
    if method == "wilson":
        z = float(stats.norm.ppf(1 - alpha / 2))
        centre = (x + z * z / 2) / (nn + z * z)
        half = z * math.sqrt(nn) / (nn + z * z) * math.sqrt(p * (1 - p) + z * z / (4 * nn))
        lo, hi = centre - half, centre + half
        # exact algebraic limits at the boundaries (avoid ±1e-19 rounding noise)
        if x == 0:
            lo = 0.0
        if x == nn:
            hi = 1.0
    elif method == "clopper_pearson":
        lo = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, nn - x + 1))
        hi = 1.0 if x == nn else float(stats.beta.ppf(1 - alpha / 2, x + 1, nn - x))
    else:
        raise StatsInputError(f"unknown proportion interval method {method!r}")
    return Estimate(
        measure="proportion",
        estimate=p,
        ci_lower=max(0.0, lo),
        ci_upper=min(1.0, hi),
        numerator=x,
        denominator=nn,
        conf=conf,
        method=method,
    )


DsrMethod = Literal["fay_feuer", "tiwari"]


def direct_standardized_rate(
    events: Sequence[float],
    person_time: Sequence[float],
    standard: str | Sequence[float] = "who_world_2000_2025",
    *,
    bands: Sequence[str] = AGE_BANDS,
    per: float = 100_000.0,
    conf: float = 0.95,
    method: DsrMethod = "fay_feuer",
) -> Estimate:
    """Directly age-standardized rate with a gamma interval.

    With stratum counts ``x_i``, person-time ``n_i`` and normalized standard weights ``w_i``::

        y  = Σ w_i x_i / n_i                    (the standardized rate)
        v  = Σ (w_i / n_i)² x_i                 (its Poisson variance)
        wM = max_i w_i / n_i                    (Fay–Feuer)     or
        wM = mean_i w_i / n_i                   (Tiwari et al. 2006 modification)
        lower = G⁻¹(α/2;  shape y²/v,              scale v/y)
        upper = G⁻¹(1-α/2; shape (y+wM)²/(v+wM²), scale (v+wM²)/(y+wM))

    ``lower = 0`` when there are no events. The Fay–Feuer variant reproduces
    ``epitools::ageadjust.direct`` exactly; Tiwari changes only the upper limit.

    Args:
        events: events per age band (in the order of ``bands``).
        person_time: person-years per age band (> 0).
        standard: a standard's name (see :mod:`standard_populations`) or explicit standard
            population numbers per band (any scale; normalized here).
        bands: labels of the age bands (used to look up a named standard).
        per: rate multiplier.
        conf: confidence level.
        method: ``"fay_feuer"`` (default, conservative) or ``"tiwari"``.

    An empty age band (0 events on 0 person-time) contributes zero to the rate and its
    variance and is flagged (``empty_bands=k``): the standard's weight of that band is kept, so
    the rate is the standardized rate with that band's rate taken as 0 (compare
    ``partial_age_range`` in the suite, which drops a band and renormalizes instead).

    Raises:
        MismatchedStrataError: lengths or band labels disagree.
        StatsInputError: events on zero person-time, zero person-time everywhere, bad weights.
    """
    check_conf(conf)
    moments = _dsr_moments(events, person_time, standard, bands, method)
    lower, upper = _dsr_limits([moments], conf)
    return _dsr_estimate(moments, lower[0], upper[0], per=per, conf=conf, method=method)


@dataclass(frozen=True)
class _DsrMoments:
    x: FloatArray
    n: FloatArray
    y: float
    v: float
    wm: float
    std_name: str
    empty: int


def _dsr_moments(
    events: Sequence[float],
    person_time: Sequence[float],
    standard: str | Sequence[float],
    bands: Sequence[str],
    method: str,
) -> _DsrMoments:
    """The checks of direct_standardized_rate and the rate, its variance and ``w_M``."""
    same_length("events", events, "person_time", person_time)
    x = as_counts(events, "events")
    n = as_counts(person_time, "person_time", integer=False)
    impossible = (n == 0) & (x > 0)
    if impossible.any():
        raise StatsInputError(
            "events without person-time in age bands "
            f"{[list(bands)[i] if len(bands) == len(n) else i for i in np.flatnonzero(impossible)]}"
        )
    empty = n == 0
    if empty.all():
        raise StatsInputError("person_time is zero in every age band")
    if isinstance(standard, str):
        same_length("events", events, "bands", bands)
        w = standard_weights(standard, tuple(bands))
        std_name = standard
    else:
        same_length("events", events, "standard", standard)
        raw = as_counts(standard, "standard", integer=False)
        if raw.sum() <= 0:
            raise StatsInputError("standard population must have a positive total")
        w = raw / raw.sum()
        std_name = "custom"
    # An empty band (no events, no person-time) contributes zero to y and v (its rate is taken
    # as 0, as epitools does with 0/0 → NaN removed) and is left out of wM.
    per_person = np.divide(w, n, out=np.zeros_like(w), where=~empty)
    y = float(np.sum(per_person * x))
    v = float(np.sum(per_person**2 * x))
    if method == "fay_feuer":
        wm = float(per_person[~empty].max())
    elif method == "tiwari":
        wm = float(per_person[~empty].mean())
    else:
        raise StatsInputError(f"unknown standardization interval method {method!r}")
    return _DsrMoments(x, n, y, v, wm, std_name, int(empty.sum()))


def _dsr_limits(moments: Sequence[_DsrMoments], conf: float) -> tuple[FloatArray, FloatArray]:
    """The gamma limits of many standardized rates, each quantile function called once."""
    alpha = 1 - conf
    some = [m for m in moments if m.y != 0]
    lower = np.zeros(len(moments))
    # no events: the gamma shape y²/v is undefined and the lower limit is 0 (as epitools)
    if some:
        lower[[i for i, m in enumerate(moments) if m.y != 0]] = stats.gamma.ppf(
            alpha / 2, [m.y * m.y / m.v for m in some], scale=[m.v / m.y for m in some]
        )
    upper = stats.gamma.ppf(
        1 - alpha / 2,
        [(m.y + m.wm) ** 2 / (m.v + m.wm * m.wm) for m in moments],
        scale=[(m.v + m.wm * m.wm) / (m.y + m.wm) for m in moments],
    )
    return lower, np.asarray(upper, dtype=np.float64).reshape(len(moments))


def _dsr_estimate(
    m: _DsrMoments, lower: float, upper: float, *, per: float, conf: float, method: str
) -> Estimate:
    flags = ["standard=" + m.std_name]
    if m.y == 0:
        flags.append("zero_events")
    if m.empty:
        flags.append(f"empty_bands={m.empty}")
    return Estimate(
        measure=f"age_standardized_rate_per_{_per_label(per)}",
        estimate=m.y * per,
        ci_lower=float(lower) * per,
        ci_upper=float(upper) * per,
        numerator=float(m.x.sum()),
        denominator=float(m.n.sum()),
        flags=tuple(flags),
        conf=conf,
        method=method,
    )


def direct_standardized_rates(
    strata: Sequence[tuple[Sequence[float], Sequence[float], Sequence[str]]],
    standard: str,
    *,
    per: float = 100_000.0,
    conf: float = 0.95,
    method: DsrMethod = "fay_feuer",
) -> list[Estimate]:
    """:func:`direct_standardized_rate` of many populations, each given as ``(events,
    person_time, bands)``: the same estimates, the gamma quantiles computed in one call.

    Raises:
        StatsInputError: as direct_standardized_rate, for the first population that is unfit.
    """
    check_conf(conf)
    moments = [_dsr_moments(x, n, standard, bands, method) for x, n, bands in strata]
    if not moments:
        return []
    lower, upper = _dsr_limits(moments, conf)
    return [
        _dsr_estimate(m, lo, hi, per=per, conf=conf, method=method)
        for m, lo, hi in zip(moments, lower, upper, strict=True)
    ]


@dataclass(frozen=True)
class RateArrays:
    """Many rates at once, one entry per population, as arrays (the fields of Estimate).

    ``flags`` holds each population's flags (a tuple, possibly empty)."""

    measure: str
    method: str
    estimate: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    numerator: FloatArray
    denominator: FloatArray
    flags: list[tuple[str, ...]]


def crude_rate_arrays(
    events: Sequence[float] | FloatArray,
    person_time: Sequence[float] | FloatArray,
    *,
    per: float = 100_000.0,
    conf: float = 0.95,
) -> RateArrays:
    """:func:`crude_rate` of many strata as arrays, the gamma quantiles computed in one call
    per limit (the same numbers as crude_rate, bit for bit)."""
    check_conf(conf)
    same_length("events", events, "person_time", person_time)
    x = as_counts(events, "events")
    pt = as_positive(person_time, "person_time")
    as_number(per, "per")
    alpha = 1.0 - conf
    lower = np.zeros(len(x))
    some = x > 0
    if some.any():
        lower[some] = stats.gamma.ppf(alpha / 2, x[some])
    upper = np.asarray(stats.gamma.ppf(1 - alpha / 2, x + 1), dtype=np.float64).reshape(len(x))
    zero, small = (x == 0).tolist(), (pt < SMALL_DENOMINATOR).tolist()
    flag_sets: dict[tuple[bool, bool], tuple[str, ...]] = {
        (z, s): (("zero_events",) if z else ()) + (("small_denominator",) if s else ())
        for z in (False, True)
        for s in (False, True)
    }
    return RateArrays(
        measure=f"rate_per_{_per_label(per)}",
        method="exact_poisson_garwood",
        estimate=x / pt * per,
        ci_lower=lower / pt * per,
        ci_upper=upper / pt * per,
        numerator=x,
        denominator=pt,
        flags=[flag_sets[z, s] for z, s in zip(zero, small, strict=True)],
    )


def crude_rates(
    events: Sequence[float] | FloatArray,
    person_time: Sequence[float] | FloatArray,
    *,
    per: float = 100_000.0,
    conf: float = 0.95,
) -> list[Estimate]:
    """:func:`crude_rate` of many strata: the same estimates, the gamma quantiles computed in
    one call per limit."""
    r = crude_rate_arrays(events, person_time, per=per, conf=conf)
    columns = (r.estimate, r.ci_lower, r.ci_upper, r.numerator, r.denominator)
    return [
        Estimate(
            measure=r.measure,
            estimate=est,
            ci_lower=lo,
            ci_upper=hi,
            numerator=xi,
            denominator=pti,
            flags=flags,
            conf=conf,
            method=r.method,
        )
        for (est, lo, hi, xi, pti), flags in zip(
            zip(*(c.tolist() for c in columns), strict=True), r.flags, strict=True
        )
    ]


def direct_standardized_rate_arrays(
    events: FloatArray,
    person_time: FloatArray,
    standard: str,
    bands: Sequence[str] = AGE_BANDS,
    *,
    per: float = 100_000.0,
    conf: float = 0.95,
) -> tuple[RateArrays, np.ndarray]:
    """Fay–Feuer :func:`direct_standardized_rate` of many populations given as
    ``(populations, bands)`` arrays, each over *the bands where it has person-time* (the
    standard renormalized over those bands, as when only those bands are passed): the same
    numbers, bit for bit, as direct_standardized_rates on each population's present bands.

    Returns the rates and, per population, whether every band had person-time.

    Raises:
        StatsInputError: events without person-time, a population without person-time, or
            counts that are negative or not whole.
    """
    check_conf(conf)
    x = np.asarray(events, dtype=np.float64)
    n = np.asarray(person_time, dtype=np.float64)
    if x.ndim != 2 or x.shape != n.shape or x.shape[1] != len(bands):
        raise StatsInputError(
            f"events and person_time must be (populations, {len(bands)}) arrays, got "
            f"{x.shape} and {n.shape}"
        )
    if x.size:
        as_counts(x.reshape(-1), "events")
        as_counts(n.reshape(-1), "person_time", integer=False)
    present = n > 0
    if ((~present) & (x > 0)).any():
        raise StatsInputError("events without person-time in some age bands")
    if len(x) and not present.any(axis=1).all():
        raise StatsInputError("person_time is zero in every age band")
    standard_weights(standard, tuple(bands))  # checks the standard's name and the bands
    table = np.array([STANDARDS[standard][b] for b in bands], dtype=np.float64)
    y, v, wm, numerator, denominator = (np.zeros(len(x)) for _ in range(5))
    # One pass per pattern of present bands: the same per-band arithmetic and the same
    # summation (a row reduced over its present bands) as the one-population function.
    patterns, which = np.unique(present, axis=0, return_inverse=True)
    which = which.reshape(-1)
    for k, pattern in enumerate(patterns):
        rows = np.flatnonzero(which == k)
        columns = np.flatnonzero(pattern)
        raw = table[columns]
        w = raw / raw.sum()
        xs = np.ascontiguousarray(x[np.ix_(rows, columns)])
        per_person = w / n[np.ix_(rows, columns)]
        y[rows] = np.sum(per_person * xs, axis=1)
        v[rows] = np.sum(per_person**2 * xs, axis=1)
        wm[rows] = per_person.max(axis=1)
        numerator[rows] = xs.sum(axis=1)
        denominator[rows] = n[np.ix_(rows, columns)].sum(axis=1)
    alpha = 1 - conf
    lower = np.zeros(len(x))
    some = y != 0
    if some.any():
        lower[some] = stats.gamma.ppf(
            alpha / 2, y[some] * y[some] / v[some], scale=v[some] / y[some]
        )
    # the square as Python's float ** 2 takes it (C pow, which can differ from x * x by an ulp)
    squared = np.array([t**2 for t in (y + wm).tolist()], dtype=np.float64)
    shape, scale = squared / (v + wm * wm), (v + wm * wm) / (y + wm)
    upper = np.asarray(stats.gamma.ppf(1 - alpha / 2, shape, scale=scale), dtype=np.float64)
    upper = upper.reshape(len(x))
    name: tuple[str, ...] = ("standard=" + standard,)
    flags: list[tuple[str, ...]] = [
        (*name, "zero_events") if zero else name for zero in (y == 0).tolist()
    ]
    rates = RateArrays(
        measure=f"age_standardized_rate_per_{_per_label(per)}",
        method="fay_feuer",
        estimate=y * per,
        ci_lower=lower * per,
        ci_upper=upper * per,
        numerator=numerator,
        denominator=denominator,
        flags=flags,
    )
    return rates, np.asarray(present.all(axis=1), dtype=bool)
