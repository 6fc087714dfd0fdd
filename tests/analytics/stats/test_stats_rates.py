"""Rates, proportions and direct standardization against R (epitools / stats) goldens."""

from __future__ import annotations

import math

import pytest

from analytics.stats.errors import (
    EmptyInputError,
    MismatchedStrataError,
    MissingValueError,
    NegativeCountError,
    StatsInputError,
)
from analytics.stats.rates import (
    crude_rate,
    direct_standardized_rate,
    poisson_exact_interval,
    proportion,
    stratum_rates,
)
from analytics.stats.standard_populations import (
    AGE_BANDS,
    US_2000,
    WHO_WORLD_2000_2025,
    standard_weights,
)

REL = 1e-6


def test_crude_rate_matches_r_poisson_test_exact_interval(golden):
    for case in golden("rates")["poisson"]:
        est = crude_rate(case["events"], case["person_time"], per=1.0)
        assert est.estimate == pytest.approx(case["rate"], rel=REL, abs=1e-15)
        assert est.ci_lower == pytest.approx(case["lower"], rel=REL, abs=1e-15)
        assert est.ci_upper == pytest.approx(case["upper"], rel=REL)


def test_crude_rate_with_90_percent_confidence_matches_r(golden):
    case = golden("rates")["poisson90"]
    est = crude_rate(case["events"], case["person_time"], per=1.0, conf=0.90)
    assert (est.ci_lower, est.ci_upper) == pytest.approx((case["lower"], case["upper"]), rel=REL)


def test_crude_rate_is_scaled_per_100000_and_names_its_unit():
    est = crude_rate(5, 1000)
    assert est.measure == "rate_per_100000"
    assert est.estimate == pytest.approx(500.0)
    assert est.numerator == 5 and est.denominator == 1000


def test_zero_events_give_a_zero_lower_limit_and_a_flag():
    est = crude_rate(0, 1000)
    assert est.ci_lower == 0.0
    assert est.ci_upper > 0
    assert "zero_events" in est.flags


def test_stratum_rates_label_each_stratum_and_reject_mismatched_lengths():
    rows = stratum_rates([1, 2], [100, 200], ["F", "M"])
    assert [r.stratum for r in rows] == ["F", "M"]
    with pytest.raises(MismatchedStrataError):
        stratum_rates([1, 2], [100], ["F", "M"])


def test_wilson_and_clopper_pearson_intervals_match_epitools(golden):
    for case in golden("rates")["proportions"]:
        w = proportion(case["x"], case["n"], method="wilson")
        e = proportion(case["x"], case["n"], method="clopper_pearson")
        assert w.estimate == pytest.approx(case["p"], rel=REL)
        assert w.ci_lower == pytest.approx(case["wilson_lower"], rel=REL, abs=1e-12)
        assert w.ci_upper == pytest.approx(case["wilson_upper"], rel=REL)
        assert e.ci_lower == pytest.approx(case["exact_lower"], rel=REL, abs=1e-12)
        assert e.ci_upper == pytest.approx(case["exact_upper"], rel=REL)


def test_proportion_rejects_more_successes_than_trials():
    with pytest.raises(StatsInputError, match="exceed"):
        proportion(11, 10)


@pytest.mark.parametrize("key", ["who", "us2000", "sparse_who", "who_90"])
def test_direct_standardization_matches_epitools_fay_feuer_interval(golden, key):
    case = golden("rates")["direct"][key]
    est = direct_standardized_rate(
        case["count"], case["pop"], case["stdpop"], per=1.0, conf=case["conf"]
    )
    assert est.estimate == pytest.approx(case["adj"], rel=REL)
    assert est.ci_lower == pytest.approx(case["lci"], rel=REL)
    assert est.ci_upper == pytest.approx(case["uci"], rel=REL)


@pytest.mark.parametrize("key", ["who", "us2000", "sparse_who"])
def test_tiwari_option_changes_only_the_upper_limit_as_in_the_reference_formula(golden, key):
    case = golden("rates")["direct"][key]
    ff = direct_standardized_rate(case["count"], case["pop"], case["stdpop"], per=1.0)
    tw = direct_standardized_rate(
        case["count"], case["pop"], case["stdpop"], per=1.0, method="tiwari"
    )
    assert tw.ci_lower == ff.ci_lower
    assert tw.ci_upper == pytest.approx(case["tiwari_uci"], rel=REL)
    assert tw.ci_upper < ff.ci_upper


def test_named_who_standard_gives_the_same_rate_as_the_explicit_who_numbers(golden):
    case = golden("rates")["direct"]["who"]
    named = direct_standardized_rate(case["count"], case["pop"], "who_world_2000_2025", per=1.0)
    assert named.estimate == pytest.approx(case["adj"], rel=REL)
    assert named.ci_upper == pytest.approx(case["uci"], rel=REL)
    assert "standard=who_world_2000_2025" in named.flags


def test_who_standard_collapses_85_plus_and_keeps_the_published_total_of_100035():
    assert WHO_WORLD_2000_2025["85+"] == 635
    assert WHO_WORLD_2000_2025["0-4"] == 8860
    assert WHO_WORLD_2000_2025["80-84"] == 910
    assert sum(WHO_WORLD_2000_2025.values()) == 100_035
    # SEER "World (WHO 2000-2025) Std Million": 0-4 = 88,569 and 85+ = 6,348 per million
    w = standard_weights("who_world_2000_2025")
    assert round(w[0] * 1e6) == 88_569
    assert round(w[-1] * 1e6) == 6_348


def test_us_2000_standard_sums_to_one_million_in_eighteen_bands():
    assert tuple(US_2000) == AGE_BANDS
    assert len(AGE_BANDS) == 18
    assert sum(US_2000.values()) == 1_000_000
    assert US_2000["0-4"] == 69_135 and US_2000["85+"] == 15_508


def test_standard_weights_renormalize_over_a_subset_of_bands():
    w = standard_weights("us_2000", ["65-69", "70-74"])
    assert w.sum() == pytest.approx(1.0)
    assert w[0] == pytest.approx(34264 / (34264 + 31773))


def test_unknown_band_or_standard_is_a_mismatched_strata_error():
    with pytest.raises(MismatchedStrataError, match="90-94"):
        standard_weights("us_2000", ["85+", "90-94"])
    with pytest.raises(MismatchedStrataError, match="unknown standard"):
        standard_weights("europe_2013")


def test_direct_standardization_rejects_bad_inputs_with_clear_errors():
    with pytest.raises(EmptyInputError):
        direct_standardized_rate([], [], [])
    with pytest.raises(NegativeCountError):
        direct_standardized_rate([-1, 2], [10, 10], [1, 1])
    with pytest.raises(MissingValueError):
        direct_standardized_rate([math.nan, 2], [10, 10], [1, 1])
    with pytest.raises(MismatchedStrataError):
        direct_standardized_rate([1, 2, 3], [10, 10], [1, 1])
    with pytest.raises(StatsInputError, match="without person-time"):
        direct_standardized_rate([1, 2], [0, 10], [1, 1])
    with pytest.raises(StatsInputError, match="every age band"):
        direct_standardized_rate([0, 0], [0, 0], [1, 1])


def test_poisson_interval_rejects_a_confidence_level_outside_zero_one():
    with pytest.raises(StatsInputError):
        poisson_exact_interval(3, conf=1.5)


def test_estimate_maps_to_the_tidy_result_row_contract():
    row = crude_rate(0, 1000).to_row(analysis="a1", outcome="dx.J45", area_code="A", period="2024")
    assert list(row) == [
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
    ]
    assert row["flags"] == "zero_events"
    assert row["p_value"] is None


# --- edge cases that must not be silent (issue 18) ---------------------------------------------


def test_an_empty_age_band_contributes_zero_to_the_standardized_rate_instead_of_raising():
    events = [3, 0, 7, 12]
    with_empty = direct_standardized_rate(events, [800, 0, 1500, 900], [20, 30, 25, 25])
    # the same band with a huge person-time and no events adds nothing to Σ w x/n, Σ (w/n)² x
    # and is below max w/n: the Fay–Feuer limits are those of a zero contribution
    huge = direct_standardized_rate(events, [800, 1e12, 1500, 900], [20, 30, 25, 25])
    assert with_empty.estimate == pytest.approx(huge.estimate, rel=1e-9)
    assert with_empty.ci_lower == pytest.approx(huge.ci_lower, rel=1e-9)
    assert with_empty.ci_upper == pytest.approx(huge.ci_upper, rel=1e-9)
    assert "empty_bands=1" in with_empty.flags
    assert not any(f.startswith("empty_bands") for f in huge.flags)


def test_a_count_must_be_a_whole_number_of_the_right_type():
    with pytest.raises(StatsInputError, match="whole number"):
        poisson_exact_interval(2.5)
    with pytest.raises(NegativeCountError):
        poisson_exact_interval(-1)
    with pytest.raises(StatsInputError, match="must be a number"):
        poisson_exact_interval("3")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match="must be a number"):
        crude_rate(None, 100)  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match="must be a number"):
        proportion(True, 10)
    with pytest.raises(StatsInputError, match="whole number"):
        proportion(2.5, 10)
    with pytest.raises(MissingValueError):
        crude_rate(3, math.nan)
    with pytest.raises(StatsInputError, match="must be a number"):
        poisson_exact_interval(3, conf="0.95")  # type: ignore[arg-type]
    # numpy scalars are numbers
    import numpy as np

    assert poisson_exact_interval(np.float64(3.0)) == poisson_exact_interval(3)


def test_a_rate_on_a_tiny_denominator_is_flagged():
    tiny = crude_rate(1, 1e-12)
    assert "small_denominator" in tiny.flags
    assert tiny.estimate == pytest.approx(1e17)  # still computed, never shown unflagged
    assert "small_denominator" not in crude_rate(1, 1.0).flags
    assert "small_denominator" in crude_rate(0, 0.5).flags
    strata = stratum_rates([1, 2], [0.01, 5000], ["a", "b"])
    assert ["small_denominator" in e.flags for e in strata] == [True, False]
