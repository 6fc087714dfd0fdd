"""EARS, Farrington flexible and CUSUM against surveillance 1.20.3 goldens (aberration.R)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.stats.aberration import (
    NOUFAILY_2013,
    cusum,
    default_aberration_method,
    detect_aberrations,
    ears,
    farrington_flexible,
)
from analytics.stats.errors import (
    AllZeroBaselineError,
    MissingValueError,
    NegativeCountError,
    ShortHistoryError,
)

GLM_REL = 1e-4
_R_TO_PY = {
    "b": "b", "w": "w", "reweight": "reweight", "alpha": "alpha", "trend": "trend",
    "noPeriods": "no_periods", "pastWeeksNotIncluded": "past_weeks_not_included",
    "thresholdMethod": "threshold_method", "powertrans": "power_trans",
    "weightsThreshold": "weights_threshold", "limit54": "limit54",
}  # fmt: skip


def _arr(values):
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _series(golden):
    return {k: np.array(v, dtype=float) for k, v in golden("aberration")["series"].items()}


def _kwargs(case, series):
    control = case["control"] if isinstance(case["control"], dict) else {}
    kw = {
        _R_TO_PY[k]: (tuple(v) if k == "limit54" else v)
        for k, v in control.items()
        if k != "populationOffset"
    }
    if control.get("populationOffset"):
        kw["population"] = series["pop3"]
    return kw


def _assert_matches(result, case, *, check_score=True):
    ub = _arr(case["upperbound"])
    assert len(result.upper_bound) == len(ub)
    np.testing.assert_array_equal(np.isnan(result.upper_bound), np.isnan(ub))
    np.testing.assert_allclose(result.upper_bound, ub, rtol=GLM_REL, equal_nan=True)
    np.testing.assert_array_equal(result.alarm, np.array(case["alarm"], dtype=bool))
    np.testing.assert_allclose(
        result.expected, _arr(case["expected"]), rtol=GLM_REL, equal_nan=True
    )
    np.testing.assert_allclose(result.p_value, _arr(case["pvalue"]), rtol=GLM_REL, atol=1e-12)
    if check_score:
        np.testing.assert_allclose(result.score, _arr(case["score"]), rtol=GLM_REL, atol=1e-9)


def test_farrington_flexible_r_compatible_matches_surveillance_for_every_option_set(golden):
    g = golden("aberration")
    series = _series(golden)
    assert len(g["farrington"]) == 19
    for name, case in g["farrington"].items():
        result = farrington_flexible(
            series[case["series"]], r_compatible=True, **_kwargs(case, series)
        )
        try:
            _assert_matches(result, case)
        except AssertionError as exc:  # name the failing configuration
            raise AssertionError(f"{name}: {exc}") from exc


def test_farrington_flexible_default_matches_surveillance_with_the_dispersion_defects_fixed(
    golden,
):
    g = golden("aberration")
    series = _series(golden)
    for name, case in g["farrington_fixed"].items():
        result = farrington_flexible(series[case["series"]], **_kwargs(case, series))
        try:
            _assert_matches(result, case)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_r_compatible_mode_actually_differs_from_the_corrected_default(golden):
    series = _series(golden)
    default = farrington_flexible(series["s3"])
    r_mode = farrington_flexible(series["s3"], r_compatible=True)
    assert np.nanmax(np.abs(default.upper_bound - r_mode.upper_bound)) > 1e-3


def test_farrington_flags_the_monitored_weeks_with_too_few_recent_cases(golden):
    series = _series(golden)
    result = farrington_flexible(series["s2"])
    insufficient = np.array(["insufficient_cases" in f for f in result.flags])
    assert insufficient.any()
    assert np.isnan(result.upper_bound[insufficient]).all()
    assert not result.alarm[insufficient].any()


def test_farrington_short_history_error_names_the_minimum_length():
    with pytest.raises(ShortHistoryError, match="at least 264") as info:
        farrington_flexible(np.ones(200))
    assert info.value.minimum == 264


def test_farrington_on_an_all_zero_series_raises_all_zero_baseline():
    with pytest.raises(AllZeroBaselineError):
        farrington_flexible(np.zeros(300))


def test_farrington_treats_an_all_zero_reference_window_as_expected_zero():
    y = np.zeros(300)
    y[280:] = [3, 0, 2, 4, 1, 0, 1, 1, 1, 0, 1, 1, 0, 5, 1, 2, 3, 0, 0, 0]
    result = farrington_flexible(y, monitor_from=279)
    first = result.to_frame().iloc[4]  # index 283: 3+0+2+4 = 9 cases in the last 4 weeks
    assert first["flags"] == "all_zero_baseline"
    assert first["expected"] == 0 and first["upper_bound"] == 0
    assert bool(first["alarm"]) is True  # R (1.20.3) also alarms here, bound ≈ 0.0016


def test_ears_upper_bounds_and_alarms_match_surveillance_earsc(golden):
    g = golden("aberration")
    series = _series(golden)
    for name, case in g["ears"].items():
        c = case["control"]
        kw = {"method": c["method"]}
        kw.update(
            {
                k2: c[k1]
                for k1, k2 in (
                    ("baseline", "baseline"),
                    ("minSigma", "min_sigma"),
                    ("alpha", "alpha"),
                )
                if k1 in c
            }
        )
        result = ears(series[case["series"]], r_compatible=True, **kw)
        assert len(result.upper_bound) == case["n_monitored"], name
        np.testing.assert_allclose(result.upper_bound, case["upperbound"], rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(
            result.alarm, np.array(case["alarm"], dtype=bool), err_msg=name
        )


def test_ears_c3_default_follows_the_published_statistic_including_the_current_week(golden):
    g = golden("aberration")
    series = _series(golden)
    for name, case in g["ears_c3_published"].items():
        y = series[name.split("_")[0]]
        result = ears(y, method="C3", min_sigma=1.0 if name.endswith("_ms") else 0.0)
        np.testing.assert_allclose(result.score, case["statistic"], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(result.upper_bound, case["upperbound"], rtol=1e-6)
        np.testing.assert_array_equal(result.alarm, np.array(case["alarm"], dtype=bool))
    r_mode = ears(series["s1"], method="C3", r_compatible=True)
    assert (r_mode.alarm != ears(series["s1"], method="C3").alarm).any()


def test_ears_c2_needs_ten_points_and_says_so():
    with pytest.raises(ShortHistoryError, match="at least 10"):
        ears([1, 2, 3, 4, 5, 6, 7, 8, 9], method="C2")
    assert len(ears(list(range(10)), method="C2").time_index) == 1


def test_ears_rejects_negative_and_missing_counts():
    with pytest.raises(NegativeCountError):
        ears([1, 2, -3, 4, 5, 6, 7, 8, 9, 10])
    with pytest.raises(MissingValueError):
        ears([1, 2, math.nan, 4, 5, 6, 7, 8, 9, 10])


def test_cusum_matches_surveillance_algo_cusum_for_each_transformation(golden):
    g = golden("aberration")
    series = _series(golden)
    for name, case in g["cusum"].items():
        kw = {k: case[k] for k in ("k", "h", "m") if k in case}
        result = cusum(series[case["series"]], start=case["start"], trans=case["trans"], **kw)
        np.testing.assert_allclose(result.score, case["cusum"], rtol=1e-6, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(result.upper_bound, case["upperbound"], rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(
            result.alarm, np.array(case["alarm"], dtype=bool), err_msg=name
        )
        if "m" in case and "k" not in case:
            assert result.expected[0] == pytest.approx(case["m"], rel=1e-12)


def test_cusum_with_an_all_zero_history_raises_all_zero_baseline():
    with pytest.raises(AllZeroBaselineError):
        cusum([0, 0, 0, 0, 5], start=4)


def test_default_method_depends_on_history_length():
    assert default_aberration_method(52 * 3 + 27) == "farrington_flexible"
    assert default_aberration_method(52 * 3 + 26) == "ears_c2"
    assert default_aberration_method(10) == "ears_c2"
    with pytest.raises(ShortHistoryError, match="at least 10"):
        default_aberration_method(9)


def test_detect_aberrations_uses_noufaily_settings_on_long_series(golden):
    series = _series(golden)
    result = detect_aberrations(series["s1"])
    assert result.method == "farrington_flexible"
    assert result.parameters["no_periods"] == NOUFAILY_2013["no_periods"]
    assert result.parameters["threshold_method"] == "nbPlugin"
    assert result.parameters["b"] == 5
    # the injected outbreak (weeks 290-293, 1-based) must be flagged
    alarmed = set(result.time_index[result.alarm].tolist())
    assert alarmed & {289, 290, 291, 292}


def test_aberration_result_exports_tidy_rows_with_alarm_flags(golden):
    series = _series(golden)
    result = ears(series["s1"], method="C1")
    rows = result.to_rows(analysis="weekly", outcome="dx.J20", area_code="A1")
    assert len(rows) == len(result.time_index)
    assert set(rows["measure"]) == {"expected_count"}
    alarm_rows = rows[rows["flags"].str.startswith("alarm")]
    assert len(alarm_rows) == int(result.alarm.sum())
    assert (rows["ci_upper"].to_numpy() == result.upper_bound).all()


# --- edge cases that must not be silent (issue 18) ---------------------------------------------


def test_ears_c3_on_a_flat_baseline_reports_a_spike_as_undetermined_never_as_no_alarm():
    # R's earsC gives upperbound NaN and alarm NA here (checked by hand with surveillance 1.20.3)
    result = ears([2.0] * 12 + [9.0], method="C3")
    assert result.status[-1] == "undetermined"
    assert not result.alarm[-1]
    assert result.undetermined.tolist() == [False, True]
    assert "zero_variance_baseline" in result.flags[-1]
    rows = result.to_rows()
    assert rows["flags"].iloc[-1].split(";")[0] == "undetermined"
    assert result.to_frame()["status"].tolist() == ["no_alarm", "undetermined"]


def test_ears_c3_on_a_flat_baseline_without_a_rise_is_a_determined_no_alarm():
    result = ears([2.0] * 13, method="C3")
    assert result.status == ("no_alarm", "no_alarm")
    assert result.upper_bound.tolist() == [2.0, 2.0]


def test_ears_c1_c2_keep_r_decision_on_a_flat_baseline_and_flag_it():
    # R: upper bound = baseline mean, alarm TRUE on the spike (surveillance 1.20.3)
    for method in ("C1", "C2"):
        result = ears([2.0] * 12 + [9.0], method=method)
        assert result.upper_bound[-1] == 2.0
        assert result.status[-1] == "alarm" and result.alarm[-1]
        assert result.flags[-1] == "zero_variance_baseline"


def test_ears_min_sigma_turns_an_undetermined_point_into_a_decision():
    floored = ears([2.0] * 12 + [9.0], method="C3", min_sigma=1.0)
    assert floored.status[-1] == "alarm"
    assert floored.flags[-1] == ""
    quiet = ears([2.0] * 12 + [3.0], method="C3", min_sigma=1.0)
    assert quiet.status[-1] == "no_alarm"


def test_ears_c3_already_above_its_threshold_on_defined_terms_is_an_alarm():
    # the two lagged C2 terms are large; the current week's baseline is flat only if the
    # reference excludes them, so build a series where the lags alone exceed z
    x = [1.0, 3.0, 0.0, 2.0, 1.0, 4.0, 0.0, 2.0, 3.0, 1.0, 30.0, 30.0, 31.0]
    result = ears(x, method="C3")
    assert result.status[-1] == "alarm"


def test_window_and_parameter_types_are_checked_with_the_library_error():
    from analytics.stats.errors import StatsInputError

    with pytest.raises(ShortHistoryError):
        ears(np.ones(10), baseline=12)
    with pytest.raises(StatsInputError, match="whole number of time points"):
        ears(np.ones(20), baseline="7")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match="whole number of time points"):
        ears(np.ones(20), baseline=7.5)  # type: ignore[arg-type]
    with pytest.raises(ShortHistoryError):
        cusum([1.0, 2.0, 3.0], start=3)
    with pytest.raises(StatsInputError, match="must be a number"):
        cusum([1.0, 2.0, 3.0], start=1, k="a")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match="whole number of time points"):
        farrington_flexible(np.ones(300), b=2.5)  # type: ignore[arg-type]


# --- GLR Poisson CUSUM (surveillance::algo.glrpois) ---------------------------------------------


def _glr_cases(golden):
    g = golden("glrpois")
    for case in g["cases"]:
        yield case, np.array(g["series"][case["series"]], float), np.array(g["mu0"][case["series"]])


def test_glr_poisson_matches_surveillance_glrpois_values_cases_and_alarms(golden):
    from analytics.stats.aberration import glr_poisson

    checked = 0
    for case, y, mu0 in _glr_cases(golden):
        window = None if case["M"] == -1 else case["M"]
        result = glr_poisson(y, mu0, c_arl=case["c_arl"], window=window, mtilde=case["Mtilde"])
        np.testing.assert_allclose(result.score, case["value"], rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(result.upper_bound, case["cases"])
        np.testing.assert_array_equal(result.alarm, np.array(case["alarm"], dtype=bool))
        np.testing.assert_array_equal(result.expected, mu0)
        checked += 1
    assert checked == 7


def test_glr_poisson_alarms_on_a_slow_rise_that_single_week_thresholds_miss(golden):
    from analytics.stats.aberration import glr_poisson

    g = golden("glrpois")
    y, mu0 = np.array(g["series"]["y1"], float), np.array(g["mu0"]["y1"])
    glr = glr_poisson(y, mu0)
    assert glr.alarm[100:].any() and not glr.alarm[:100].any()
    # a count above the week's bound alarms; the bound is never below the count that didn't
    quiet = ~glr.alarm
    assert (glr.upper_bound[quiet] > y[quiet]).all()
    assert (glr.upper_bound[glr.alarm] <= y[glr.alarm]).all()


def test_glr_poisson_refuses_bad_means_and_thresholds():
    from analytics.stats.aberration import glr_poisson
    from analytics.stats.errors import StatsInputError

    with pytest.raises(StatsInputError, match="mu0 has"):
        glr_poisson([1, 2, 3], [1.0, 1.0])
    with pytest.raises(StatsInputError):
        glr_poisson([1, 2, 3], [1.0, 0.0, 1.0])
    with pytest.raises(StatsInputError, match="c_arl"):
        glr_poisson([1, 2, 3], [1.0, 1.0, 1.0], c_arl=0)
    with pytest.raises(StatsInputError, match="window"):
        glr_poisson([1, 2, 3], [1.0, 1.0, 1.0], window=0)
