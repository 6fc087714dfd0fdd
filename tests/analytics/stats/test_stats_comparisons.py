"""SMR, exact rate ratio and Mantel–Haenszel estimators against R goldens."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

from analytics.stats.comparisons import (
    check_strata_labels,
    mantel_haenszel_odds_ratio,
    mantel_haenszel_rate_ratio,
    rate_ratio_exact,
    smr,
)
from analytics.stats.errors import AllZeroBaselineError, MismatchedStrataError, StatsInputError

REL = 1e-6


def test_smr_interval_and_p_value_match_r_poisson_test(golden):
    for case in golden("comparisons")["smr"]:
        est = smr(case["observed"], case["expected"])
        assert est.estimate == pytest.approx(case["smr"], rel=REL, abs=1e-15)
        assert est.ci_lower == pytest.approx(case["lower"], rel=REL, abs=1e-15)
        assert est.ci_upper == pytest.approx(case["upper"], rel=REL)
        assert est.p_value == pytest.approx(case["p"], rel=REL)


def test_smr_computes_expected_from_reference_rates_by_indirect_standardization(golden):
    case = golden("comparisons")["smr"][2]
    rates = [0.0001, 0.0002, 0.0005, 0.001, 0.003, 0.008]
    pt = [5000, 4000, 3000, 2000, 1000, 400]
    est = smr(case["observed"], person_time=pt, reference_rates=rates, measure="sir")
    assert est.denominator == pytest.approx(case["expected"], rel=REL)
    assert est.measure == "sir"
    assert est.estimate == pytest.approx(case["smr"], rel=REL)


def test_smr_with_zero_expected_raises_all_zero_baseline():
    with pytest.raises(AllZeroBaselineError):
        smr(3, person_time=[100, 200], reference_rates=[0, 0])


def test_exact_rate_ratio_matches_r_two_sample_poisson_test(golden):
    for case in golden("comparisons")["rate_ratio"]:
        est = rate_ratio_exact(case["x1"], case["t1"], case["x0"], case["t0"])
        assert est.estimate == pytest.approx(case["rr"], rel=REL, abs=1e-15)
        assert est.ci_lower == pytest.approx(case["lower"], rel=REL, abs=1e-15)
        assert est.ci_upper == pytest.approx(case["upper"], rel=REL)
        assert est.p_value == pytest.approx(case["p"], rel=REL)


def test_exact_rate_ratio_without_any_event_is_an_all_zero_baseline_error():
    with pytest.raises(AllZeroBaselineError):
        rate_ratio_exact(0, 100, 0, 100)


def test_mantel_haenszel_odds_ratio_matches_r_mantelhaen_test(golden):
    case = golden("comparisons")["mh_or"]
    est, hom = mantel_haenszel_odds_ratio(case["a"], case["b"], case["c"], case["d"])
    assert est.estimate == pytest.approx(case["or"], rel=REL)
    assert est.ci_lower == pytest.approx(case["lower"], rel=REL)
    assert est.ci_upper == pytest.approx(case["upper"], rel=REL)
    assert est.p_value == pytest.approx(case["p_corrected"], rel=REL)
    est_nc, _ = mantel_haenszel_odds_ratio(
        case["a"], case["b"], case["c"], case["d"], correct=False
    )
    assert est_nc.p_value == pytest.approx(case["p_uncorrected"], rel=REL)
    assert hom.estimate == pytest.approx(case["breslow_day_tarone"], rel=REL)
    assert hom.p_value == pytest.approx(case["breslow_day_p"], rel=REL)


def test_breslow_day_tarone_agrees_with_statsmodels_independent_implementation(golden):
    case = golden("comparisons")["mh_or"]
    tables = [
        [[a, b], [c, d]]
        for a, b, c, d in zip(case["a"], case["b"], case["c"], case["d"], strict=True)
    ]
    import numpy as np

    st = StratifiedTable(np.array(tables, dtype=float).transpose(1, 2, 0))
    ref = st.test_equal_odds(adjust=True)
    _, hom = mantel_haenszel_odds_ratio(case["a"], case["b"], case["c"], case["d"])
    assert hom.estimate == pytest.approx(ref.statistic, rel=1e-6)


def test_mantel_haenszel_rate_ratio_matches_greenland_robins_reference(golden):
    case = golden("comparisons")["mh_rr"]
    est, hom = mantel_haenszel_rate_ratio(case["a"], case["t1"], case["b"], case["t0"])
    assert est.estimate == pytest.approx(case["rr"], rel=REL)
    assert est.ci_lower == pytest.approx(case["lower"], rel=REL)
    assert est.ci_upper == pytest.approx(case["upper"], rel=REL)
    assert est.p_value == pytest.approx(case["p"], rel=REL)
    assert hom.estimate == pytest.approx(case["homogeneity"], rel=REL)
    assert hom.p_value == pytest.approx(case["homogeneity_p"], rel=REL)


def test_mantel_haenszel_rate_ratio_of_a_single_stratum_equals_the_crude_ratio():
    est, hom = mantel_haenszel_rate_ratio([10], [1000], [5], [2000])
    assert est.estimate == pytest.approx((10 / 1000) / (5 / 2000))
    assert hom.p_value is not None and math.isnan(hom.p_value)


def test_mantel_haenszel_rejects_mismatched_strata_and_only_tiny_strata():
    with pytest.raises(MismatchedStrataError):
        mantel_haenszel_rate_ratio([1, 2], [10, 10], [1], [10])
    with pytest.raises(StatsInputError, match="fewer than 2"):
        mantel_haenszel_odds_ratio([1, 0], [0, 0], [0, 1], [0, 0])


def test_stratum_labels_must_agree_in_content_and_order():
    check_strata_labels(["0-4", "5-9"], ["0-4", "5-9"])
    with pytest.raises(MismatchedStrataError):
        check_strata_labels(["0-4", "5-9"], ["5-9", "0-4"])


# --- edge cases that must not be silent (issue 18) ---------------------------------------------


def test_an_empty_stratum_contributes_zero_to_the_mantel_haenszel_rate_ratio():
    full, hom = mantel_haenszel_rate_ratio([10, 4], [1000, 600], [5, 9], [2000, 1800])
    padded, hom_padded = mantel_haenszel_rate_ratio(
        [10, 0, 4, 0], [1000, 0, 600, 300], [5, 3, 9, 0], [2000, 700, 1800, 0]
    )
    for attr in ("estimate", "ci_lower", "ci_upper", "p_value"):
        assert getattr(padded, attr) == pytest.approx(getattr(full, attr), rel=1e-12)
    assert hom_padded.estimate == pytest.approx(hom.estimate, rel=1e-12)
    assert hom_padded.numerator == hom.numerator
    with pytest.raises(StatsInputError, match="without person-time"):
        mantel_haenszel_rate_ratio([10, 1], [1000, 0], [5, 9], [2000, 1800])


def test_a_stratum_under_two_subjects_contributes_zero_to_the_mantel_haenszel_odds_ratio():
    full, hom = mantel_haenszel_odds_ratio([12, 7], [30, 22], [5, 6], [40, 35])
    padded, hom_padded = mantel_haenszel_odds_ratio(
        [12, 0, 7, 1], [30, 0, 22, 0], [5, 0, 6, 0], [40, 0, 35, 0]
    )
    for attr in ("estimate", "ci_lower", "ci_upper", "p_value"):
        assert getattr(padded, attr) == pytest.approx(getattr(full, attr), rel=1e-12)
    assert hom_padded.estimate == pytest.approx(hom.estimate, rel=1e-12)
