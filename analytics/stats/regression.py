"""Regression models for exposure–response: Poisson, negative binomial, logistic, trend tests
and distance decay.

All models are fitted by maximum likelihood with statsmodels; intervals are Wald intervals on
the log scale (R ``confint.default``), so they can be checked against R ``glm``/``MASS::glm.nb``.

Design matrices are built here (not with formulas) so that term labels are stable and readable:
a categorical covariate ``sex`` with reference ``F`` yields the term ``sex=M``; a numeric
covariate keeps its name. Each term becomes one :class:`~analytics.stats.results.Estimate`
(``measure`` = ``rate_ratio`` or ``odds_ratio``, ``stratum`` = term label).

Overdispersion rule (documented in docs/methods.md): fit Poisson first; switch to a negative
binomial (NB2, variance ``μ + μ²/θ``) when the Pearson dispersion ``χ²_P/(n − p)`` exceeds
``1.5`` **and** the likelihood-ratio test of θ = ∞ (boundary, ½χ²₁ mixture) has p < 0.05.

References:
    McCullagh P, Nelder JA. Generalized Linear Models, 2nd ed. Chapman & Hall, 1989.
    Venables WN, Ripley BD. Modern Applied Statistics with S, 4th ed. Springer, 2002 (glm.nb).
    Cameron AC, Trivedi PK. Regression Analysis of Count Data, 2nd ed. CUP, 2013, §3.4 & 5.
    Armitage P. Tests for linear trends in proportions and frequencies. Biometrics 1955;11:375-86.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from analytics.stats._validate import (
    FloatArray,
    as_counts,
    as_float_array,
    as_positive,
    check_conf,
)
from analytics.stats.errors import (
    AllZeroBaselineError,
    EmptyInputError,
    MismatchedStrataError,
    MissingValueError,
    NoOverdispersionError,
    StatsInputError,
)
from analytics.stats.results import Estimate

DISPERSION_THRESHOLD = 1.5
"""Pearson dispersion above which a negative binomial is considered (see module docstring)."""


@dataclass(frozen=True)
class RegressionResult:
    """A fitted model, summarised as one estimate per term.

    Attributes:
        family: ``"poisson"``, ``"negative_binomial"`` or ``"binomial"``.
        estimates: exponentiated coefficients (intercept excluded) with Wald intervals.
        coefficients: raw coefficients on the link scale (intercept included), by term.
        std_errors: their standard errors, by term.
        dispersion: Pearson χ²/(n − p) of the fitted model.
        theta: NB size parameter (``None`` unless negative binomial).
        n: number of rows used; aic and log_likelihood of the fitted model.
        notes: e.g. why the family was chosen.
    """

    family: str
    estimates: list[Estimate]
    coefficients: Mapping[str, float]
    std_errors: Mapping[str, float]
    dispersion: float
    n: int
    aic: float
    log_likelihood: float
    theta: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def estimate(self, term: str) -> Estimate:
        """The estimate for ``term`` (e.g. ``"sex=M"``)."""
        for e in self.estimates:
            if e.stratum == term:
                return e
        raise KeyError(term)


def design_matrix(
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    reference: Mapping[str, Any] | None = None,
) -> tuple[FloatArray, list[str]]:
    """Intercept + covariates; object/categorical/bool-string columns become treatment dummies.

    ``reference`` maps a categorical column to its reference level (default: first level in
    sorted order, or the first category of a pandas Categorical). Booleans are coded 0/1.
    """
    reference = dict(reference or {})
    cols: list[FloatArray] = [np.ones(len(data))]
    names = ["(intercept)"]
    for cov in covariates:
        if cov not in data.columns:
            raise StatsInputError(f"covariate {cov!r} is not a column of the data")
        col = data[cov]
        if col.isna().any():
            raise MissingValueError(f"covariate {cov!r} has missing values")
        if pd.api.types.is_bool_dtype(col.dtype):
            cols.append(col.to_numpy(dtype=np.float64))
            names.append(cov)
        elif not pd.api.types.is_numeric_dtype(col.dtype):  # strings, objects, categoricals
            levels = (
                list(col.cat.categories)
                if isinstance(col.dtype, pd.CategoricalDtype)
                else sorted(col.unique().tolist())
            )
            ref = reference.get(cov, levels[0])
            if ref not in levels:
                raise MismatchedStrataError(f"reference level {ref!r} not found in {cov!r}")
            # compare integer codes, not strings: ~10x faster on a million rows
            codes, uniques = pd.factorize(col)
            code_of = {u: i for i, u in enumerate(uniques)}
            for lev in levels:
                if lev == ref:
                    continue
                cols.append((codes == code_of.get(lev, -2)).astype(np.float64))
                names.append(f"{cov}={lev}")
        else:
            cols.append(as_float_array(col.to_numpy(), cov))
            names.append(cov)
    return np.column_stack(cols), names


def _exp(x: float) -> float:
    """exp that saturates to inf: a degenerate term (no events in a level) has a huge
    coefficient or standard error, which must show as an unbounded interval, not crash."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _wald(
    coefs: FloatArray,
    ses: FloatArray,
    names: list[str],
    pvals: FloatArray,
    measure: str,
    conf: float,
) -> list[Estimate]:
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    out = []
    for b, se, name, p in zip(coefs, ses, names, pvals, strict=True):
        if name == "(intercept)":
            continue
        out.append(
            Estimate(
                measure=measure,
                estimate=_exp(b),
                ci_lower=_exp(b - z * se),
                ci_upper=_exp(b + z * se),
                p_value=float(p),
                stratum=name,
                conf=conf,
                method="wald",
            )
        )
    return out


def _check_rows(data: pd.DataFrame) -> None:
    if len(data) == 0:
        raise EmptyInputError("the data frame has no rows")


Family = Literal["auto", "poisson", "negative_binomial"]


def poisson_regression(
    data: pd.DataFrame,
    *,
    events: str,
    person_time: str,
    covariates: Sequence[str] = (),
    reference: Mapping[str, Any] | None = None,
    family: Family = "auto",
    conf: float = 0.95,
    design: tuple[FloatArray, list[str]] | None = None,
) -> RegressionResult:
    """Log-linear rate model ``log E[y] = log(T) + Xβ``; rate ratios ``exp(β)`` per term.

    Args:
        data: one row per person or per covariate pattern (aggregated rows are equivalent).
        events: column with event counts; person_time: column with person-years (> 0).
        covariates: e.g. ``["age_band", "sex", "smoking", "works_at_site"]``.
        family: ``"poisson"``, ``"negative_binomial"`` or ``"auto"`` (the overdispersion rule).
        design: ``design_matrix(data, covariates, reference=reference)`` when the caller has
            it already (several outcomes fitted on the same rows build it once).

    Raises:
        AllZeroBaselineError: no events at all.
    """
    _check_rows(data)
    y = as_counts(data[events].to_numpy(), events)
    t = as_positive(data[person_time].to_numpy(), person_time)
    if y.sum() == 0:
        raise AllZeroBaselineError("no events: rate ratios cannot be estimated")
    x, names = design or design_matrix(data, covariates, reference=reference)
    if len(x) != len(y):
        raise MismatchedStrataError("the design matrix has another number of rows than data")
    offset = np.log(t)
    n, p = x.shape
    pois = _poisson_fit(y, x, t)
    disp = pois.pearson_chi2 / (n - p) if n > p else math.nan
    notes: list[str] = [f"pearson_dispersion={disp:.4g}"]
    use_nb = family == "negative_binomial"
    theta = None
    if family == "auto" and disp > DISPERSION_THRESHOLD:
        mu = t * np.exp(x @ pois.params)
        try:
            if np.sum((y - mu) ** 2 - y) <= 0:
                # The score for α = 1/θ at the Poisson fit, ½Σ[(y − μ)² − y] (Cameron & Trivedi
                # 2013 §3.4), is not positive: the NB likelihood peaks at θ = ∞ (a large Pearson
                # χ² from a few small expected counts, not overdispersion). statsmodels' NB fit
                # diverges there, so it is not asked.
                raise NoOverdispersionError("negative binomial θ = ∞ (no overdispersion)")
            theta, llf_nb = _nb_theta(y, x, offset)
            lr = 2 * (llf_nb - pois.llf)
        except NoOverdispersionError:
            # the LR statistic is 0 and the rule keeps the Poisson fit (before 2026-12-04 the
            # whole model was refused and the exposure part showed crude ratios only)
            theta, lr = None, 0.0
        p_lr = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
        use_nb = p_lr < 0.05
        notes.append(f"nb_lr_p={p_lr:.4g}")
    if use_nb:
        if theta is None:
            theta, _ = _nb_theta(y, x, offset)
        nb = sm.GLM(
            y, x, family=sm.families.NegativeBinomial(alpha=1.0 / theta), offset=offset
        ).fit()
        disp_nb = float(nb.pearson_chi2 / (n - p)) if n > p else math.nan
        return RegressionResult(
            family="negative_binomial",
            estimates=_wald(nb.params, nb.bse, names, nb.pvalues, "rate_ratio", conf),
            coefficients=dict(zip(names, map(float, nb.params), strict=True)),
            std_errors=dict(zip(names, map(float, nb.bse), strict=True)),
            dispersion=disp_nb,
            n=n,
            aic=float(-2 * nb.llf + 2 * (p + 1)),
            log_likelihood=float(nb.llf),
            theta=theta,
            notes=(*notes, "negative_binomial_chosen" if family == "auto" else "requested"),
        )
    return RegressionResult(
        family="poisson",
        estimates=_wald(pois.params, pois.bse, names, pois.pvalues, "rate_ratio", conf),
        coefficients=dict(zip(names, map(float, pois.params), strict=True)),
        std_errors=dict(zip(names, map(float, pois.bse), strict=True)),
        dispersion=disp,
        n=n,
        aic=pois.aic,
        log_likelihood=pois.llf,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _PoissonFit:
    params: FloatArray
    bse: FloatArray
    pvalues: FloatArray
    llf: float
    aic: float
    pearson_chi2: float


def _poisson_fit(y: FloatArray, x: FloatArray, t: FloatArray) -> _PoissonFit:
    """Poisson GLM with offset log(t); person rows sharing a covariate pattern are collapsed.

    The Poisson log-linear model is collapsible: summing events and person-time within a
    covariate pattern leaves the score equations and the Fisher information unchanged, so
    coefficients and standard errors are identical to the row-level fit while a million person
    rows shrink to a few hundred patterns. Log-likelihood, AIC and the Pearson χ² are then
    evaluated on the original rows, so they equal the row-level fit's too.
    """
    n = len(y)
    collapse = n > 5_000
    if collapse:
        # group identical rows through a random projection (np.unique(axis=0) sorts whole rows
        # and is ~100x slower), then verify the grouping exactly
        proj = x @ np.random.default_rng(0).uniform(1.0, 2.0, x.shape[1])
        codes, _ = pd.factorize(proj)
        inverse = np.asarray(codes, dtype=np.int64)
        first = np.zeros(int(inverse.max()) + 1, dtype=np.int64)
        first[inverse[::-1]] = np.arange(n - 1, -1, -1)
        keys = x[first]
        collapse = len(keys) <= n // 5 and bool(np.array_equal(keys[inverse], x))
    if collapse:
        yg = np.bincount(inverse, weights=y, minlength=len(keys))
        tg = np.bincount(inverse, weights=t, minlength=len(keys))
        fit = sm.GLM(yg, keys, family=sm.families.Poisson(), offset=np.log(tg)).fit()
    else:
        fit = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(t)).fit()
    params = np.asarray(fit.params, dtype=np.float64)
    mu = t * np.exp(x @ params)
    llf = float(np.sum(stats.poisson.logpmf(y, mu)))
    return _PoissonFit(
        params=params,
        bse=np.asarray(fit.bse, dtype=np.float64),
        pvalues=np.asarray(fit.pvalues, dtype=np.float64),
        llf=llf,
        aic=-2 * llf + 2 * x.shape[1],
        pearson_chi2=float(np.sum((y - mu) ** 2 / mu)),
    )


def _nb_theta(y: FloatArray, x: FloatArray, offset: FloatArray) -> tuple[float, float]:
    """ML estimate of the NB2 size θ (as ``MASS::glm.nb``) and the maximised log-likelihood."""
    model = sm.NegativeBinomial(y, x, offset=offset, loglike_method="nb2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; checked below
        res = model.fit(disp=0, maxiter=200, method="bfgs", gtol=1e-10)
        res = model.fit(start_params=res.params, disp=0, maxiter=100, method="newton", tol=1e-12)
    alpha = float(res.params[-1])
    if not (np.isfinite(alpha) and np.isfinite(res.llf)):
        # a fit that failed is not evidence of "no overdispersion": the model is refused
        raise StatsInputError("negative binomial θ not estimable (the fit did not converge)")
    if alpha <= 0:
        raise NoOverdispersionError("negative binomial θ = ∞ (no overdispersion)")
    return 1.0 / alpha, float(res.llf)


def logistic_regression(
    data: pd.DataFrame,
    *,
    outcome: str,
    covariates: Sequence[str] = (),
    reference: Mapping[str, Any] | None = None,
    conf: float = 0.95,
) -> RegressionResult:
    """Logistic regression for a prevalence outcome (0/1 column); odds ratios per term."""
    _check_rows(data)
    y = as_counts(data[outcome].astype(float).to_numpy(), outcome)
    if ((y != 0) & (y != 1)).any():
        raise StatsInputError(f"{outcome!r} must be 0/1")
    if y.sum() == 0 or y.sum() == len(y):
        raise AllZeroBaselineError(f"{outcome!r} has no variation (all 0 or all 1)")
    x, names = design_matrix(data, covariates, reference=reference)
    fit = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    n, p = x.shape
    return RegressionResult(
        family="binomial",
        estimates=_wald(fit.params, fit.bse, names, fit.pvalues, "odds_ratio", conf),
        coefficients=dict(zip(names, map(float, fit.params), strict=True)),
        std_errors=dict(zip(names, map(float, fit.bse), strict=True)),
        dispersion=float(fit.pearson_chi2 / (n - p)) if n > p else math.nan,
        n=n,
        aic=float(fit.aic),
        log_likelihood=float(fit.llf),
    )


TrendTest = Literal["score", "wald"]

_UNBOUNDED_LOG_RR = 50.0
"""|slope| × score range beyond which a score-interval limit is reported as unbounded (a rate
ratio of e⁵⁰ ≈ 5e21 across the categories)."""


def _score_z(b: float, y: FloatArray, t: FloatArray, s: FloatArray) -> float:
    """Signed score statistic of H0: slope = ``b``, the intercept profiled out.

    Under H0 the fitted means are ``μ_j ∝ T_j e^{b s_j}`` scaled to ``Σ μ = Σ y`` (the
    intercept's score equation); ``U = Σ s_j (y_j − μ_j)`` and its variance given the
    intercept is ``I = Σ s_j² μ_j − (Σ s_j μ_j)² / Σ μ_j``; ``z = U/√I``.
    """
    w = np.log(t) + b * s
    w = np.exp(w - w.max())  # scaled softmax: no overflow at large |b|
    mu = y.sum() * w / w.sum()
    u = float(np.sum(s * (y - mu)))
    info = float(np.sum(s * s * mu) - np.sum(s * mu) ** 2 / np.sum(mu))
    if info <= 0:
        return 0.0
    return u / math.sqrt(info)


def _score_limit(y: FloatArray, t: FloatArray, s: FloatArray, target: float) -> float:
    """The slope where the score statistic equals ``target`` (it decreases in the slope);
    ±inf when that needs a rate ratio beyond e⁵⁰ across the score range."""
    span = float(s.max() - s.min())
    limit = _UNBOUNDED_LOG_RR / span

    def f(b: float) -> float:
        return _score_z(b, y, t, s) - target

    if target > 0 and f(-limit) < 0:
        return -math.inf
    if target < 0 and f(limit) > 0:
        return math.inf
    return float(optimize.brentq(f, -limit, limit, xtol=1e-14, rtol=1e-13, maxiter=500))


def trend_test_rates(
    events: Sequence[float],
    person_time: Sequence[float],
    scores: Sequence[float] | None = None,
    *,
    conf: float = 0.95,
    test: TrendTest = "score",
) -> Estimate:
    """Test for a linear trend in log rates across ordered exposure categories.

    Poisson model ``log E[y_j] = log T_j + a + b s_j`` with category scores ``s_j`` (default
    1..K; use category midpoints, e.g. km or µg/m³, for a dose-response slope). The estimate is
    the rate ratio per unit of score ``exp(b̂)`` (measure ``rate_ratio_per_score_unit``).

    * ``test="score"`` (default): the score (Rao) test of ``b = 0``, ``χ² = U²/I`` on 1 df
      with ``U = Σ s_j (y_j − μ̂_j)``, ``I = Σ s_j² μ̂_j − (Σ s_j μ̂_j)²/Σ μ̂_j`` and ``μ̂`` the
      null (no-trend) fit — as R ``anova(glm, test = "Rao")`` and ``statmod::glm.scoretest``.
      The interval inverts the same test (all slopes the score test does not reject). It needs
      only the null fit, so it stays valid on sparse counts where the MLE runs off to infinity:
      events only in the top (or bottom) category give ``exp(b̂) = inf`` (or 0, flag
      ``estimate_unbounded``) and an open upper (lower) limit, with a finite other limit and a
      correct p-value.
    * ``test="wald"``: the Wald test and interval of R ``summary(glm)``, valid in large
      samples; on sparse counts it breaks down (``[0, 0, 5]`` events gives p ≈ 1 and
      ``[0, ∞)``), flagged ``estimate_unbounded`` when the MLE does not exist.
    """
    y = as_counts(events, "events")
    t = as_positive(person_time, "person_time")
    if len(y) != len(t):
        raise MismatchedStrataError("events and person_time differ in length")
    s = np.arange(1.0, len(y) + 1) if scores is None else as_float_array(scores, "scores")
    if len(s) != len(y):
        raise MismatchedStrataError("scores must give one value per category")
    if len(y) < 3:
        raise StatsInputError("a trend test needs at least 3 ordered categories")
    if y.sum() == 0:
        raise AllZeroBaselineError("no events in any category")
    if test not in ("score", "wald"):
        raise StatsInputError(f"unknown trend test {test!r} (score or wald)")
    if np.ptp(s) == 0:
        raise StatsInputError("scores must differ between categories")
    conf = check_conf(conf)
    # The MLE of the slope exists only if the events' mean score lies strictly inside the
    # range of the scores (otherwise the likelihood keeps rising as b → ±∞).
    mean_score = float(np.sum(y * s) / y.sum())
    unbounded = not (s.min() < mean_score < s.max())
    flags: tuple[str, ...] = ("estimate_unbounded",) if unbounded else ()
    if test == "wald" or not unbounded:
        x = np.column_stack([np.ones(len(y)), s])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a diverging MLE is reported through the flag
            fit = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(t)).fit()
    if test == "wald":
        est = _wald(
            fit.params,
            fit.bse,
            ["(intercept)", "trend"],
            fit.pvalues,
            "rate_ratio_per_score_unit",
            conf,
        )[0]
        return replace(
            est,
            numerator=float(y.sum()),
            denominator=float(t.sum()),
            flags=flags,
            method="poisson_glm_wald",
        )
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    chi2 = _score_z(0.0, y, t, s) ** 2
    if unbounded:
        estimate = math.inf if mean_score >= s.max() else 0.0
    else:
        estimate = _exp(float(fit.params[1]))
    return Estimate(
        measure="rate_ratio_per_score_unit",
        estimate=estimate,
        ci_lower=_exp(_score_limit(y, t, s, z)),
        ci_upper=_exp(_score_limit(y, t, s, -z)),
        p_value=float(stats.chi2.sf(chi2, 1)),
        numerator=float(y.sum()),
        denominator=float(t.sum()),
        flags=flags,
        conf=conf,
        method="poisson_score",
    )


def trend_test_proportions(
    cases: Sequence[float], totals: Sequence[float], scores: Sequence[float] | None = None
) -> Estimate:
    """Cochran–Armitage χ² test for trend in proportions (R ``prop.trend.test``).

    ``estimate`` is the χ² statistic on 1 df (measure ``chi2_trend``).
    """
    x = as_counts(cases, "cases")
    n = as_counts(totals, "totals")
    if len(x) != len(n):
        raise MismatchedStrataError("cases and totals differ in length")
    if (x > n).any():
        raise StatsInputError("cases exceed totals")
    if (n == 0).any():
        raise StatsInputError("every category needs at least one subject")
    s = np.arange(1.0, len(x) + 1) if scores is None else as_float_array(scores, "scores")
    if len(s) != len(x):
        raise MismatchedStrataError("scores must give one value per category")
    p = x.sum() / n.sum()
    if p in (0.0, 1.0):
        raise AllZeroBaselineError("no variation in the outcome")
    # weighted regression of the observed proportions on the scores (as prop.trend.test)
    w = n / (p * (1 - p))
    sbar = float(np.sum(w * s) / np.sum(w))
    b = float(np.sum(w * (s - sbar) * (x / n - p)) / np.sum(w * (s - sbar) ** 2))
    chi = b**2 * float(np.sum(w * (s - sbar) ** 2))
    return Estimate(
        measure="chi2_trend",
        estimate=chi,
        p_value=float(stats.chi2.sf(chi, 1)),
        numerator=float(x.sum()),
        denominator=float(n.sum()),
        method="cochran_armitage",
    )


DecayForm = Literal["linear", "log", "inverse"]


def distance_decay(
    data: pd.DataFrame,
    *,
    events: str,
    person_time: str,
    distance_km: str,
    form: DecayForm = "log",
    covariates: Sequence[str] = (),
    reference: Mapping[str, Any] | None = None,
    conf: float = 0.95,
) -> RegressionResult:
    """Distance-decay Poisson model of rates around a site.

    ``log λ(d) = α + β f(d) + Xγ`` with ``f(d) = d`` (``linear``: RR per km), ``log₂(d + 0.1)``
    (``log``: RR per doubling of distance; 0.1 km keeps residents at the fence finite) or
    ``1/(d + 0.1)`` (``inverse``: RR per unit of inverse distance, km⁻¹). A decay away from the
    site shows as RR < 1 (``linear``, ``log``) or RR > 1 (``inverse``). The distance term is
    labelled ``distance_km``, ``log2_distance_km`` or ``inverse_distance_km``.
    """
    _check_rows(data)
    d = as_float_array(data[distance_km].to_numpy(), distance_km)
    if (d < 0).any():
        raise StatsInputError("distances must be non-negative")
    label = {"linear": "distance_km", "log": "log2_distance_km", "inverse": "inverse_distance_km"}[
        form
    ]
    f = {"linear": d, "log": np.log2(d + 0.1), "inverse": 1.0 / (d + 0.1)}[form]
    frame = data.copy()
    frame[label] = f
    return poisson_regression(
        frame,
        events=events,
        person_time=person_time,
        covariates=[label, *covariates],
        reference=reference,
        family="poisson",
        conf=conf,
    )
