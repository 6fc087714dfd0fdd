"""analytics/extraction.py: the fingerprint's ranking of surrogate ids (pure: no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.extraction import Datasets, _dense_rank

EMPTY = pd.DataFrame()


def by_sorting(values: np.ndarray) -> np.ndarray:
    """The definition: each value's position among the sorted distinct values."""
    return np.searchsorted(np.unique(values), values)


def test_ids_read_in_order_are_ranked_as_sorting_would_rank_them() -> None:
    ids = np.repeat(np.array([3, 8, 9, 40, 41, 1000], dtype=np.int64), [1, 4, 2, 7, 1, 3])
    ranked = _dense_rank(ids)
    assert ranked.dtype == np.int64
    assert ranked.tolist() == by_sorting(ids).tolist()
    assert ranked.tolist() == [0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 5, 5, 5]


def test_ids_out_of_order_are_ranked_by_sorting() -> None:
    ids = np.random.default_rng(7).integers(1, 50, size=500)
    assert _dense_rank(ids).tolist() == by_sorting(ids).tolist()
    assert _dense_rank(ids[::-1]).tolist() == by_sorting(ids[::-1]).tolist()


def test_no_ids_give_no_ranks() -> None:
    assert _dense_rank(np.array([], dtype=np.int64)).tolist() == []


def datasets_with(resident_ids: list[int], visit_ids: list[int]) -> Datasets:
    observations = pd.DataFrame(
        {"resident_id": resident_ids, "visit_id": visit_ids, "value": [1.5, 2.5, 3.5, 4.5]}
    )
    return Datasets(
        codes=EMPTY,
        sites=EMPTY,
        areas=EMPTY,
        population=EMPTY,
        residents=EMPTY,
        observations=observations,
        stations=EMPTY,
        measurements=EMPTY,
    )


def test_the_same_data_under_other_surrogate_ids_has_the_same_fingerprint() -> None:
    here = datasets_with([1, 1, 2, 5], [10, 11, 12, 13])
    elsewhere = datasets_with([101, 101, 102, 105], [7, 9, 30, 31])
    assert here.fingerprint() == elsewhere.fingerprint()


def test_observations_of_another_resident_give_another_fingerprint() -> None:
    here = datasets_with([1, 1, 2, 5], [10, 11, 12, 13])
    moved = datasets_with([1, 2, 2, 5], [10, 11, 12, 13])
    assert here.fingerprint() != moved.fingerprint()
