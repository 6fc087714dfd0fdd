"""The site-centred scan on generated communities: it finds the planted effect near the plant
(symptom.cough) and, at the documented α, rarely flags the negative-control symptoms (no
planted effect), over repeated seeds. A longer sweep: bench/scan_sweep.py (docs/methods.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import suite
from surveys.synthetic import generate_community
from surveys.synthetic import params as planted
from tests.analytics.synthetic_scan import community_resident_years, community_sites

SEEDS = (101, 102, 103, 104)
RESIDENTS = 2500
YEARS = 5
NEGATIVE_CONTROLS = sorted(planted.OTHER_SYMPTOMS)


@pytest.fixture(scope="module")
def decisions(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, str], float]:
    params = suite.clean_parameters({"scan_replications": 499})
    outcomes = [planted.COUGH_CODE, *NEGATIVE_CONTROLS]
    p_values: dict[tuple[int, str], float] = {}
    for seed in SEEDS:
        folder: Path = tmp_path_factory.mktemp(f"community{seed}")
        generate_community(residents=RESIDENTS, years=YEARS, seed=seed, out_dir=folder)
        ry = community_resident_years(folder, outcomes)
        sites = community_sites(folder)
        for outcome in outcomes:
            cells = suite.scan_locations(ry, outcome, by="cell")
            result = suite.site_centred_scan(cells, sites, params)
            top = result.most_likely
            p_values[(seed, outcome)] = top.p_value if top else 1.0
    return p_values


def test_the_site_centred_scan_finds_the_effect_planted_near_the_plant_in_every_seed(
    decisions: dict[tuple[int, str], float],
) -> None:
    alpha = suite.DEFAULT_PARAMETERS["scan_alpha"]
    assert all(decisions[(seed, planted.COUGH_CODE)] <= alpha for seed in SEEDS)


def test_the_site_centred_scan_rarely_flags_outcomes_without_a_planted_effect(
    decisions: dict[tuple[int, str], float],
) -> None:
    alpha = suite.DEFAULT_PARAMETERS["scan_alpha"]
    tests = [decisions[(seed, code)] for seed in SEEDS for code in NEGATIVE_CONTROLS]
    false_positives = sum(p <= alpha for p in tests)
    # 16 null tests at α = 0.05: 0.8 expected; P(≥ 4 | α) ≈ 0.007 if the test holds its level
    assert false_positives <= 3, f"{false_positives} of {len(tests)} null outcomes flagged"


def test_expected_counts_by_stratum_number_equal_those_by_the_stratum_keys_to_the_bit() -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    size = 5000
    ry = pd.DataFrame(
        {
            "age_band": rng.choice(["0-4", "5-14", "15-44", "45-64", "65+"], size),
            "sex": rng.choice(["female", "male"], size),
            "smoking": rng.choice(["never", "former", "current"], size).astype(object),
            "person_years": rng.uniform(0.1, 1.0, size),
            "outcome": rng.poisson(0.3, size).astype(float),
        }
    )
    ry.loc[7, "smoking"] = None  # a resident-year without the key: no stratum, no expectation
    keys = list(suite.SCAN_STANDARDIZE_BY)
    grouped = ry.groupby(keys, observed=True)
    by_keys = grouped["outcome"].transform("sum") / grouped["person_years"].transform("sum")
    by_keys = by_keys * ry["person_years"]
    strata = suite.scan_strata(ry)
    assert strata.isna().sum() == 1 and strata.nunique() == 5 * 2 * 3
    by_number = suite.scan_expected(ry, "outcome", strata)
    pd.testing.assert_series_equal(by_number, by_keys, check_exact=True, check_names=False)
    pd.testing.assert_series_equal(suite.scan_expected(ry, "outcome"), by_number, check_exact=True)
