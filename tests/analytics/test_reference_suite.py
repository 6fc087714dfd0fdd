"""bench/reference_suite.py is an independent baseline: it imports nothing from analytics but
the standard population tables, and its vectorised formulas equal the suite's methods."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "bench" / "reference_suite.py"


def load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_suite", REFERENCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_suite", module)
    spec.loader.exec_module(module)
    return module


def test_the_reference_computes_with_nothing_from_analytics_but_the_standard_populations() -> None:
    tree = ast.parse(REFERENCE.read_text())
    measured_side = {"run_suite"}  # the suite's own functions, timed against the reference
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in measured_side:
            node.body = []
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    from_analytics = {name for name in imported if name.split(".")[0] == "analytics"}
    assert from_analytics == {"analytics.stats.standard_populations"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_reference_standardized_rate_equals_the_suites_method(seed: int) -> None:
    from analytics.stats import rates

    reference = load_reference()
    rng = np.random.default_rng(seed)
    n = rng.uniform(0, 400, size=(4, 18))
    n[:, :3] = np.where(rng.random((4, 3)) < 0.5, 0.0, n[:, :3])  # some bands absent
    x = np.where(n > 0, rng.poisson(3, size=n.shape), 0).astype(float)
    weights = np.array([reference.STANDARDS["us_2000"][b] for b in reference.AGE_BANDS])
    y, lower, upper, full = reference.standardized(x, n, np.broadcast_to(weights, n.shape), 0.9)
    for i in range(len(n)):
        present = n[i] > 0
        expected = rates.direct_standardized_rate(
            x[i][present].tolist(),
            n[i][present].tolist(),
            "us_2000",
            bands=[b for b, keep in zip(reference.AGE_BANDS, present, strict=True) if keep],
            per=1.0,
            conf=0.9,
        )
        assert y[i] == pytest.approx(expected.estimate, rel=1e-12)
        assert lower[i] == pytest.approx(expected.ci_lower, rel=1e-9)
        assert upper[i] == pytest.approx(expected.ci_upper, rel=1e-9)
        assert full[i] == present.all()


def test_the_reference_uses_the_suites_default_exposure_parameters() -> None:
    from analytics import suite
    from analytics.stats import exposure, regression

    reference = load_reference()
    defaults = suite.DEFAULT_PARAMETERS
    assert (defaults["near_km"], defaults["far_km"]) == (reference.NEAR_KM, reference.FAR_KM)
    assert (
        defaults["pollutant"],
        defaults["pollutant_per"],
        defaults["conf"],
    ) == (reference.POLLUTANT, reference.POLLUTANT_PER, reference.CONF)
    assert reference.COVARIATES == suite.COVARIATES
    assert reference.REFERENCE_LEVELS == suite.REFERENCE
    assert [*reference.AGE_GROUP_EDGES, (None, "65+")] == [
        (edge, label) for (_, label), edge in zip(suite.AGE_GROUPS, [15, 45, 65, None], strict=True)
    ]
    assert [lo for lo, _ in suite.AGE_GROUPS][1:] == [e for e, _ in reference.AGE_GROUP_EDGES]
    assert (reference.IDW_POWER, reference.IDW_RADIUS_KM, reference.EARTH_RADIUS_KM) == (
        exposure.DEFAULT_IDW_POWER,
        exposure.DEFAULT_IDW_RADIUS_KM,
        exposure.EARTH_RADIUS_KM,
    )
    assert reference.DISPERSION_THRESHOLD == regression.DISPERSION_THRESHOLD


def _stations(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    return 44.15 + rng.normal(0, 0.05, count), -105.9 + rng.normal(0, 0.07, count)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_reference_idw_equals_the_suites_method_on_random_stations(seed: int) -> None:
    from analytics.stats.exposure import idw

    reference = load_reference()
    rng = np.random.default_rng(seed)
    s_lat, s_lon = _stations(rng, 6)
    lat, lon = 44.15 + rng.normal(0, 0.12, 300), -105.9 + rng.normal(0, 0.15, 300)
    lat[:2], lon[:2] = s_lat[1], s_lon[1]  # at a station: its own value
    lat[2], lon[2] = s_lat[3] + 0.000005, s_lon[3]  # within 1 m of one
    values = rng.uniform(10, 40, size=(6, 4))
    values[0, 1] = values[3, 2] = values[1, 3] = np.nan  # stations without a mean that year
    grid = reference.idw_matrix(lat, lon, s_lat, s_lon, values)
    assert np.isnan(grid).any() and (~np.isnan(grid)).any()  # some points beyond 10 km
    for k in range(values.shape[1]):
        measured = ~np.isnan(values[:, k])
        expected = idw(
            lat.tolist(),
            lon.tolist(),
            s_lat[measured].tolist(),
            s_lon[measured].tolist(),
            values[measured, k].tolist(),
        ).value
        np.testing.assert_array_equal(np.isnan(grid[:, k]), np.isnan(expected))
        np.testing.assert_allclose(grid[:, k], expected, rtol=1e-13)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_reference_pollutant_levels_equal_the_suites_modelled_pollutant(seed: int) -> None:
    from types import SimpleNamespace

    import pandas as pd

    from analytics import suite

    reference = load_reference()
    rng = np.random.default_rng(seed)
    s_lat, s_lon = _stations(rng, 4)
    days = pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, 600), "D")
    below = rng.random(600) < 0.1
    measurements = pd.DataFrame(
        {
            "station_code": rng.choice(["A", "B", "C", "D"], 600),
            "sampled_on": days,
            "pollutant": np.where(rng.random(600) < 0.8, "pm10", "so2"),
            "value": np.where(below, np.nan, rng.gamma(4, 6, 600)),
            "below_lod": below,
            "lod": np.where(below, 2.0, np.nan),
        }
    )
    measurements = measurements[~((measurements["station_code"] == "D") & (days.year == 2022))]
    stations = pd.DataFrame(
        {"station_code": ["A", "B", "C", "D"], "latitude": s_lat, "longitude": s_lon}
    )
    ry = pd.DataFrame(
        {
            "year": rng.integers(2021, 2025, 400),  # 2024: no measurement at all
            "grid_latitude": np.round(44.15 + rng.normal(0, 0.08, 400), 4),
            "grid_longitude": np.round(-105.9 + rng.normal(0, 0.1, 400), 4),
        }
    )
    ry.loc[:9, ["grid_latitude", "grid_longitude"]] = np.nan  # not located
    params = suite.clean_parameters({})
    data = SimpleNamespace(measurements=measurements, stations=stations)
    modelled = suite.modelled_pollutant(ry, data, params)  # type: ignore[arg-type]
    expected = (modelled / params["pollutant_per"]).round(2)
    # the station means as STATION_MEANS computes them in SQL
    pm10 = measurements[measurements["pollutant"] == "pm10"]
    means = (
        pm10.assign(
            c=np.where(pm10["below_lod"], pm10["lod"] / np.sqrt(2), pm10["value"]),
            year=pm10["sampled_on"].dt.year,
        )
        .groupby(["station_code", "year"], as_index=False)["c"]
        .mean()
        .merge(stations, on="station_code")
        .rename(columns={"station_code": "code", "c": "mean"})
    )
    keys = pd.DataFrame(
        {
            "located": ry["grid_latitude"].notna(),
            "latitude": ry["grid_latitude"].fillna(0),
            "longitude": ry["grid_longitude"].fillna(0),
            "year": ry["year"],
        }
    )
    strata = reference.Strata(keys, np.ones(len(keys)), np.zeros((len(keys), 1)))
    levels = reference.pollutant_levels(strata, means)
    assert expected.notna().sum() > 100 and expected.isna().sum() > 10
    np.testing.assert_array_equal(levels, expected.to_numpy())


TREND_CASES = [
    ([30, 45, 80], [900.0, 800.0, 700.0]),
    ([12, 10, 9], [400.0, 410.0, 380.0]),
    ([0, 0, 5], [100.0, 100.0, 100.0]),  # events only at the top: estimate inf, open upper
    ([4, 0, 0], [50.0, 80.0, 30.0]),  # only at the bottom: estimate 0
    ([0, 3, 0], [100.0, 100.0, 100.0]),
    ([1, 0, 7], [1000.0, 20.0, 5.0]),
]


@pytest.mark.parametrize(("events", "person_years"), TREND_CASES)
def test_the_reference_score_trend_and_its_interval_equal_the_suites(
    events: list[int], person_years: list[float]
) -> None:
    from analytics.stats.regression import trend_test_rates

    reference = load_reference()
    y, t, s = np.array(events, float), np.array(person_years), np.array([0.0, 1.0, 2.0])
    ours = reference.score_trend(y, t, s, 0.95)
    theirs = trend_test_rates(events, person_years, [0, 1, 2], conf=0.95)
    assert ours["flags"] == ";".join(theirs.flags)
    for name in ("estimate", "ci_lower", "ci_upper", "p_value", "numerator", "denominator"):
        assert ours[name] == pytest.approx(getattr(theirs, name), rel=1e-9, abs=0), name


def _patterns(rng: np.random.Generator, overdispersion: float | None) -> pd.DataFrame:
    import pandas as pd

    grid = pd.MultiIndex.from_product(
        [
            ["far", "middle", "near"],
            ["0-14", "15-44", "45-64", "65+"],
            ["F", "M"],
            ["current", "former", "never"],
            ["no", "yes"],
        ],
        names=["distance_band", "age_group", "sex", "smoking", "works_at_site"],
    ).to_frame(index=False)
    grid["person_years"] = rng.uniform(20, 300, len(grid)).round()
    effect = (
        0.4 * (grid["distance_band"] == "near")
        + 0.2 * (grid["distance_band"] == "middle")
        + 0.3 * (grid["smoking"] == "current")
        + 0.02 * grid["age_group"].str.extract(r"^(\d+)")[0].astype(float)
    )
    mu = grid["person_years"] * 0.02 * np.exp(effect)
    if overdispersion is not None:
        mu = mu * rng.gamma(overdispersion, 1 / overdispersion, len(grid))
    grid["events"] = rng.poisson(mu).astype(float)
    return grid


def _assert_model_equals(reference: ModuleType, frame: pd.DataFrame, covariates: list[str]) -> Any:
    from analytics import suite
    from analytics.stats.regression import poisson_regression

    x, names = reference.treatment_design(frame, covariates)
    ours = reference.rate_model(
        frame["events"].to_numpy(float), frame["person_years"].to_numpy(float), x, names
    )
    theirs = poisson_regression(
        frame,
        events="events",
        person_time="person_years",
        covariates=covariates,
        reference=suite.REFERENCE,
        family="auto",
    )
    assert ours.family == theirs.family
    assert [e.stratum for e in theirs.estimates] == names[1:]
    for term in names[1:]:
        ratio, expected = reference.wald_ratio(ours, term, 0.95), theirs.estimate(term)
        for name in ("estimate", "ci_lower", "ci_upper", "p_value"):
            assert ratio[name] == pytest.approx(getattr(expected, name), rel=1e-9), (term, name)
    return ours, theirs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_reference_poisson_rate_model_equals_the_suites_regression(seed: int) -> None:
    reference = load_reference()
    frame = _patterns(np.random.default_rng(seed), overdispersion=None)
    ours, _ = _assert_model_equals(reference, frame, ["distance_band", *reference.COVARIATES])
    assert ours.family == "poisson"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_reference_negative_binomial_fit_equals_the_suites_on_overdispersed_counts(
    seed: int,
) -> None:
    reference = load_reference()
    frame = _patterns(np.random.default_rng(seed), overdispersion=2.0)
    frame["pollutant_level"] = np.random.default_rng(seed).uniform(1, 4, len(frame)).round(2)
    for covariates in (
        ["distance_band", *reference.COVARIATES],
        ["pollutant_level", *reference.COVARIATES],
    ):
        ours, theirs = _assert_model_equals(reference, frame, covariates)
        assert ours.family == "negative_binomial"
        assert ours.theta == pytest.approx(theirs.theta, rel=1e-9)


def test_a_large_pearson_dispersion_without_overdispersion_keeps_the_poisson_fit() -> None:
    """Pearson dispersion above 1.5 from one event on little person-time, yet the likelihood's
    slope in 1/θ is negative (θ = ∞, the LR statistic 0): methods.md §3's rule keeps the Poisson
    fit. The suite used to refuse the model (its exposure part then had crude ratios only)."""

    reference = load_reference()
    frame = _patterns(np.random.default_rng(5), overdispersion=None)
    frame["events"] = np.random.default_rng(6).poisson(frame["person_years"] * 0.002).astype(float)
    frame.loc[0, ["events", "person_years"]] = [2.0, 1.0]
    covariates = ["distance_band", *reference.COVARIATES]
    x, _names = reference.treatment_design(frame, covariates)
    y, t = frame["events"].to_numpy(float), frame["person_years"].to_numpy(float)
    poisson = reference._glm(y, x, np.log(t), None)
    fitted = t * np.exp(x @ poisson.params)
    assert np.sum((y - fitted) ** 2 / fitted) / (len(y) - x.shape[1]) > 1.5
    with pytest.raises(reference.NoOverdispersion):
        reference.negative_binomial_theta(y, x, np.log(t), np.asarray(poisson.params))
    ours, theirs = _assert_model_equals(reference, frame, covariates)
    assert ours.family == theirs.family == "poisson"
    assert "nb_lr_p=1" in theirs.notes
