"""Poisson / negative binomial / logistic models, trend tests and distance decay vs R."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.stats.errors import AllZeroBaselineError, MismatchedStrataError, StatsInputError
from analytics.stats.regression import (
    distance_decay,
    logistic_regression,
    poisson_regression,
    trend_test_proportions,
    trend_test_rates,
)

GLM_REL = 1e-4
REF = {"age_band": "20-24", "smoking": "never", "sex": "F"}
COVS = ["age_band", "sex", "smoking", "works_at_site"]
R_TERMS = {
    "(Intercept)": "(intercept)", "age_band40-44": "age_band=40-44",
    "age_band60-64": "age_band=60-64", "sexM": "sex=M", "smokingformer": "smoking=former",
    "smokingcurrent": "smoking=current", "works_at_siteTRUE": "works_at_site",
    "I(log2(distance_km + 0.1))": "log2_distance_km",
}  # fmt: skip


def _data(golden):
    return pd.DataFrame(golden("regression")["data"])


def _assert_coefs(result, ref):
    for term, coef, se, p in zip(ref["terms"], ref["coef"], ref["se"], ref["p"], strict=True):
        name = R_TERMS[term]
        assert result.coefficients[name] == pytest.approx(coef, rel=GLM_REL), name
        assert result.std_errors[name] == pytest.approx(se, rel=GLM_REL), name
        if name != "(intercept)":
            assert result.estimate(name).p_value == pytest.approx(p, rel=GLM_REL), name


def test_poisson_rate_model_with_offset_and_covariates_matches_r_glm(golden):
    g = golden("regression")
    res = poisson_regression(
        _data(golden), events="events", person_time="person_years", covariates=COVS, reference=REF
    )
    assert res.family == "poisson"
    _assert_coefs(res, g["poisson"])
    assert res.dispersion == pytest.approx(g["poisson"]["dispersion"], rel=1e-6)
    assert res.aic == pytest.approx(g["poisson"]["aic"], rel=1e-6)
    est = res.estimate("works_at_site")
    assert est.measure == "rate_ratio"
    assert est.estimate == pytest.approx(math.exp(g["poisson"]["coef"][-1]), rel=GLM_REL)
    assert est.ci_lower < est.estimate < est.ci_upper


def test_overdispersed_counts_switch_to_negative_binomial_matching_mass_glm_nb(golden):
    g = golden("regression")
    res = poisson_regression(
        _data(golden),
        events="events_od",
        person_time="person_years",
        covariates=COVS,
        reference=REF,
    )
    assert res.family == "negative_binomial"
    assert "negative_binomial_chosen" in res.notes
    assert res.theta == pytest.approx(g["negbin"]["theta"], rel=GLM_REL)
    assert res.log_likelihood == pytest.approx(g["negbin"]["loglik"], rel=1e-6)
    _assert_coefs(res, g["negbin"])


def test_equidispersed_counts_stay_poisson_under_the_auto_rule(golden):
    res = poisson_regression(
        _data(golden), events="events", person_time="person_years", covariates=COVS, reference=REF
    )
    assert res.dispersion < 1.5
    assert res.family == "poisson"


def test_logistic_prevalence_model_matches_r_glm_binomial(golden):
    g = golden("regression")
    res = logistic_regression(
        _data(golden),
        outcome="wheeze",
        covariates=["smoking", "works_at_site", "sex"],
        reference=REF,
    )
    _assert_coefs(res, g["logistic"])
    assert res.aic == pytest.approx(g["logistic"]["aic"], rel=1e-6)
    assert res.estimate("smoking=current").measure == "odds_ratio"


def test_distance_decay_log_form_matches_r_glm_with_log2_distance(golden):
    g = golden("regression")
    res = distance_decay(
        _data(golden),
        events="events",
        person_time="person_years",
        distance_km="distance_km",
        form="log",
        covariates=["age_band", "sex"],
        reference=REF,
    )
    _assert_coefs(res, g["decay"])
    assert res.estimate("log2_distance_km").estimate < 1  # rates fall away from the site


def test_the_wald_trend_option_matches_r_poisson_glm(golden):
    g = golden("regression")["trend"]
    est = trend_test_rates(g["events"], g["person_time"], g["scores"], test="wald")
    assert est.estimate == pytest.approx(math.exp(g["coef"][1]), rel=GLM_REL)
    assert est.p_value == pytest.approx(g["p"][1], rel=GLM_REL)
    assert est.measure == "rate_ratio_per_score_unit"
    assert est.method == "poisson_glm_wald"


def _inf(value):
    return math.inf if value == "Inf" else value


@pytest.mark.parametrize(
    "name",
    [
        "distance_bands",
        "default_scores",
        "sparse_middle",
        "sparse_90",
        "no_trend",
        "all_events_top",
    ],
)
def test_the_score_trend_test_is_the_default_and_matches_r_rao_and_glm_scoretest(golden, name):
    case = next(c for c in golden("trend_score")["cases"] if c["name"] == name)
    args = (case["events"], case["person_time"], case["scores"])
    est = trend_test_rates(*args, conf=case["conf"])
    assert est.method == "poisson_score"
    # R's statistic comes from its IRLS null fit (converged to ~1e-9 in the coefficient): the
    # score statistic itself is a closed form given that fit
    if case["rao_p"] != "NA":
        assert est.p_value == pytest.approx(case["rao_p"], rel=1e-5)
    else:  # R's anova prints NA for a statistic of -1e-17; the exact statistic is 0
        assert abs(case["rao_chi2"]) < 1e-12 and est.p_value == pytest.approx(1.0)
    chi2 = stats.chi2.isf(est.p_value, 1)
    assert math.sqrt(chi2) == pytest.approx(abs(case["scoretest_z"]), rel=1e-5, abs=1e-8)
    # the score interval (R: the same formula solved with uniroot)
    assert est.ci_lower == pytest.approx(_inf(case["ci_lower"]), rel=1e-6)
    assert est.ci_upper == pytest.approx(_inf(case["ci_upper"]), rel=1e-6)
    if name != "all_events_top":
        assert est.estimate == pytest.approx(case["mle_rr"], rel=GLM_REL)
        wald = trend_test_rates(*args, conf=case["conf"], test="wald")
        assert wald.p_value == pytest.approx(case["wald_p"], rel=GLM_REL)
        assert wald.ci_lower == pytest.approx(case["wald_lower"], rel=GLM_REL)
        assert wald.ci_upper == pytest.approx(case["wald_upper"], rel=GLM_REL)


def test_the_score_test_stays_valid_where_the_wald_test_breaks_down(golden):
    case = next(c for c in golden("trend_score")["cases"] if c["name"] == "all_events_top")
    score = trend_test_rates(case["events"], case["person_time"])
    wald = trend_test_rates(case["events"], case["person_time"], test="wald")
    assert wald.p_value is not None and score.p_value is not None
    assert case["wald_p"] > 0.99 and wald.p_value > 0.99  # R and statsmodels agree: useless
    assert score.p_value == pytest.approx(case["rao_p"], rel=1e-5) and score.p_value < 0.01
    assert score.estimate == math.inf and "estimate_unbounded" in score.flags
    assert "estimate_unbounded" in wald.flags
    # The interval from inverting the score test, against R (uniroot over anova(test="Rao")).
    assert score.ci_lower == pytest.approx(case["ci_lower"], rel=1e-5)
    assert case["ci_upper"] == "Inf" and score.ci_upper == math.inf
    # all events in the bottom category: the mirror image
    low = trend_test_rates([5, 0, 0], [100, 100, 100])
    assert low.estimate == 0.0 and low.ci_lower == 0.0 and low.ci_upper < 1
    assert low.p_value == pytest.approx(score.p_value, rel=1e-12)


def test_cochran_armitage_trend_in_proportions_matches_r_prop_trend_test(golden):
    g = golden("regression")["prop_trend"]
    est = trend_test_proportions(g["cases"], g["totals"])
    assert est.estimate == pytest.approx(g["chi2"], rel=1e-6)
    assert est.p_value == pytest.approx(g["p"], rel=1e-6)
    scored = trend_test_proportions(g["cases"], g["totals"], [1, 3, 7.5, 15])
    assert scored.estimate == pytest.approx(g["chi2_scored"], rel=1e-6)


def test_regression_inputs_are_validated_with_clear_errors():
    df = pd.DataFrame({"y": [0, 0, 0], "t": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(AllZeroBaselineError):
        poisson_regression(df, events="y", person_time="t", covariates=["x"])
    with pytest.raises(StatsInputError, match="not a column"):
        poisson_regression(df.assign(y=[1, 2, 3]), events="y", person_time="t", covariates=["nope"])
    with pytest.raises(MismatchedStrataError):
        trend_test_rates([1, 2, 3], [10, 10])
    with pytest.raises(StatsInputError, match="at least 3"):
        trend_test_rates([1, 2], [10, 10])
    with pytest.raises(StatsInputError, match="unknown trend test"):
        trend_test_rates([1, 2, 3], [10, 10, 10], test="lr")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match="scores must differ"):
        trend_test_rates([1, 2, 3], [10, 10, 10], [2, 2, 2])
    with pytest.raises(MismatchedStrataError, match="reference level"):
        poisson_regression(
            pd.DataFrame({"y": [1, 2], "t": [1.0, 1.0], "s": ["F", "M"]}),
            events="y",
            person_time="t",
            covariates=["s"],
            reference={"s": "X"},
        )


def test_regression_estimates_export_as_tidy_rows(golden):
    from analytics.stats.results import to_frame

    res = poisson_regression(
        _data(golden), events="events", person_time="person_years", covariates=COVS, reference=REF
    )
    rows = to_frame(res.estimates, analysis="poisson", outcome="dx.J45")
    assert len(rows) == 6
    assert set(rows["measure"]) == {"rate_ratio"}
    assert np.all(rows["ci_lower"] < rows["ci_upper"])


def test_collapsing_person_rows_by_covariate_pattern_gives_the_row_level_poisson_fit():
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    n = 8000
    df = pd.DataFrame(
        {
            "age_band": rng.choice(["20-24", "40-44", "60-64"], n),
            "sex": rng.choice(["F", "M"], n),
            "works_at_site": rng.random(n) < 0.2,
            "pt": rng.uniform(0.2, 1.0, n),
        }
    )
    df["y"] = rng.poisson(df["pt"] * np.exp(-2 + 0.5 * df["works_at_site"]))
    res = poisson_regression(
        df,
        events="y",
        person_time="pt",
        covariates=["age_band", "sex", "works_at_site"],
        reference=REF,
        family="poisson",
    )
    x = np.column_stack(
        [
            np.ones(n),
            df["age_band"] == "40-44",
            df["age_band"] == "60-64",
            df["sex"] == "M",
            df["works_at_site"],
        ]
    ).astype(float)
    ref = sm.GLM(
        df["y"].to_numpy(float), x, family=sm.families.Poisson(), offset=np.log(df["pt"].to_numpy())
    ).fit()
    np.testing.assert_allclose(list(res.coefficients.values()), ref.params, rtol=1e-6)
    np.testing.assert_allclose(list(res.std_errors.values()), ref.bse, rtol=1e-6)
    assert res.log_likelihood == pytest.approx(ref.llf, rel=1e-9)
    assert res.aic == pytest.approx(ref.aic, rel=1e-9)
    assert res.dispersion == pytest.approx(ref.pearson_chi2 / (n - 5), rel=1e-6)


def test_a_covariate_level_without_events_gives_an_unbounded_interval_not_a_crash() -> None:
    import pandas as pd

    from analytics.stats.regression import poisson_regression

    data = pd.DataFrame(
        {
            "events": [0, 0, 5, 7, 6, 9],
            "py": [100.0, 120.0, 100.0, 110.0, 90.0, 130.0],
            "group": ["empty", "empty", "a", "a", "b", "b"],
        }
    )
    fit = poisson_regression(
        data,
        events="events",
        person_time="py",
        covariates=["group"],
        reference={"group": "a"},
        family="poisson",
    )
    empty = fit.estimate("group=empty")
    assert empty.estimate < 1e-6
    assert empty.ci_upper == float("inf") or empty.ci_upper > 1e6


def test_a_design_matrix_built_once_gives_the_fit_built_from_the_data() -> None:
    from analytics.stats.regression import design_matrix

    df = pd.DataFrame(
        {
            "y": [3, 9, 4, 12, 6, 2],
            "t": [100.0, 120.0, 90.0, 110.0, 130.0, 80.0],
            "band": ["far", "near", "far", "near", "middle", "middle"],
        }
    )
    model: dict[str, Any] = {
        "events": "y", "person_time": "t", "covariates": ["band"], "reference": {"band": "far"}
    }  # fmt: skip
    design = design_matrix(df, ["band"], reference={"band": "far"})
    given = poisson_regression(df, **model, design=design)
    built = poisson_regression(df, **model)
    assert given == built
    with pytest.raises(StatsInputError, match="another number of rows"):
        poisson_regression(
            df.iloc[:4], events="y", person_time="t", covariates=["band"], design=design
        )
