"""The audit's atom grouping on integer arrays numbers groups as the dict-based refinement did
(first appearance), so a build's cells and audit read the same before and after (issue #20)."""

from __future__ import annotations

import numpy as np

from reports.privacy.audit import _first_seen_ids


def test_rows_are_numbered_in_the_order_they_first_appear() -> None:
    rows = np.array([[5, -1], [2, 0], [5, -1], [0, 3], [2, 0], [9, 9]])
    assert _first_seen_ids(rows).tolist() == [0, 1, 0, 2, 1, 3]


def test_the_numbering_is_what_a_dict_setdefault_gives_on_random_rows() -> None:
    rng = np.random.default_rng(20)
    rows = rng.integers(-2, 4, size=(500, 3))
    ids: dict[tuple[int, ...], int] = {}
    expected = [ids.setdefault(tuple(row), len(ids)) for row in rows.tolist()]
    assert _first_seen_ids(rows).tolist() == expected


def test_no_rows_give_no_ids() -> None:
    assert _first_seen_ids(np.zeros((0, 2), dtype=np.int64)).tolist() == []
