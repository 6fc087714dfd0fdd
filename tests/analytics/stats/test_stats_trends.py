"""APC, joinpoint and Mann–Kendall/Sen against the R references in r/trends.R."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.stats.errors import MismatchedStrataError, ShortHistoryError, StatsInputError
from analytics.stats.trends import annual_percent_change, joinpoint, mann_kendall

REL = 1e-6


def test_annual_percent_change_matches_r_lm_on_log_rates(golden):
    g = golden("trends")["apc"]
    est = annual_percent_change(g["years"], g["rates"])
    assert est.measure == "apc_percent_per_year"
    assert est.estimate == pytest.approx(g["apc"], rel=REL)
    assert (est.ci_lower, est.ci_upper) == pytest.approx((g["lower"], g["upper"]), rel=REL)
    assert est.p_value == pytest.approx(g["p"], rel=1e-4)


def test_joinpoint_grid_search_with_bic_recovers_two_joinpoints_as_the_r_reference(golden):
    g = golden("trends")["joinpoint"]
    res = joinpoint(g["years"], g["rates"])
    assert list(res.joinpoints) == g["joinpoints"] == [2008, 2015]
    assert list(res.bic.values()) == pytest.approx(g["bic"], rel=REL)
    assert [s.stratum for s in res.segments] == ["1995-2008", "2008-2015", "2015-2020"]
    for seg, ref in zip(res.segments, g["segments"], strict=True):
        assert seg.estimate == pytest.approx(ref["apc"], rel=REL)
        assert seg.ci_lower == pytest.approx(ref["lower"], rel=REL)
        assert seg.ci_upper == pytest.approx(ref["upper"], rel=REL)
    assert res.aapc.estimate == pytest.approx(g["aapc"], rel=REL)
    assert res.aapc.ci_lower == pytest.approx(g["aapc_lower"], rel=REL)
    assert res.aapc.ci_upper == pytest.approx(g["aapc_upper"], rel=REL)


def test_joinpoint_on_a_straight_line_selects_zero_joinpoints_and_equals_the_apc(golden):
    g = golden("trends")["joinpoint_line"]
    res = joinpoint(g["years"], g["rates"])
    assert res.joinpoints == () and g["joinpoints"] == []
    assert res.segments[0].estimate == pytest.approx(g["segments"][0]["apc"], rel=REL)
    assert res.aapc.estimate == pytest.approx(res.segments[0].estimate, rel=1e-12)


def test_joinpoint_respects_minimum_observations_from_the_ends():
    years = np.arange(2000, 2012)
    rates = np.exp(np.where(years < 2002, 0.0, -0.3 * (years - 2002)))
    res = joinpoint(years.tolist(), rates.tolist(), max_joinpoints=1)
    # a joinpoint at 2002 would leave only one observation before it (min 2)
    assert all(j >= 2003 for j in res.joinpoints)


def test_mann_kendall_and_sen_slope_match_r_cor_test_and_sens_slope_algorithm(golden):
    for key in ("mk_pm", "mk_flat"):
        g = golden("trends")[key]
        res = mann_kendall(g["values"], g.get("times"))
        assert res.z == pytest.approx(g["z"], rel=REL, abs=1e-12)
        assert res.p_value == pytest.approx(g["p"], rel=REL)
        assert res.var_s == pytest.approx(g["var_s"], rel=REL)
        assert res.slope.estimate == pytest.approx(g["sen"], rel=REL, abs=1e-12)
        assert res.slope.ci_lower == pytest.approx(g["lower"], rel=REL)
        assert res.slope.ci_upper == pytest.approx(g["upper"], rel=REL)


def test_trend_functions_reject_short_or_mismatched_input():
    with pytest.raises(ShortHistoryError, match="at least 3"):
        annual_percent_change([2000, 2001], [1.0, 2.0])
    with pytest.raises(ShortHistoryError, match="at least 4"):
        mann_kendall([1, 2, 3])
    with pytest.raises(MismatchedStrataError):
        annual_percent_change([2000, 2001, 2002], [1.0, 2.0])
    with pytest.raises(StatsInputError, match="strictly positive"):
        annual_percent_change([2000, 2001, 2002], [1.0, 0.0, 2.0])
    with pytest.raises(StatsInputError, match="distinct"):
        joinpoint([2000, 2000, 2001], [1.0, 2.0, 3.0])
