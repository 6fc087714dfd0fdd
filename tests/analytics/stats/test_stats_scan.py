"""Kulldorff's circular scan against the New York leukaemia values of smerc/SaTScan and against
an independent brute-force scan written here from the definition."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.stats.errors import AllZeroBaselineError, StatsInputError
from analytics.stats.scan import build_windows, circular_scan, log_likelihood_ratio

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ny() -> pd.DataFrame:
    return pd.read_csv(DATA / "ny_leukemia.csv")


@pytest.fixture(scope="module")
def ny_scan(ny: pd.DataFrame):  # type: ignore[no-untyped-def]
    return circular_scan(
        np.floor(ny["cases"].to_numpy()),
        ny["population"].to_numpy(),
        ny["latitude"].to_numpy(),
        ny["longitude"].to_numpy(),
        labels=[str(i + 1) for i in range(len(ny))],
        metric="euclidean",
        max_population_share=0.1,
        replications=999,
        max_clusters=10,
    )


def test_the_new_york_leukaemia_clusters_match_smerc_and_satscan(golden, ny_scan):  # type: ignore[no-untyped-def]
    reference = golden("scan_ny_leukemia")
    assert ny_scan.total_cases == 552
    for ref in reference["clusters"]:
        got = ny_scan.clusters[ref["rank"] - 1]
        assert [m + 1 for m in got.members] == ref["locids_1_based"]  # same window, same order
        assert got.population == ref["population"]
        assert got.observed == ref["cases"]
        assert round(got.expected, 2) == ref["expected"]
        assert round(got.observed / got.expected, 2) == ref["smr"]
        assert round(got.relative_risk, 2) == ref["rr"]
        assert got.llr == pytest.approx(ref["llr"], abs=5e-7)  # printed to 6 decimals
        assert round(got.radius_km, ref["radius_digits"]) == ref["radius"]
    # Monte Carlo p-values are random; SaTScan's were 0.001 and 0.976 (999 replications)
    assert ny_scan.clusters[0].p_value <= 0.01
    assert ny_scan.clusters[6].p_value > 0.9


def test_secondary_clusters_share_no_location_and_fall_in_llr(ny_scan):  # type: ignore[no-untyped-def]
    seen: set[int] = set()
    for c in ny_scan.clusters:
        assert seen.isdisjoint(c.members)
        seen.update(c.members)
    llrs = [c.llr for c in ny_scan.clusters]
    assert llrs == sorted(llrs, reverse=True)
    assert [c.rank for c in ny_scan.clusters] == list(range(1, len(llrs) + 1))


# --- the brute-force reference ------------------------------------------------------------------


def brute_force_scan(cases, pop, y, x, share, min_cases=2):  # type: ignore[no-untyped-def]
    """Every circle centred on a location through every other location, by explicit distance
    comparison and the LLR formula in plain Python floats."""
    n = len(cases)
    total_c = float(sum(cases))
    total_p = float(sum(pop))
    best: tuple[float, frozenset[int]] = (0.0, frozenset())
    for i in range(n):
        distances = [math.hypot(y[j] - y[i], x[j] - x[i]) for j in range(n)]
        for r in sorted(set(distances)):
            inside = [j for j in range(n) if distances[j] <= r]
            p_in = sum(pop[j] for j in inside)
            if p_in > share * total_p:
                break
            c_in = float(sum(cases[j] for j in inside))
            e_in = total_c * p_in / total_p
            if c_in <= e_in or c_in < min_cases:
                continue
            llr = c_in * math.log(c_in / e_in)
            if total_c > c_in:
                llr += (total_c - c_in) * math.log((total_c - c_in) / (total_c - e_in))
            if llr > best[0] + 1e-12:
                best = (llr, frozenset(inside))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_the_most_likely_cluster_equals_a_brute_force_scan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    y, x = rng.uniform(0, 10, n), rng.uniform(0, 10, n)
    pop = rng.integers(200, 3000, n).astype(float)
    risk = np.where(np.hypot(y - 3, x - 6) < 2.5, 2.5, 1.0)  # a planted hot spot
    cases = rng.poisson(pop * risk * 0.004).astype(float)
    share = [0.5, 0.25, 0.1][seed % 3]
    llr, members = brute_force_scan(cases.tolist(), pop.tolist(), y, x, share)
    result = circular_scan(
        cases, pop, y, x, metric="euclidean", max_population_share=share, replications=0
    )
    top = result.most_likely
    assert top is not None
    assert top.llr == pytest.approx(llr, rel=1e-12)
    assert frozenset(top.members) == members


def test_the_vectorised_replicate_maxima_equal_brute_force_scans_of_the_same_tables() -> None:
    rng = np.random.default_rng(11)
    n = 20
    y, x = rng.uniform(0, 5, n), rng.uniform(0, 5, n)
    pop = rng.integers(100, 900, n).astype(float)
    expected = 60 * pop / pop.sum()
    tables = rng.multinomial(60, pop / pop.sum(), size=8).astype(float)
    dist = np.hypot(y[:, None] - y[None, :], x[:, None] - x[None, :])
    windows = build_windows(dist, expected, max_population_share=0.3)
    fast = windows.max_llr(tables, expected)
    slow = [brute_force_scan(t.tolist(), pop.tolist(), y, x, 0.3)[0] for t in tables]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_the_monte_carlo_p_value_counts_replicates_at_or_above_the_observed_llr() -> None:
    rng = np.random.default_rng(3)
    y, x = rng.uniform(0, 5, 25), rng.uniform(0, 5, 25)
    pop = rng.integers(100, 900, 25).astype(float)
    cases = rng.poisson(pop * 0.01).astype(float)
    result = circular_scan(cases, pop, y, x, metric="euclidean", replications=199, seed=5)
    again = circular_scan(cases, pop, y, x, metric="euclidean", replications=199, seed=5)
    top = result.most_likely
    assert top is not None and again.most_likely is not None
    expected_p = (1 + int(np.sum(result.null_max_llr >= top.llr))) / 200
    assert top.p_value == pytest.approx(expected_p)
    assert again.most_likely.p_value == top.p_value  # a fixed seed reproduces the p-value
    assert len(result.null_max_llr) == 199


def test_locations_at_the_same_distance_enter_a_window_together() -> None:
    # a centre with four neighbours at exactly the same distance (a grid)
    y = np.array([0.0, 1.0, -1.0, 0.0, 0.0, 5.0])
    x = np.array([0.0, 0.0, 0.0, 1.0, -1.0, 5.0])
    pop = np.full(6, 100.0)
    windows = build_windows(np.hypot(y[:, None] - y, x[:, None] - x), pop, max_population_share=1)
    assert windows.sizes[0].tolist() == [1, 5, 6]


def test_the_site_centred_scan_finds_a_raised_risk_around_the_site_and_not_elsewhere() -> None:
    rng = np.random.default_rng(8)
    n = 80
    y, x = rng.uniform(-10, 10, n), rng.uniform(-10, 10, n)
    pop = rng.integers(300, 1500, n).astype(float)
    near = np.hypot(y, x) < 3
    raised = rng.poisson(pop * 0.005 * np.where(near, 2.2, 1.0)).astype(float)
    kw = {"metric": "euclidean", "centres": [(0.0, 0.0)], "replications": 499}
    found = circular_scan(raised, pop, y, x, centre_labels=["PLANT"], **kw)  # type: ignore[arg-type]
    top = found.most_likely
    assert top is not None and top.centre_label == "PLANT"
    assert top.p_value < 0.05 and top.relative_risk > 1.5
    assert set(np.flatnonzero(near)) <= set(top.members)
    assert found.site_centred and found.n_windows <= n


def test_llr_is_zero_for_low_rate_windows_and_below_the_minimum_cases() -> None:
    assert log_likelihood_ratio(3.0, 5.0, 50.0).item() == 0.0
    assert log_likelihood_ratio(1.0, 0.1, 50.0).item() == 0.0  # min_cases = 2
    assert log_likelihood_ratio(1.0, 0.1, 50.0, min_cases=1).item() > 0
    # c = C: the outside term is 0·log 0 = 0
    assert log_likelihood_ratio(10.0, 4.0, 10.0).item() == pytest.approx(10 * math.log(10 / 4))


def test_rows_give_a_map_ready_table_and_one_block_per_cluster(ny_scan) -> None:  # type: ignore[no-untyped-def]
    rows = ny_scan.to_rows(analysis="spatial_scan", outcome="leukaemia", period="1978-1982")
    per_location = rows[rows["stratum"] == "location"]
    assert len(per_location) == 281
    assert set(per_location["measure"]) == {"observed_expected_ratio"}
    members = per_location[per_location["flags"] == "cluster=1"]
    assert sorted(members["area_code"].astype(int)) == sorted(
        m + 1 for m in ny_scan.clusters[0].members
    )
    first = rows[(rows["stratum"] == "cluster=1") & (rows["measure"] == "relative_risk")]
    assert first["estimate"].iloc[0] == pytest.approx(ny_scan.clusters[0].relative_risk)
    assert "significant" in first["flags"].iloc[0]
    keys = ["analysis", "outcome", "area_code", "period", "stratum", "measure"]
    assert not rows.duplicated(keys).any()


def test_bad_scan_input_is_refused_with_the_library_error() -> None:
    y = x = [0.0, 1.0, 2.0]
    with pytest.raises(AllZeroBaselineError):
        circular_scan([0, 0, 0], [10, 10, 10], y, x, metric="euclidean")
    with pytest.raises(StatsInputError, match="max_population_share"):
        circular_scan([1, 2, 3], [10, 10, 10], y, x, max_population_share=0.8, metric="euclidean")
    with pytest.raises(StatsInputError, match="whole numbers"):
        circular_scan([1.5, 2, 3], [10, 10, 10], y, x, metric="euclidean")
    with pytest.raises(StatsInputError, match="no window"):
        circular_scan([1, 2, 3], [10, 1000, 10], [0, 1, 2], [0, 0, 0], max_population_share=0.001)
    with pytest.raises(StatsInputError, match="metric"):
        circular_scan([1, 2, 3], [10, 10, 10], y, x, metric="manhattan")  # type: ignore[arg-type]


def test_the_window_count_grows_with_the_population_share() -> None:
    rng = np.random.default_rng(1)
    y, x = rng.uniform(0, 1, 40), rng.uniform(0, 1, 40)
    pop = rng.integers(10, 100, 40).astype(float)
    dist = np.hypot(y[:, None] - y, x[:, None] - x)
    counts = [build_windows(dist, pop, max_population_share=s).count for s in (0.05, 0.2, 0.5)]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    windows = build_windows(dist, pop, max_population_share=0.2)
    for order, sizes in zip(windows.order, windows.sizes, strict=True):
        for k in sizes:
            assert pop[order[:k]].sum() <= 0.2 * pop.sum() * (1 + 1e-12)
