"""Biomonitoring summaries (CDC conventions) against R goldens."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.stats.biomonitoring import (
    adjusted_gm_ratio,
    geometric_mean,
    percentiles,
    share_above_reference,
    substitute_below_lod,
)
from analytics.stats.errors import EmptyInputError, StatsInputError

REL = 1e-6


def _bio(golden):
    b = golden("biomonitoring_exposure")["bio"]
    values = [math.nan if v is None else v for v in b["value"]]
    return b, values


def test_non_detects_are_replaced_by_lod_over_root_two():
    out = substitute_below_lod([math.nan, 2.0, math.nan], [True, False, True], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(out, [0.5 / math.sqrt(2), 2.0, 1.0 / math.sqrt(2)])


def test_geometric_mean_and_interval_match_r_t_test_on_log_values(golden):
    b, values = _bio(golden)
    est = geometric_mean(values, b["below_lod"], b["lod"])
    assert est.estimate == pytest.approx(b["gm"], rel=REL)
    assert est.ci_lower == pytest.approx(b["gm_lower"], rel=REL)
    assert est.ci_upper == pytest.approx(b["gm_upper"], rel=REL)
    assert f"detection_frequency={b['detection_frequency']:.3f}" in est.flags


def test_geometric_mean_is_withheld_when_more_than_40_percent_are_below_lod():
    values = [math.nan] * 9 + [1.0, 2.0, 3.0, 1.5, 2.5, 1.2, 1.1, 0.9, 1.3, 2.2, 1.7]
    below = [True] * 9 + [False] * 11  # 45% non-detects
    est = geometric_mean(values, below, 0.5)
    assert math.isnan(est.estimate)
    assert "withheld_low_detection" in est.flags
    ok = geometric_mean(values[1:], below[1:], 0.5)  # 8/19 = 42% -> still withheld
    assert "withheld_low_detection" in ok.flags
    fine = geometric_mean(values[2:], below[2:], 0.5)  # 7/18 = 38.9% -> reported
    assert not math.isnan(fine.estimate)


def test_percentiles_and_order_statistic_intervals_match_r(golden):
    b, values = _bio(golden)
    ests = percentiles(values, b["below_lod"], b["lod"])
    assert [e.stratum for e in ests] == ["p50", "p75", "p90", "p95"]
    for est, ref in zip(ests, b["percentiles"], strict=True):
        assert est.estimate == pytest.approx(ref["est"], rel=REL)
        assert est.ci_lower == pytest.approx(ref["lower"], rel=REL)
        assert est.ci_upper == pytest.approx(ref["upper"], rel=REL)


def test_a_percentile_below_the_lod_is_reported_as_below_lod():
    values = [math.nan] * 6 + [1.0, 2.0, 3.0, 4.0]
    below = [True] * 6 + [False] * 4
    p50 = percentiles(values, below, 0.5, probs=[0.5])[0]
    assert math.isnan(p50.estimate)
    assert "below_lod" in p50.flags


def test_share_above_reference_level_matches_epitools_wilson(golden):
    b, values = _bio(golden)
    est = share_above_reference(values, b["reference_level"], b["below_lod"], b["lod"])
    assert est.numerator == b["above"]
    assert est.estimate == pytest.approx(b["above_p"], rel=REL)
    assert est.ci_lower == pytest.approx(b["above_lower"], rel=REL)
    assert est.ci_upper == pytest.approx(b["above_upper"], rel=REL)


def test_share_above_reference_refuses_non_detects_with_a_lod_above_the_reference():
    with pytest.raises(StatsInputError, match="unclassifiable"):
        share_above_reference([math.nan, 5.0], 3.5, [True, False], 4.0)


def test_adjusted_gm_ratio_matches_r_lm_on_log_values(golden):
    b, values = _bio(golden)
    df = pd.DataFrame(
        {
            "v": values,
            "bl": b["below_lod"],
            "lod": b["lod"],
            "group": b["group"],
            "age": b["age"],
            "sex": b["sex"],
        }
    )
    ests = adjusted_gm_ratio(
        df,
        value="v",
        group="group",
        reference_group="resident_far",
        covariates=["age", "sex"],
        below_lod="bl",
        lod="lod",
    )
    by = {e.stratum: e for e in ests}
    ref = b["gm_ratio"]
    assert by["group=resident_near"].estimate == pytest.approx(ref["near"], rel=REL)
    assert by["group=resident_near"].ci_lower == pytest.approx(ref["near_lower"], rel=REL)
    assert by["group=worker"].estimate == pytest.approx(ref["worker"], rel=REL)
    assert by["group=worker"].ci_upper == pytest.approx(ref["worker_upper"], rel=REL)
    assert by["group=worker"].p_value == pytest.approx(ref["worker_p"], rel=1e-5)


def test_biomonitoring_rejects_empty_and_non_positive_input():
    with pytest.raises(EmptyInputError):
        geometric_mean([])
    with pytest.raises(StatsInputError, match="positive"):
        geometric_mean([1.0, 0.0, 2.0])
    with pytest.raises(StatsInputError, match="LOD"):
        geometric_mean([math.nan, 1.0], [True, False], None)


# --- edge cases that must not be silent (issue 18) ---------------------------------------------


def test_a_percentile_below_the_detection_limit_withholds_its_interval_too():
    values = [0.0] * 12 + [0.8, 1.1, 1.3, 2.0, 2.4, 3.1, 4.0, 5.5]
    below = [True] * 12 + [False] * 8
    out = {e.stratum: e for e in percentiles(values, below, 0.5)}
    p50 = out["p50"]
    assert "below_lod" in p50.flags
    assert math.isnan(p50.estimate) and math.isnan(p50.ci_lower) and math.isnan(p50.ci_upper)
    # p90 is measured; its lower order statistic may be substituted: withheld, flagged
    p90 = out["p90"]
    assert not math.isnan(p90.estimate)
    substituted = 0.5 / math.sqrt(2)
    assert p90.ci_lower != pytest.approx(substituted)
    for e in out.values():
        assert e.ci_lower != pytest.approx(substituted)


def test_a_percentile_whose_lower_limit_is_a_substituted_value_withholds_that_limit():
    values = [0.0] * 6 + [0.9, 1.2, 1.5, 1.9, 2.2, 2.8, 3.0, 3.3, 3.9, 4.4, 5.0, 6.1, 7.0, 9.0]
    below = [True] * 6 + [False] * 14
    p50 = {e.stratum: e for e in percentiles(values, below, 0.5)}["p50"]
    assert not math.isnan(p50.estimate)
    assert math.isnan(p50.ci_lower) and "ci_lower_below_lod" in p50.flags
    assert not math.isnan(p50.ci_upper)
