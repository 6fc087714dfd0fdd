"""Aberration (outbreak) detection on weekly or daily counts.

Methods, each reproducing an R reference implementation in ``surveillance`` 1.20.3:

* :func:`ears` — CDC EARS C1, C2, C3 (Hutwagner et al. 2003), as ``surveillance::earsC``.
* :func:`farrington_flexible` — Farrington et al. (1996) with the Noufaily et al. (2013)
  improvements, as ``surveillance::farringtonFlexible`` (index-based time, ``epochAsDate =
  FALSE``).
* :func:`cusum` — Poisson CUSUM on standardized counts (Rossi et al. 1999), as
  ``surveillance::algo.cusum``.
* :func:`detect_aberrations` — the documented default: choose the method by history length.

Every function returns an :class:`AberrationResult` with, for each monitored time point, the
observed count, expected count, upper bound, alarm, a score and (where defined) a p-value.

Where R has a defect we offer ``r_compatible=True`` to reproduce R and default to the
corrected method (see docs/methods.md, "Known differences from R"):

* ``earsC`` C3: R's upper bound omits the current week's term, so the alarm ignores the current
  count; we compute the C3 statistic ``Σ_{i=0..2} max(0, C2_{t-i} − 1)`` as published.
* ``farringtonFlexible``: R passes ``dispersion = phi`` *inside* ``newdata`` to
  ``predict.glm``, so the prediction standard error uses the raw (possibly < 1) dispersion
  instead of ``phi = max(1, dispersion)``; and for ``nbPlugin``/``muan`` the score compares the
  count with the log-scale prediction. We use ``phi`` and the response-scale mean.

References:
    Hutwagner L, Thompson W, Seeman GM, Treadwell T. The bioterrorism preparedness and response
        Early Aberration Reporting System (EARS). J Urban Health 2003;80(Suppl 1):i89-96.
    Farrington CP, Andrews NJ, Beale AD, Catchpole MA. A statistical algorithm for the early
        detection of outbreaks of infectious disease. JRSS A 1996;159:547-63.
    Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A. An improved
        algorithm for outbreak detection in multiple surveillance systems. Stat Med
        2013;32:1206-22.
    Rossi G, Lampugnani L, Marchi M. An approximate CUSUM procedure for surveillance of health
        events. Stat Med 1999;18:2111-22.
    Salmon M, Schumacher D, Höhle M. Monitoring count time series in R: aberration detection in
        public health surveillance. J Stat Softw 2016;70(10).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from analytics.stats._validate import FloatArray, as_counts, as_number, as_positive, as_window
from analytics.stats.errors import AllZeroBaselineError, ShortHistoryError, StatsInputError
from analytics.stats.results import ROW_COLUMNS

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ALARM = "alarm"
NO_ALARM = "no_alarm"
UNDETERMINED = "undetermined"
"""Decision of a monitored point: an undetermined point must never be shown as "no alarm"."""

ZERO_VARIANCE = "zero_variance_baseline"


@dataclass(frozen=True)
class AberrationResult:
    """Per-time-point output of an aberration-detection method.

    All arrays have one element per *monitored* time point, in time order.

    Attributes:
        method: e.g. ``"ears_c2"``, ``"farrington_flexible"``, ``"cusum"``.
        time_index: 0-based positions of the monitored points in the input series.
        observed: observed counts.
        expected: expected count under "no outbreak" (NaN where not computed).
        upper_bound: alarm threshold on the count scale (alarm when ``observed > upper_bound``
            except where documented); NaN where not computed.
        alarm: True where the method signals.
        score: method-specific statistic (EARS C-statistic, Farrington exceedance score
            ``(y − μ)/(U − μ)``, CUSUM value).
        p_value: upper-tail probability of the count under the baseline model (NaN if the
            method has none).
        flags: per-point remarks (``"insufficient_cases"``, ``"all_zero_baseline"``,
            ``"no_convergence"``, ``"trend"``, ``"zero_variance_baseline"``), ``";"``-joined.
        parameters: the parameters used, for audit.
        status: per point ``"alarm"``, ``"no_alarm"`` or ``"undetermined"`` (the method cannot
            decide, e.g. EARS C3 on a zero-variance baseline where R reports NA). An
            undetermined point has ``alarm = False`` but must be shown, never read as "no
            alarm". Derived from ``alarm`` when not given.
    """

    method: str
    time_index: IntArray
    observed: FloatArray
    expected: FloatArray
    upper_bound: FloatArray
    alarm: BoolArray
    score: FloatArray
    p_value: FloatArray
    flags: tuple[str, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    status: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.status:
            derived = tuple(ALARM if a else NO_ALARM for a in self.alarm)
            object.__setattr__(self, "status", derived)
        elif len(self.status) != len(self.alarm):
            raise StatsInputError("status must give one value per monitored point")

    @property
    def undetermined(self) -> BoolArray:
        """True where the method could not decide (see :attr:`status`)."""
        return np.array([s == UNDETERMINED for s in self.status], dtype=bool)

    def to_frame(self) -> pd.DataFrame:
        """One row per monitored time point."""
        return pd.DataFrame(
            {
                "time_index": self.time_index,
                "observed": self.observed,
                "expected": self.expected,
                "upper_bound": self.upper_bound,
                "alarm": self.alarm,
                "score": self.score,
                "p_value": self.p_value,
                "flags": list(self.flags),
                "status": list(self.status),
            }
        )

    def to_rows(
        self,
        *,
        periods: Sequence[str] | None = None,
        analysis: str = "",
        outcome: str = "",
        area_code: str = "",
    ) -> pd.DataFrame:
        """Tidy result rows: measure ``expected_count`` (``ci_upper`` = upper bound,
        ``numerator`` = observed, flag ``alarm``) per time point; ``periods`` labels the points
        (e.g. ISO weeks ``"2024-W07"``), defaulting to the time index."""
        labels = (
            [str(p) for p in periods] if periods is not None else [str(i) for i in self.time_index]
        )
        if len(labels) != len(self.time_index):
            raise StatsInputError("periods must label every monitored time point")
        rows = []
        for i, label in enumerate(labels):
            flags = [f for f in self.flags[i].split(";") if f]
            if self.alarm[i]:
                flags.insert(0, "alarm")
            elif self.status[i] == UNDETERMINED:
                flags.insert(0, UNDETERMINED)
            flags.append(f"method={self.method}")
            rows.append(
                {
                    "analysis": analysis,
                    "outcome": outcome,
                    "area_code": area_code,
                    "period": label,
                    "stratum": "",
                    "measure": "expected_count",
                    "estimate": _none(self.expected[i]),
                    "ci_lower": None,
                    "ci_upper": _none(self.upper_bound[i]),
                    "numerator": _none(self.observed[i]),
                    "denominator": None,
                    "p_value": _none(self.p_value[i]),
                    "flags": ";".join(flags),
                }
            )
        return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def _none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _validate_series(counts: Sequence[float] | FloatArray) -> FloatArray:
    x = as_counts(counts, "counts")
    if x.sum() == 0:
        raise AllZeroBaselineError(
            "the series is all zero: no baseline can be estimated and no alarm is possible"
        )
    return x


# --------------------------------------------------------------------------------------------
# EARS
# --------------------------------------------------------------------------------------------

EarsMethod = Literal["C1", "C2", "C3"]


def ears(
    counts: Sequence[float] | FloatArray,
    *,
    method: EarsMethod = "C1",
    baseline: int = 7,
    min_sigma: float = 0.0,
    alpha: float | None = None,
    r_compatible: bool = False,
) -> AberrationResult:
    """CDC EARS C1/C2/C3 on a count series.

    For time ``t`` the reference values are the ``baseline`` points immediately before ``t``
    (C1) or before ``t − 2`` (C2, C3: a 2-point guard band). With their mean ``m`` and standard
    deviation ``s`` (n − 1 denominator, floored at ``min_sigma``):

    * C1/C2 statistic ``(y_t − m)/s``, upper bound ``m + z_{1−α} s``; alarm when ``y_t > U``.
    * C3 statistic ``Σ_{i=0}^{2} max(0, C2_{t−i} − 1)``; alarm when it exceeds ``z_{1−α}``; the
      upper bound is the count at which it would equal ``z_{1−α}``:
      ``max(0, m + s (1 + z − Σ_{i=1}^{2} max(0, C2_{t−i} − 1)))``.
      With ``r_compatible=True`` the R 1.20.3 bound ``y_t + s (z − Σ_{i=1}^{2} …)`` and its
      alarm ``y_t > U`` are reproduced (they ignore the current week — see docs/methods.md).

    Zero-variance baselines (``s = 0`` after the ``min_sigma`` floor; flag
    ``zero_variance_baseline``): C1/C2 keep R's decision (bound = baseline mean, any count above
    it alarms). In C3 a C2 term with ``s = 0`` and a count above the mean is undefined (R: NA);
    the point's ``status`` is then ``"undetermined"`` (``alarm`` False, bound NaN) unless its
    defined terms alone exceed ``z``. ``min_sigma`` defaults to 0 as ``surveillance::earsC``'s
    ``minSigma``: a floor is a judgement on the count scale that the caller makes explicitly.

    Monitoring starts at the first point with a full history: 0-based index ``baseline`` (C1),
    ``baseline + 2`` (C2) or ``baseline + 4`` (C3). Defaults as ``surveillance::earsC``:
    ``baseline = 7``, ``alpha = 0.001`` (C1, C2) or ``0.025`` (C3).

    Raises:
        ShortHistoryError: fewer points than ``baseline + 1/3/5``.
    """
    baseline = as_window(baseline, "baseline", minimum=3)
    min_sigma = as_number(min_sigma, "min_sigma")
    if alpha is not None and not 0 < as_number(alpha, "alpha") < 1:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    if min_sigma < 0:
        raise StatsInputError("min_sigma must be non-negative")
    if method not in ("C1", "C2", "C3"):
        raise StatsInputError(f"unknown EARS method {method!r}")
    x = as_counts(counts, "counts")
    lag = 0 if method == "C1" else 2
    first = baseline + lag + (2 if method == "C3" else 0)
    if len(x) < first + 1:
        raise ShortHistoryError(f"EARS {method} with baseline {baseline}", first + 1, len(x))
    a = alpha if alpha is not None else (0.025 if method == "C3" else 0.001)
    z = float(stats.norm.ppf(1 - a))

    def window_stats(t: IntArray) -> tuple[FloatArray, FloatArray]:
        idx = t[:, None] - lag - np.arange(baseline, 0, -1)[None, :]
        ref = x[idx]
        return ref.mean(axis=1), np.maximum(ref.std(axis=1, ddof=1), min_sigma)

    t_mon = np.arange(first, len(x), dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method in ("C1", "C2"):
            m, s = window_stats(t_mon)
            ub = m + z * s
            score = (x[t_mon] - m) / s
            # With s = 0 the bound is the baseline mean and any count above it alarms (as R);
            # the decision is defined, only flagged.
            alarm = x[t_mon] > ub
            flat = s == 0
            status = np.where(alarm, ALARM, NO_ALARM)
        else:
            t_c2 = np.arange(first - 2, len(x), dtype=np.int64)
            m2, s2 = window_stats(t_c2)
            c2 = (x[t_c2] - m2) / s2
            # A C2 value on a zero-variance baseline is undefined when the count exceeds the
            # mean (x/0); a count at or below the mean cannot contribute (max(0, C2 − 1) = 0
            # for any finite s), so it is 0, not NaN.
            undefined = (s2 == 0) & (x[t_c2] > m2)
            part = np.where(undefined, np.nan, np.maximum(0.0, np.nan_to_num(c2, nan=0.0) - 1.0))
            part = np.where((s2 == 0) & ~undefined, 0.0, part)
            known = np.nan_to_num(part, nan=0.0)
            lags = part[:-2] + part[1:-1]
            m, s = m2[2:], s2[2:]
            score = lags + part[2:]
            known_score = known[:-2] + known[1:-1] + known[2:]
            unknown = np.isnan(score)
            flat = (s2[:-2] == 0) | (s2[1:-1] == 0) | (s == 0)
            if r_compatible:
                ub = np.maximum(0.0, x[t_mon] + s * (z - lags))
                alarm = x[t_mon] > ub
            else:
                ub = np.maximum(0.0, m + s * (1.0 + z - lags))
                alarm = score > z
            # C3 sums non-negative terms: already above z on its defined terms is an alarm
            # whatever the undefined ones are; otherwise an undefined term leaves it open.
            alarm = np.where(unknown, known_score > z, alarm)
            status = np.where(alarm, ALARM, np.where(unknown, UNDETERMINED, NO_ALARM))
    flags = tuple(ZERO_VARIANCE if f else "" for f in flat)
    return AberrationResult(
        method=f"ears_{method.lower()}",
        time_index=t_mon,
        observed=x[t_mon],
        expected=m,
        upper_bound=ub,
        alarm=np.asarray(alarm, dtype=bool),
        score=score,
        p_value=np.full(len(t_mon), np.nan),
        flags=flags,
        parameters={
            "baseline": baseline,
            "alpha": a,
            "min_sigma": min_sigma,
            "r_compatible": r_compatible,
        },
        status=tuple(str(v) for v in status),
    )


# --------------------------------------------------------------------------------------------
# CUSUM
# --------------------------------------------------------------------------------------------

CusumTransform = Literal["standard", "rossi", "anscombe"]


def cusum(
    counts: Sequence[float] | FloatArray,
    *,
    start: int,
    k: float = 1.04,
    h: float = 2.26,
    m: float | None = None,
    trans: CusumTransform = "standard",
) -> AberrationResult:
    """One-sided Poisson CUSUM on standardized counts, as ``surveillance::algo.cusum``.

    With in-control mean ``m`` (default: the mean of all counts before ``start``) and a
    standardized count ``z_t`` (``standard``: ``(y − m)/√m``; ``rossi``:
    ``(y − 3m + 2√(y m))/(2√m)``; ``anscombe``: ``3/2 (y^{2/3} − m^{2/3})/m^{1/6}``)::

        S_0 = 0,  S_t = max(0, S_{t−1} + z_t − k),  alarm when S_t ≥ h

    The upper bound is the count that would make ``S_t = h`` (``standard``:
    ``ceil(√m (h + k − S_{t−1}) + m)``). No reset after an alarm (as in R), so consecutive alarms
    continue until the sum falls below ``h``. Defaults ``k = 1.04``, ``h = 2.26`` (R defaults).

    Args:
        counts: the whole series (history + monitored part).
        start: 0-based index of the first monitored point (needs ``start ≥ 1``).
    """
    x = as_counts(counts, "counts")
    start = as_window(start, "start", minimum=0)
    k, h = as_number(k, "k"), as_number(h, "h")
    if start < 1:
        raise ShortHistoryError("CUSUM (history before the first monitored point)", 2, len(x))
    if start >= len(x):
        raise ShortHistoryError("CUSUM (history plus one monitored point)", start + 1, len(x))
    if m is not None:
        m = as_number(m, "m")
    if m is None:
        m = float(x[:start].mean())
    if m <= 0:
        raise AllZeroBaselineError("CUSUM in-control mean is zero (all-zero history)")
    y = x[start:]
    if trans == "standard":
        zt = (y - m) / math.sqrt(m)
    elif trans == "rossi":
        zt = (y - 3 * m + 2 * np.sqrt(y * m)) / (2 * math.sqrt(m))
    elif trans == "anscombe":
        zt = 1.5 * (y ** (2 / 3) - m ** (2 / 3)) / m ** (1 / 6)
    else:
        raise StatsInputError(f"unknown CUSUM transformation {trans!r}")
    s = np.zeros(len(y) + 1)
    for t in range(len(y)):
        s[t + 1] = max(0.0, s[t] + zt[t] - k)
    prev = s[:-1]
    s = s[1:]
    if trans == "standard":
        ub = np.ceil(math.sqrt(m) * (h + k - prev) + m)
    elif trans == "rossi":
        inner = 4 * m**2 + 2 * m**1.5 * h + 2 * m**1.5 * k - 2 * m**1.5 * prev
        with np.errstate(invalid="ignore"):
            ub = 2 * h * m**0.5 + 2 * k * m**0.5 - 2 * prev * m**0.5 + 5 * m - 2 * np.sqrt(inner)
    else:
        base = (2 / 3) * m ** (1 / 6) * (h + k - prev) + m ** (2 / 3)
        ub = np.where(base < 0, 0.0, np.abs(base) ** 1.5)
    ub = np.where(np.isnan(ub) | (ub < 0), 0.0, ub)
    t_idx = np.arange(start, len(x), dtype=np.int64)
    return AberrationResult(
        method=f"cusum_{trans}",
        time_index=t_idx,
        observed=y,
        expected=np.full(len(y), m),
        upper_bound=ub,
        alarm=s >= h,
        score=s,
        p_value=np.full(len(y), np.nan),
        flags=tuple("" for _ in y),
        parameters={"k": k, "h": h, "m": m, "trans": trans},
    )


# --------------------------------------------------------------------------------------------
# GLR Poisson CUSUM
# --------------------------------------------------------------------------------------------


def _glr_terms(sum_x: FloatArray, sum_mu: FloatArray) -> FloatArray:
    """Log-likelihood ratio of a rise ``μ = μ0·e^κ`` over each candidate window, with κ at its
    maximum-likelihood value restricted to κ ≥ 0: ``κ̂ = max(0, log(Σx/Σμ0))``,
    ``LR = κ̂ Σx + (1 − e^κ̂) Σμ0`` (0 when Σx ≤ Σμ0)."""
    with np.errstate(divide="ignore"):
        kappa = np.maximum(0.0, np.log(sum_x / sum_mu))
    return np.asarray(kappa * sum_x + (1.0 - np.exp(kappa)) * sum_mu)


def _glr_at(x: FloatArray, mu: FloatArray, n: int, window: int | None, mtilde: int) -> float:
    """GLR statistic at ``n`` (0-based in the current segment): the maximum over change
    points ``k`` of the windows ``k..n``: every ``k ≤ n`` without a window; with ``window = M``
    the change points ``max(0, n − M) ≤ k ≤ n − Mtilde`` (at least ``Mtilde + 1`` points), as
    R's ``glr_cusum_window``. No candidate: −inf."""
    if window is None:
        lo, hi = 0, n
    else:
        lo, hi = max(0, n - window), n - mtilde
    if hi < lo:
        return -math.inf
    # Σ_{t=k}^{n} for k = hi, hi−1, …, lo through reversed cumulative sums
    sx = np.cumsum(x[lo : n + 1][::-1])[n - hi :]
    sm = np.cumsum(mu[lo : n + 1][::-1])[n - hi :]
    return float(_glr_terms(sx, sm).max())


def glr_poisson(
    counts: Sequence[float] | FloatArray,
    mu0: Sequence[float] | FloatArray,
    *,
    c_arl: float = 5.0,
    window: int | None = None,
    mtilde: int = 1,
) -> AberrationResult:
    """GLR-based Poisson CUSUM for a rise in the intercept, as ``surveillance::algo.glrpois``
    (``change = "intercept"``, ``dir = "inc"``, known in-control means ``mu0``).

    Under control ``y_t ~ Po(μ0_t)``; after an unknown change point ``k`` the mean is
    ``μ0_t e^κ`` with unknown ``κ > 0``. The statistic at time ``n`` maximizes the
    log-likelihood ratio over both (Höhle & Paul 2008; Lai 1995)::

        GLR_n = max_k  sup_{κ ≥ 0}  Σ_{t=k}^{n} [κ y_t − (e^κ − 1) μ0_t]

    with the closed form ``κ̂ = max(0, log(Σy/Σμ0))`` for each ``k``. An alarm sounds when
    ``GLR_n ≥ c_arl``; the chart then restarts from the next point (R's reset), so a slow rise
    alarms again while it lasts. ``window = M`` limits the change points to the last ``M``
    (``max(0, n − M) ≤ k ≤ n − mtilde``, R's ``M``, ``Mtilde``); without a window all change
    points since the start or the last alarm count, and the first ``mtilde − 1`` points of a
    segment are burn-in (statistic 0); with a window the first ``mtilde`` points are.

    Returned per point: ``score`` = ``GLR_n`` (R ``ret = "value"``, negative values as 0),
    ``upper_bound`` = the smallest count at ``n`` that would have sounded an alarm given the
    earlier counts (R ``ret = "cases"``), ``expected`` = ``μ0``. It suits slow rises that
    single-week thresholds miss; ``c_arl`` trades the in-control run length against delay
    (R's default 5).

    Raises:
        StatsInputError: ``mu0`` not positive or of another length, ``c_arl`` ≤ 0.
    """
    x = as_counts(counts, "counts")
    mu = as_positive(mu0, "mu0")
    if len(mu) != len(x):
        raise StatsInputError(f"mu0 has {len(mu)} values but counts has {len(x)}")
    c_arl = as_number(c_arl, "c_arl")
    if c_arl <= 0:
        raise StatsInputError(f"c_arl must be positive, got {c_arl}")
    mtilde = as_window(mtilde, "mtilde")
    if window is not None:
        window = as_window(window, "window", minimum=mtilde)
    n_all = len(x)
    value = np.zeros(n_all)
    cases = np.zeros(n_all)
    alarm = np.zeros(n_all, dtype=bool)
    start = 0
    while start < n_all:
        seg_x, seg_mu = x[start:].copy(), mu[start:]
        first = (mtilde - 1) if window is None else mtilde
        stop = len(seg_x)
        for n in range(first, len(seg_x)):
            glr = _glr_at(seg_x, seg_mu, n, window, mtilde)
            value[start + n] = glr
            observed = seg_x[n]
            # smallest count at n reaching c_arl (the GLR does not fall as y_n grows)
            need = 0.0
            seg_x[n] = need
            while _glr_at(seg_x, seg_mu, n, window, mtilde) < c_arl:
                need += 1.0
                seg_x[n] = need
            seg_x[n] = observed
            cases[start + n] = need
            if glr >= c_arl:
                alarm[start + n] = True
                stop = n + 1
                break
        start += stop
    value = np.where(np.isfinite(value) & (value > 0), value, 0.0)
    t_idx = np.arange(n_all, dtype=np.int64)
    return AberrationResult(
        method="glr_poisson",
        time_index=t_idx,
        observed=x,
        expected=mu,
        upper_bound=cases,
        alarm=alarm,
        score=value,
        p_value=np.full(n_all, np.nan),
        flags=tuple("" for _ in t_idx),
        parameters={"c_arl": c_arl, "window": window, "mtilde": mtilde, "direction": "increase"},
    )


# --------------------------------------------------------------------------------------------
# Farrington flexible
# --------------------------------------------------------------------------------------------

ThresholdMethod = Literal["delta", "nbPlugin", "muan"]
PowerTrans = Literal["2/3", "1/2", "none"]


@dataclass
class _GlmFit:
    beta: FloatArray
    cov_unscaled: FloatArray
    mu: FloatArray
    hat: FloatArray
    dispersion: float
    df_resid: int
    converged: bool
    dispersion_r: float = math.nan  # R's post-reweighting dispersion (see _fit_farrington)

    def dispersion_for_inference(self, r_compatible: bool) -> float:
        """Dispersion used by the trend t-test (R's corrupted value in r_compatible mode)."""
        if r_compatible and not math.isnan(self.dispersion_r):
            return self.dispersion_r
        return self.dispersion


def _fit_quasipoisson(
    design: FloatArray,
    y: FloatArray,
    offset: FloatArray,
    prior: FloatArray,
    maxit: int = 25,
    epsilon: float = 1e-8,
) -> _GlmFit:
    """IRLS for a log-link quasi-Poisson GLM, step for step as R's ``glm.fit``.

    Same start (``μ = y + 0.1``), convergence rule (``|Δdev|/(|dev| + 0.1) < 1e-8``, at most 25
    iterations) and bookkeeping: covariance, hat values and the Pearson dispersion use the
    working weights of the last iteration, as ``summary.glm``/``hatvalues`` do.
    """
    mu = y + 0.1
    eta = np.log(mu)

    pos = y > 0
    ylogy = np.zeros_like(y)
    ylogy[pos] = y[pos] * np.log(y[pos])  # hoisted out of the loop: y log y is constant

    def deviance(mu_: FloatArray) -> float:
        return float(2 * np.dot(prior, ylogy - y * np.log(mu_) - (y - mu_)))

    dev_old = deviance(mu)
    converged = False
    w = prior * mu
    xtwx_inv: FloatArray = np.eye(design.shape[1])
    beta: FloatArray = np.zeros(design.shape[1])
    for _ in range(maxit):
        z = eta - offset + (y - mu) / mu
        w = prior * mu
        xw = design * w[:, None]
        xtwx = design.T @ xw
        try:
            xtwx_inv = np.asarray(np.linalg.inv(xtwx), dtype=np.float64)
        except np.linalg.LinAlgError:
            break
        beta = xtwx_inv @ (xw.T @ z)
        eta = design @ beta + offset
        mu = np.exp(eta)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    hat = w * np.einsum("ij,jk,ik->i", design, xtwx_inv, design)
    df = len(y) - design.shape[1]
    resid_working = (y - mu) / mu
    dispersion = float(np.sum(w * resid_working**2) / df) if df > 0 else math.nan
    return _GlmFit(beta, xtwx_inv, mu, hat, dispersion, df, converged)


def _farrington_blocks(k: int, n: int, freq: int, b: int, w: int, p: int) -> FloatArray:
    """Seasonal factor of each time point (NaN = unused), as surveillance's ``blocks``.

    ``k`` is 0-based. Windows of ±w weeks around ``k − i·freq`` (i = 1..b) and the current
    window get level ``p``; with ``p > 1`` the gaps between windows are split into ``p − 1``
    consecutive blocks with levels 1..p−1 (longer blocks first when the gap does not divide).
    """
    fac = np.full(n, np.nan)
    fac[k - w : k + 1] = p
    refs = [k - i * freq for i in range(b + 1)]
    for i in range(1, b + 1):
        ref = refs[i]
        fac[ref - w : ref + w + 1] = p
        if p != 1:
            period = refs[i - 1] - 2 * w - 1 - ref
            if period < p - (2 * w + 1):
                raise StatsInputError("noPeriods is too large for this window width")
            lengths = np.full(p - 1, period // (p - 1))
            lengths[: period % (p - 1)] += 1
            bounds = np.concatenate([[0], np.cumsum(lengths)])
            for j in range(1, p):
                lo = ref + w + 1 + bounds[j - 1]
                hi = ref + w + 1 + bounds[j]
                fac[lo:hi] = j
    return fac


def _design(
    wtime: FloatArray, groups: FloatArray | None, trend: bool, levels: list[float]
) -> FloatArray:
    cols = [np.ones(len(wtime))]
    if trend:
        cols.append(wtime)
    if groups is not None:
        # treatment contrasts against the first level (R's default); predictions do not
        # depend on the parametrization
        cols.extend((groups == lev).astype(float) for lev in levels[1:])
    return np.column_stack(cols)


def _fit_farrington(
    y: FloatArray,
    wtime: FloatArray,
    groups: FloatArray | None,
    offset: FloatArray,
    trend: bool,
    reweight: bool,
    weights_threshold: float,
) -> tuple[_GlmFit, float, list[float]] | None:
    """Fit (and reweight) as ``algo.farrington.fitGLM.flexible``; None if no convergence."""
    levels = sorted(set(groups.tolist())) if groups is not None else []
    design = _design(wtime, groups, trend, levels)
    ones = np.ones(len(y))
    fit = _fit_quasipoisson(design, y, offset, ones)
    if not fit.converged:
        if trend:
            trend = False
            design = _design(wtime, groups, trend, levels)
            fit = _fit_quasipoisson(design, y, offset, ones)
        if not fit.converged:
            return None
    phi = max(fit.dispersion, 1.0)
    if reweight:
        with np.errstate(divide="ignore", invalid="ignore"):
            s = 1.5 * (y ** (2 / 3) * fit.mu ** (-1 / 6) - fit.mu**0.5)
            s = s / np.sqrt(phi * (1 - fit.hat))
        big = s > weights_threshold
        inv_s2 = np.ones_like(s)
        inv_s2[big] = s[big] ** -2.0
        gamma = len(s) / float(np.sum(inv_s2))
        omega = gamma * inv_s2
        fit = _fit_quasipoisson(design, y, offset, omega)
        phi = max(fit.dispersion, 1.0)
        # R then overwrites the model's working weights with omega (``model$weights <- omega``),
        # so later ``summary(model)$dispersion`` calls -- the prediction s.e. and the trend
        # t-test -- use Σ ω r² / (n − p) with working residuals r = (y − μ)/μ. Kept for
        # r_compatible mode only.
        fit.dispersion_r = float(np.sum(omega * ((y - fit.mu) / fit.mu) ** 2) / fit.df_resid)
    return fit, phi, levels


def farrington_flexible(
    counts: Sequence[float] | FloatArray,
    *,
    freq: int = 52,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    alpha: float = 0.05,
    trend: bool = True,
    p_threshold_trend: float = 0.05,
    limit54: tuple[int, int] = (5, 4),
    power_trans: PowerTrans = "2/3",
    population: Sequence[float] | FloatArray | None = None,
    no_periods: int = 1,
    past_weeks_not_included: int | None = None,
    threshold_method: ThresholdMethod = "delta",
    monitor_from: int | None = None,
    r_compatible: bool = False,
) -> AberrationResult:
    """Farrington flexible (Farrington 1996, Noufaily 2013) as ``surveillance::farringtonFlexible``.

    For each monitored week ``t`` a quasi-Poisson log-linear model (optional linear trend, optional
    ``noPeriods``-level seasonal factor, optional ``log(population)`` offset) is fitted to the
    reference data: ``b`` years back, ``±w`` weeks around the same week (all weeks between the
    windows too when ``no_periods > 1``), excluding the last ``past_weeks_not_included`` weeks
    (default ``w``). Then:

    1. dispersion ``φ = max(1, Pearson χ²/(n − p))``;
    2. if ``reweight``: Anscombe residuals ``s_i`` above ``weights_threshold`` get weight
       ``γ s_i⁻²`` (others ``γ``; ``γ`` makes the weights sum to n) and the model is refitted;
    3. the trend is kept only if ``b ≥ 3``, its t-test p < ``p_threshold_trend`` and the
       prediction does not exceed the largest baseline count;
    4. threshold ``U``: ``delta`` — ``(μ₀^e + z_{1−α} √(Var))^{1/e}`` on the ``power_trans``
       scale (e = 2/3 by default, Farrington 1996); ``nbPlugin`` — the 1−α quantile of a
       negative binomial with mean ``μ₀`` and variance ``φ μ₀``; ``muan`` — the same with the
       mean replaced by the upper 1−α limit of ``μ₀`` (Noufaily 2013);
    5. score ``(y − μ₀)/(U − μ₀)``; alarm when score > 1, ``y > 0`` and at least
       ``limit54[0]`` cases in the last ``limit54[1]`` weeks (otherwise no bound is reported).

    ``p_value`` is the upper-tail probability of ``y`` under the fitted model.
    The Noufaily (2013) recommended setting is ``no_periods=10, past_weeks_not_included=26,
    weights_threshold=2.58, threshold_method="nbPlugin"`` (or ``"muan"``), see
    :data:`NOUFAILY_2013`.

    Args:
        counts: counts per week (or day with ``freq=365``), oldest first.
        freq: periods per year (52 weekly, 365 daily, 12 monthly).
        monitor_from: 0-based first monitored index; default ``freq·b + w`` (R's default range).
        r_compatible: reproduce surveillance 1.20.3 exactly, including its defects.

    Raises:
        ShortHistoryError: fewer than ``freq·b + w + 1`` points.
        AllZeroBaselineError: the whole series is zero.

    A monitored week whose reference data are all zero gets ``expected = 0``, ``upper_bound
    = 0`` and flag ``all_zero_baseline`` (R fits a degenerate model and reports a bound near 0:
    the alarm vectors agree).
    """
    if threshold_method not in ("delta", "nbPlugin", "muan"):
        raise StatsInputError(f"unknown threshold method {threshold_method!r}")
    if power_trans not in ("2/3", "1/2", "none"):
        raise StatsInputError(f"unknown power transformation {power_trans!r}")
    freq, b = as_window(freq, "freq", minimum=2), as_window(b, "b", minimum=1)
    w, no_periods = as_window(w, "w", minimum=0), as_window(no_periods, "no_periods")
    alpha = as_number(alpha, "alpha")
    if not 0 < alpha < 1:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    if past_weeks_not_included is not None:
        as_window(past_weeks_not_included, "past_weeks_not_included", minimum=0)
    if monitor_from is not None:
        as_window(monitor_from, "monitor_from", minimum=0)
    if b < 1 or w < 0 or freq < 2 * w + 2 or no_periods < 1:
        raise StatsInputError("need b >= 1, w >= 0, freq > 2w + 1 and no_periods >= 1")
    if not (limit54[0] >= 0 and limit54[1] > 0):
        raise StatsInputError("limit54 must be (cases >= 0, weeks > 0)")
    x = _validate_series(counts)
    n = len(x)
    minimum = freq * b + w + 1
    if n < minimum:
        raise ShortHistoryError(f"Farrington flexible with b={b}, w={w}, freq={freq}", minimum, n)
    pop: FloatArray | None = None
    if population is not None:
        pop = as_positive(population, "population")
        if len(pop) != n:
            raise StatsInputError("population must have one value per time point")
    pwni = w if past_weeks_not_included is None else past_weeks_not_included
    first = minimum - 1 if monitor_from is None else monitor_from
    if first < minimum - 1 or first >= n:
        raise ShortHistoryError(
            f"Farrington flexible with b={b}, w={w}, freq={freq} (monitor_from)", minimum, first + 1
        )
    z = float(stats.norm.ppf(1 - alpha))
    t_mon = np.arange(first, n, dtype=np.int64)
    m = len(t_mon)
    expected = np.full(m, np.nan)
    upper = np.full(m, np.nan)
    alarm = np.zeros(m, dtype=bool)
    score = np.full(m, np.nan)
    pval = np.full(m, np.nan)
    flags: list[str] = []
    for j, k_ in enumerate(t_mon):
        k = int(k_)
        fac = _farrington_blocks(k, n, freq, b, w, no_periods)
        fac[max(0, k - pwni) : k + 1] = np.nan
        idx = np.flatnonzero(~np.isnan(fac))
        y = x[idx]
        enough = float(x[k - limit54[1] + 1 : k + 1].sum()) >= limit54[0]
        if y.sum() == 0:
            # Degenerate reference data: the mean is 0 and any case exceeds it.
            expected[j] = 0.0 if enough else np.nan
            upper[j] = 0.0 if enough else np.nan
            alarm[j] = enough and x[k] > 0
            flags.append("all_zero_baseline" + ("" if enough else ";insufficient_cases"))
            continue
        wtime = (idx + 1).astype(float)  # R uses 1-based time indices
        groups = fac[idx] if no_periods != 1 else None
        offset = np.log(pop[idx]) if pop is not None else np.zeros(len(idx))
        res = _fit_farrington(y, wtime, groups, offset, trend, reweight, weights_threshold)
        if res is None:
            flags.append("no_convergence")
            continue
        fit, phi, levels = res
        has_trend = trend and len(fit.beta) == 1 + 1 + max(0, len(levels) - 1)
        x0 = _design(
            np.array([k + 1.0]),
            np.array([float(no_periods)]) if groups is not None else None,
            has_trend,
            levels,
        )[0]
        off0 = math.log(pop[k]) if pop is not None else 0.0
        did_trend = False
        if has_trend:
            mu_pred = math.exp(float(x0 @ fit.beta) + off0)
            se_b = math.sqrt(fit.cov_unscaled[1, 1] * fit.dispersion_for_inference(r_compatible))
            p_trend = 2 * float(stats.t.sf(abs(fit.beta[1] / se_b), fit.df_resid))
            did_trend = b >= 3 and p_trend < p_threshold_trend and mu_pred <= y.max()
            if not did_trend:
                res = _fit_farrington(y, wtime, groups, offset, False, reweight, weights_threshold)
                if res is None:
                    flags.append("no_convergence")
                    continue
                fit, phi, levels = res
                x0 = _design(
                    np.array([k + 1.0]),
                    np.array([float(no_periods)]) if groups is not None else None,
                    False,
                    levels,
                )[0]
        eta0 = float(x0 @ fit.beta) + off0
        # R bug reproduced under r_compatible: se.fit uses summary()'s dispersion (raw, and
        # after reweighting computed with the wrong weights), not phi = max(1, dispersion).
        disp_se = fit.dispersion_for_inference(True) if r_compatible else phi
        se_eta = math.sqrt(float(x0 @ fit.cov_unscaled @ x0) * disp_se)
        mu0 = math.exp(eta0)
        obs = float(x[k])
        if threshold_method == "delta":
            lo_u, sc, pv = _threshold_delta(mu0, se_eta * mu0, phi, power_trans, z, obs)
        else:
            lo_u, sc, pv = _threshold_noufaily(
                eta0, se_eta, phi, alpha, obs, threshold_method, r_compatible
            )
        score[j] = sc
        pval[j] = pv
        if enough:
            upper[j] = lo_u
            if not math.isnan(lo_u):
                expected[j] = mu0
        alarm[j] = enough and not math.isnan(sc) and sc > 1 and obs != 0
        f = []
        if did_trend:
            f.append("trend")
        if not enough:
            f.append("insufficient_cases")
        flags.append(";".join(f))
    return AberrationResult(
        method="farrington_flexible",
        time_index=t_mon,
        observed=x[t_mon],
        expected=expected,
        upper_bound=upper,
        alarm=alarm,
        score=score,
        p_value=pval,
        flags=tuple(flags),
        parameters={
            "freq": freq,
            "b": b,
            "w": w,
            "reweight": reweight,
            "weights_threshold": weights_threshold,
            "alpha": alpha,
            "trend": trend,
            "p_threshold_trend": p_threshold_trend,
            "limit54": limit54,
            "power_trans": power_trans,
            "population_offset": pop is not None,
            "no_periods": no_periods,
            "past_weeks_not_included": pwni,
            "threshold_method": threshold_method,
            "r_compatible": r_compatible,
        },
    )


def _threshold_delta(
    mu0: float, se_mu: float, phi: float, power_trans: str, z: float, y: float
) -> tuple[float, float, float]:
    """Farrington (1996) upper bound on a power-transformed scale (delta method)."""
    tau = phi + se_mu**2 / mu0
    if power_trans == "none":
        se, e = math.sqrt(mu0 * tau), 1.0
    elif power_trans == "1/2":
        se, e = math.sqrt(0.25 * tau), 0.5
    else:
        se, e = math.sqrt(4 / 9 * mu0 ** (1 / 3) * tau), 2 / 3
    a, c = mu0**e - z * se, mu0**e + z * se
    # R sorts the two candidate limits and takes the larger as the upper bound
    lims = sorted(
        [a ** (1 / e) if a >= 0 or e == 1 else math.nan, c ** (1 / e)],
        key=lambda v: (not math.isnan(v), v),
    )
    u = lims[1]
    p = float(stats.norm.sf(y**e, loc=mu0**e, scale=se))
    sc = (y - mu0) / (u - mu0) if not math.isnan(u) else math.nan
    return u, sc, p


def _threshold_noufaily(
    eta0: float,
    se_eta: float,
    phi: float,
    alpha: float,
    y: float,
    method: str,
    r_compatible: bool,
) -> tuple[float, float, float]:
    """Negative-binomial quantile threshold of Noufaily et al. (2013)."""
    if method == "nbPlugin":
        mu_q = math.exp(eta0)
    else:
        mu_q = math.exp(float(stats.norm.ppf(1 - alpha, loc=eta0, scale=se_eta)))
    if math.isinf(mu_q):
        return math.nan, math.nan, math.nan
    if phi > 1:
        size, prob = mu_q / (phi - 1), 1 / phi
        u = float(stats.nbinom.ppf(1 - alpha, size, prob))
        p = float(stats.nbinom.sf(y - 1, size, prob))
    else:
        u = float(stats.poisson.ppf(1 - alpha, mu_q))
        p = float(stats.poisson.sf(y - 1, mu_q))
    centre = eta0 if r_compatible else math.exp(eta0)
    sc = (y - centre) / (u - centre) if u != centre else math.nan
    return u, sc, p


#: Recommended settings of Noufaily et al. (2013) as keyword arguments.
NOUFAILY_2013: Mapping[str, Any] = {
    "b": 5,
    "w": 3,
    "reweight": True,
    "weights_threshold": 2.58,
    "no_periods": 10,
    "past_weeks_not_included": 26,
    "threshold_method": "nbPlugin",
    "trend": True,
    "alpha": 0.05,
}


# --------------------------------------------------------------------------------------------
# Default method by history length
# --------------------------------------------------------------------------------------------


def default_aberration_method(n_points: int, freq: int = 52) -> str:
    """The documented default method for a history of ``n_points`` at ``freq`` per year.

    * ≥ ``freq·b + 26 + 1`` points with b ≥ 3 years (or more up to 5 years) →
      ``"farrington_flexible"`` with the Noufaily (2013) settings and ``b = min(5, years)``;
    * ≥ 10 points → ``"ears_c2"`` (7-point baseline, 2-point guard band);
    * otherwise :class:`ShortHistoryError` (minimum 10).
    """
    if n_points >= freq * 3 + 26 + 1:
        return "farrington_flexible"
    if n_points >= 10:
        return "ears_c2"
    raise ShortHistoryError("aberration detection (EARS C2)", 10, n_points)


def detect_aberrations(counts: Sequence[float] | FloatArray, *, freq: int = 52) -> AberrationResult:
    """Run :func:`default_aberration_method`'s choice with its documented settings."""
    x = as_counts(counts, "counts")
    method = default_aberration_method(len(x), freq)
    if method == "farrington_flexible":
        years = min(5, (len(x) - 26 - 1) // freq)
        params = dict(NOUFAILY_2013)
        params["b"] = years
        return farrington_flexible(x, freq=freq, **params)
    return ears(x, method="C2")
