"""The standard suite finds what was planted in the synthetic community (truth.json)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from analytics.extraction import Datasets
from tests.analytics.conftest import CommunityResults

# The community is imported into the test database (and rolled back) once per session.
pytestmark = pytest.mark.django_db


def rows(results: CommunityResults, part: str, **where: str) -> pd.DataFrame:
    frame = results.outputs[part].rows
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return frame


def one(frame: pd.DataFrame) -> pd.Series:
    assert len(frame) == 1, frame
    return frame.iloc[0]


def test_the_adjusted_rate_ratio_near_the_plant_recovers_the_planted_effect(
    community_results: CommunityResults,
) -> None:
    planted = community_results.truth["effects"]["respiratory_dose_response"]
    outcome = planted["code"]
    true_rr = planted["rate_ratio"]["near_vs_far"]
    exposure = rows(community_results, "exposure", outcome=outcome, stratum="distance_band=near")
    adjusted = one(exposure[exposure["measure"] == "adjusted_rate_ratio"])
    crude = one(exposure[exposure["measure"] == "crude_rate_ratio"])
    assert adjusted["ci_lower"] > 1
    assert adjusted["ci_lower"] <= true_rr <= adjusted["ci_upper"]
    # Near areas are older and smoke more: the crude ratio is confounded upwards.
    assert abs(crude["estimate"] - true_rr) > abs(adjusted["estimate"] - true_rr)


def test_a_negative_control_symptom_shows_no_distance_effect(
    community_results: CommunityResults,
) -> None:
    control = sorted(community_results.truth["negative_controls"]["symptoms_without_any_effect"])[0]
    exposure = rows(community_results, "exposure", outcome=control, stratum="distance_band=near")
    adjusted = one(exposure[exposure["measure"] == "adjusted_rate_ratio"])
    assert adjusted["ci_lower"] <= 1 <= adjusted["ci_upper"]


def test_the_planted_annual_trend_lies_in_the_apc_interval(
    community_results: CommunityResults,
) -> None:
    planted = community_results.truth["effects"]["annual_trend"]
    apc = one(rows(community_results, "trends", outcome=planted["code"]))
    assert apc["measure"].startswith("apc")
    assert apc["ci_lower"] <= planted["annual_percent_change"] <= apc["ci_upper"]


def test_the_planted_outbreak_raises_alerts_in_its_area_and_weeks_only(
    community_results: CommunityResults,
) -> None:
    planted = community_results.truth["effects"]["acute_respiratory_outbreak"]
    outbreak, control = planted["outbreak"], planted["control_area"]["area_code"]
    alerts = community_results.outputs["aberration"].alerts
    weeks = {dt.date.fromisoformat(w) for w in outbreak["week_starts"]}
    in_outbreak = [a for a in alerts if a.area_code == outbreak["area_code"] and a.week in weeks]
    assert len(in_outbreak) >= 2, alerts
    assert not [a for a in alerts if a.area_code == control]
    assert all(a.observed > a.upper_bound for a in alerts)


def test_blood_lead_geometric_means_rise_towards_the_plant(
    community_results: CommunityResults,
) -> None:
    planted = community_results.truth["effects"]["biomarker_gm_ratio"]["lab.blood_lead"]
    results = rows(community_results, "biomonitoring", outcome="lab.blood_lead")
    gm = results[results["measure"] == "geometric_mean"].set_index("stratum")["estimate"]
    assert gm["distance_band=near"] > gm["distance_band=middle"] > gm["distance_band=far"]
    ratios = results[results["analysis"] == "biomonitoring_gm_ratio"]
    near = one(ratios[ratios["stratum"].str.contains("near")])
    assert near["ci_lower"] <= planted["gm_ratio"]["near_vs_far"] <= near["ci_upper"]


def test_every_result_row_has_a_unique_key(community_results: CommunityResults) -> None:
    key = ["analysis", "outcome", "area_code", "period", "stratum", "measure"]
    for name, output in community_results.outputs.items():
        duplicated = output.rows[output.rows.duplicated(key, keep=False)]
        assert duplicated.empty, (name, duplicated.head())


def test_an_undetermined_decision_becomes_an_alert_of_its_own_kind() -> None:
    from analytics import suite

    method = suite.alert_method("ears_c3", undetermined=True)
    assert method != "ears_c3" and suite.alert_is_undetermined(method)
    assert not suite.alert_is_undetermined(suite.alert_method("ears_c3", undetermined=False))
    assert len(method) <= 48  # Alert.method


def test_the_aberration_part_carries_an_undetermined_week_into_rows_and_alerts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from analytics import suite
    from analytics.stats import aberration

    weeks = pd.date_range("2025-01-06", periods=13, freq="7D")
    weekly = pd.DataFrame({"area_code": "A02", "week": weeks, "count": [2] * 12 + [9]})
    monkeypatch.setattr(suite, "weekly_counts", lambda data, params=None: weekly)
    monkeypatch.setattr(
        suite, "detect", lambda counts, params: aberration.ears(counts, method="C3")
    )
    output = suite.part_aberration(None, suite.clean_parameters({}))  # type: ignore[arg-type]
    alarm_rows = output.rows[output.rows["measure"] == "alarm"]
    last = alarm_rows.iloc[-1]
    assert pd.isna(last["estimate"]) and "undetermined" in last["flags"].split(";")
    assert alarm_rows.iloc[0]["estimate"] == 0.0
    assert [a.method for a in output.alerts] == ["ears_c3:undetermined"]
    assert output.alerts[0].week == dt.date(2025, 3, 31)


def test_the_suite_scans_for_clusters_and_finds_raised_cough_around_the_plant(
    community_results: CommunityResults,
) -> None:
    planted = community_results.truth["effects"]["respiratory_dose_response"]
    scan_rows = community_results.outputs["scan"].rows
    site = rows(community_results, "scan", analysis="spatial_scan_site", outcome=planted["code"])
    top = one(site[(site["stratum"] == "cluster=1") & (site["measure"] == "relative_risk")])
    assert top["p_value"] <= 0.05 and "significant" in top["flags"]
    assert top["estimate"] > 1
    sites = {site["site_code"] for site in community_results.truth["geography"]["sites"]}
    assert top["area_code"] in sites
    # the map-ready table: one row per located grid cell, members flagged with their cluster
    cells = site[site["stratum"] == "location"]
    assert len(cells) > 10 and (cells["flags"] == "cluster=1").sum() >= 1
    areas = rows(community_results, "scan", analysis="spatial_scan", outcome=planted["code"])
    assert set(areas.loc[areas["stratum"] == "location", "area_code"]) == {
        f"A{i:02d}" for i in range(1, 11)
    }
    # every outcome was scanned both ways
    assert set(scan_rows["analysis"]) == {"spatial_scan", "spatial_scan_site"}


def test_scan_parameters_are_checked() -> None:
    from analytics import suite

    cleaned = suite.clean_parameters({"scan_replications": "199", "scan_max_share": "0.25"})
    assert cleaned["scan_replications"] == 199 and cleaned["scan_max_share"] == 0.25
    for bad in (
        {"scan_max_share": 0.6},
        {"scan_replications": 10},
        {"scan_replications": 99.5},
        {"scan_alpha": 0.7},
        {"scan_alpha": "x"},
    ):
        with pytest.raises(suite.ParameterError):
            suite.clean_parameters(bad)


def test_the_optional_glr_detector_alarms_on_a_slow_rise_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from analytics import suite

    rng = np.random.default_rng(4)
    weeks = pd.date_range("2021-01-04", periods=4 * 52, freq="7D")
    t = np.arange(len(weeks))
    base = 6 * np.exp(0.4 * np.sin(2 * np.pi * t / 52))
    rise = np.where(t >= 4 * 52 - 30, np.exp(0.03 * (t - (4 * 52 - 30))), 1.0)
    counts = rng.poisson(base * rise)
    weekly = pd.DataFrame({"area_code": "A07", "week": weeks, "count": counts})
    monkeypatch.setattr(suite, "weekly_counts", lambda data, params=None: weekly)
    plain = suite.part_aberration(None, suite.clean_parameters({}))  # type: ignore[arg-type]
    assert "aberration_glr" not in set(plain.rows["analysis"])
    assert all(a.method != "glr_poisson" for a in plain.alerts)
    with_glr = suite.part_aberration(
        None,  # type: ignore[arg-type]
        suite.clean_parameters({"aberration_glr": "true"}),
    )
    glr = with_glr.rows[with_glr.rows["analysis"] == "aberration_glr"]
    assert set(glr["measure"]) == {"observed", "expected", "upper_bound", "glr_statistic", "alarm"}
    glr_alerts = [a for a in with_glr.alerts if a.method == "glr_poisson"]
    assert glr_alerts, "the slow rise in the last 30 weeks is signalled"
    assert min(a.week for a in glr_alerts) >= weeks[4 * 52 - 30].date()
    with pytest.raises(suite.ParameterError):
        suite.clean_parameters({"aberration_glr": "maybe"})


def test_age_standardized_rate_rows_name_the_who_standard_they_used(
    community_results: CommunityResults,
) -> None:
    frame = rows(community_results, "rates")
    standardized = frame[frame["measure"].str.startswith("age_standardized_rate_per_")]
    assert len(standardized) == len(frame) / 2  # one beside each crude rate
    assert standardized["flags"].str.contains("standard=who_world_2000_2025").all()
    assert not frame["flags"].str.contains("standard=custom").any()


@pytest.mark.parametrize("standard", ["who_world_2000_2025", "us_2000"])
def test_standardized_rates_of_many_populations_equal_one_by_one_and_name_the_standard(
    standard: str,
) -> None:
    from analytics.stats import rates
    from analytics.stats.standard_populations import AGE_BANDS

    strata = [
        ([3.0] * 16, [50.0 + i for i in range(16)], list(AGE_BANDS[2:])),  # partial age range
        ([0.0] * 18, [10.0] * 18, list(AGE_BANDS)),  # no events: lower limit 0
        ([1.0, 0.0, 7.0] + [2.0] * 15, [80.0, 0.0, 90.0] + [40.0] * 15, list(AGE_BANDS)),
    ]
    many = rates.direct_standardized_rates(strata, standard, per=1000.0, conf=0.9)
    for (events, years, bands), got in zip(strata, many, strict=True):
        one = rates.direct_standardized_rate(
            events, years, standard, bands=bands, per=1000.0, conf=0.9
        )
        assert got == one
        assert f"standard={standard}" in got.flags
    assert many[1].ci_lower == 0.0 and "zero_events" in many[1].flags
    assert "empty_bands=1" in many[2].flags


def test_crude_rates_of_many_strata_equal_one_by_one() -> None:
    from analytics.stats import rates

    events, years = [0.0, 1.0, 17.0, 3.0], [0.5, 12.0, 340.0, 2.0]
    many = rates.crude_rates(events, years, per=1000.0, conf=0.95)
    assert many == [
        rates.crude_rate(x, t, per=1000.0, conf=0.95) for x, t in zip(events, years, strict=True)
    ]
    with pytest.raises(rates.StatsInputError, match="person_time"):
        rates.crude_rates([1.0], [0.0])


def test_the_rates_part_of_a_database_without_visits_has_no_rows() -> None:
    from analytics import suite
    from analytics.extraction import extract_all

    out = suite.PARTS["rates"](extract_all(), suite.clean_parameters({}))
    assert out.rows.empty
    assert list(out.rows.columns) == list(suite.ROW_FIELDS)


@pytest.mark.parametrize("standard", ["who_world_2000_2025", "us_2000"])
def test_standardized_rate_arrays_equal_the_rates_one_by_one_over_the_bands_present(
    standard: str,
) -> None:
    import numpy as np

    from analytics.stats import rates
    from analytics.stats.standard_populations import AGE_BANDS

    rng = np.random.default_rng(20)
    years = rng.integers(0, 60, size=(40, 18)).astype(float)
    years[:10] = rng.integers(1, 60, size=(10, 18))  # every band present
    events = np.where(years > 0, rng.integers(0, 9, size=(40, 18)), 0).astype(float)
    events[3] = 0.0
    arrays, complete = rates.direct_standardized_rate_arrays(
        events, years, standard, AGE_BANDS, per=1000.0, conf=0.9
    )
    for i in range(len(years)):
        present = years[i] > 0
        one = rates.direct_standardized_rate(
            events[i, present].tolist(),
            years[i, present].tolist(),
            standard,
            bands=[b for b, keep in zip(AGE_BANDS, present, strict=True) if keep],
            per=1000.0,
            conf=0.9,
        )
        got = (arrays.estimate[i], arrays.ci_lower[i], arrays.ci_upper[i])
        assert got == (one.estimate, one.ci_lower, one.ci_upper)  # bit for bit
        assert (arrays.numerator[i], arrays.denominator[i]) == (one.numerator, one.denominator)
        assert arrays.flags[i] == one.flags and arrays.measure == one.measure
        assert complete[i] == present.all()
    assert "zero_events" in arrays.flags[3] and arrays.ci_lower[3] == 0.0
    events[0, 0], years[0, 0] = 2.0, 0.0
    with pytest.raises(rates.StatsInputError, match="events without person-time"):
        rates.direct_standardized_rate_arrays(events, years, standard, AGE_BANDS)


def test_several_annual_percent_changes_equal_the_changes_one_by_one() -> None:
    from analytics.stats import trends

    years = [2019, 2020, 2021, 2022, 2023]
    series = [[5.0, 6.1, 6.0, 7.3, 8.2], [40.0, 31.0, 33.0, 29.5, 20.0], [1.0, 1.0, 2.0, 1.0, 1.0]]
    many = trends.annual_percent_changes(years, series, conf=0.9)
    assert many == [trends.annual_percent_change(years, s, conf=0.9) for s in series]
    with pytest.raises(trends.StatsInputError):
        trends.annual_percent_changes(years, [[1.0, 0.0, 2.0, 3.0, 4.0]])


def test_the_resident_year_index_does_not_depend_on_the_order_of_the_observations() -> None:
    from analytics.extraction import resident_year_index

    observations = pd.DataFrame(
        {
            "resident_id": [7, 3, 7, 3, 3, 7],
            "visited_on": pd.to_datetime(
                ["2024-03-01", "2023-12-31", "2023-05-05", "2024-01-02", "2023-02-01", "2024-03-01"]
            ),
            "code": pd.Categorical(["dx.J45", "dx.J06", "dx.J45", "sx.cough", "dx.J06", "x.bp"]),
            "value_boolean": pd.array([True, True, False, True, True, None], dtype="boolean"),
        }
    )
    residents = pd.DataFrame({"resident_id": [3, 5, 7]})
    shuffled = resident_year_index(observations, residents)
    ordered = resident_year_index(
        observations.sort_values(["resident_id", "visited_on"]), residents
    )
    for index in (shuffled, ordered):
        assert index.resident_id.tolist() == [3, 3, 7, 7]
        assert index.year.tolist() == [2023, 2024, 2023, 2024]
        assert index.resident_row.tolist() == [0, 0, 2, 2]
        assert index.codes == ["dx.J06", "dx.J45", "sx.cough"]
        # resident 3: dx.J06 twice in 2023 (one event), a cough in 2024; resident 7: dx.J45 in
        # 2024 (the 2023 one was negative, the 2024 x.bp unknown)
        pairs = list(zip(index.positive_ry.tolist(), index.positive_code.tolist(), strict=True))
        assert pairs == [(0, 0), (1, 2), (3, 1)]
    with pytest.raises(KeyError, match="not in the residents dataset: \\[7\\]"):
        resident_year_index(observations, residents[residents["resident_id"] != 7])


def test_the_rates_and_trends_sums_equal_the_resident_year_frame_grouped(
    community_results: CommunityResults,
) -> None:
    import numpy as np

    from analytics import suite
    from analytics.stats import periods
    from analytics.stats.standard_populations import AGE_BANDS

    data, params = community_results.datasets, suite.clean_parameters({})
    outcomes = suite.outcomes_of(data)
    ry = suite.resident_years(data, params)
    cells = suite._cells(data, params, outcomes)
    grouped = ry.groupby(["area_code", "distance_band", "year", "age_band"]).agg(
        person_years=("person_years", "sum"), **{o: (o, "sum") for o in outcomes}
    )
    for (area, band, year, age), row in grouped.iterrows():
        at = (
            cells.areas.index(area),
            suite._DISTANCE_ORDER.index(band),
            cells.years.index(year),
            list(AGE_BANDS).index(age),
        )
        assert cells.person_years[at] == row["person_years"]
        assert cells.events[at].tolist() == row[outcomes].astype(float).tolist()
    assert cells.person_years.sum() == len(ry)  # no cell beyond the frame's
    data_end = suite.data_end_of(data, params)
    assert data_end is not None
    last = periods.last_complete_year(data_end)
    yearly = ry[ry["year"] <= last].groupby("year")
    expected = (yearly[outcomes].sum().T / yearly.size() * params["per"]).to_numpy()
    trend = community_results.outputs["trends"].rows
    assert len(trend) and np.isfinite(expected).all()
    assert sorted(trend["outcome"]) == sorted(
        o for o, annual in zip(outcomes, expected, strict=True) if (annual > 0).all()
    )


def test_the_resident_year_frame_from_the_index_equals_the_observations_grouped(
    community_results: CommunityResults,
) -> None:
    from dataclasses import replace

    from analytics import suite

    data, params = community_results.datasets, suite.clean_parameters({})
    grouped = suite._resident_years_grouped(data, params)
    assert data.resident_year_index().observations_sorted
    pd.testing.assert_frame_equal(suite.resident_years(data, params), grouped, check_exact=True)
    # observations in another order: the frame follows them (grouped, as before the index)
    shuffled = replace(data, observations=data.observations.sample(frac=1.0, random_state=1))
    assert not shuffled.resident_year_index().observations_sorted
    pd.testing.assert_frame_equal(
        suite.resident_years(shuffled, params),
        suite._resident_years_grouped(shuffled, params),
        check_exact=True,
    )


def _same_strata(data: Datasets, params: dict[str, Any]) -> None:
    from analytics import suite

    fast = suite.exposure_strata(data, params)
    grouped = suite.exposure_strata_grouped(data, params)
    pd.testing.assert_series_equal(fast.totals, grouped.totals, check_names=False)
    pd.testing.assert_frame_equal(fast.by_band, grouped.by_band)
    pd.testing.assert_series_equal(fast.band_sizes, grouped.band_sizes)
    assert fast.period == grouped.period

    def texts(frame: pd.DataFrame) -> pd.DataFrame:  # categories vs text columns: same values
        keys = [c for c in ("distance_band", *suite.COVARIATES) if c in frame]
        return frame.astype(dict.fromkeys(keys, str))

    pd.testing.assert_frame_equal(
        texts(fast.banded), texts(grouped.banded), check_dtype=False, check_exact=True
    )
    assert (fast.levelled is None) == (grouped.levelled is None)
    if fast.levelled is not None and grouped.levelled is not None:
        assert len(fast.levelled) > 1
        pd.testing.assert_frame_equal(
            texts(fast.levelled), texts(grouped.levelled), check_dtype=False, check_exact=True
        )


def test_the_exposure_strata_from_the_index_equal_the_resident_year_frame_grouped(
    community_results: CommunityResults,
) -> None:
    from dataclasses import replace

    import numpy as np

    from analytics import suite

    data, params = community_results.datasets, suite.clean_parameters({})
    _same_strata(data, params)
    # residents without a distance (left out) or a grid cell (no modelled level), and a year
    # without the pollutant's measurements (no level that year)
    residents = data.residents.copy()
    residents.loc[residents.index[::7], "distance_km"] = np.nan
    residents.loc[residents.index[3::5], ["grid_latitude", "grid_longitude"]] = np.nan
    years = data.measurements["sampled_on"].dt.year
    assert (years == 2023).any() and (years != 2023).any()
    measurements = data.measurements[years != 2023]
    changed = replace(data, residents=residents, measurements=measurements)
    _same_strata(changed, params)
    # no resident with a grid cell (no modelled level at all); no PM10 measured at all
    ungridded = residents.assign(grid_latitude=np.nan, grid_longitude=np.nan)
    _same_strata(replace(data, residents=ungridded), params)
    no_pm10 = data.measurements[data.measurements["pollutant"].astype(str) != "pm10"]
    _same_strata(replace(data, measurements=no_pm10), params)
    # other bands: everyone near or middle (no "far" band, the reference level)
    _same_strata(data, suite.clean_parameters({"near_km": 3.0, "far_km": 500.0}))


def test_the_exposure_part_gives_the_same_rows_from_the_index_as_from_the_grouped_frame(
    community_results: CommunityResults, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics import suite

    data, params = community_results.datasets, suite.clean_parameters({})
    fast = suite.part_exposure(data, params).rows
    monkeypatch.setattr(suite, "exposure_strata", suite.exposure_strata_grouped)
    grouped = suite.part_exposure(data, params).rows
    assert len(fast) > 20 and fast["measure"].str.startswith("adjusted_rate_ratio").any()
    pd.testing.assert_frame_equal(fast, grouped, check_exact=True)


def test_the_exposure_part_of_residents_without_a_known_distance_has_no_rows(
    community_results: CommunityResults,
) -> None:
    from dataclasses import replace

    import numpy as np

    from analytics import suite

    data = community_results.datasets
    nowhere = replace(data, residents=data.residents.assign(distance_km=np.nan))
    assert suite.part_exposure(nowhere, suite.clean_parameters({})).rows.empty
