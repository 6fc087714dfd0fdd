"""What the independent attacker found in the issue-12 audit, shrunk to minimal examples.

Each test states what a correct release must do. Both findings are mended (an unbounded
hidden count is reported as such; a published total minus a published part is a protected
difference), so each test now guards its fix.
"""

from __future__ import annotations

from reports.privacy import (
    Atom,
    Cell,
    LedgerEntry,
    Nesting,
    Rules,
    Table,
    protect_release,
)
from tests.reports.privacy.attacker import attack, describe, ledger_releases, public_release

T = 10


def test_a_lone_small_area_with_nothing_bounding_it_is_suppressed_not_refused() -> None:
    # One resident, no event: every number is suppressed (1 < T; 0 events of 1 is 0 %), and
    # nothing published bounds the resident-years from above.
    people = frozenset({Atom("S0", "F", "all", "2025", "resident_years")})
    events = frozenset({Atom("S0", "F", "all", "2025", "dx.J06")})
    cells = (
        Cell("S0/people", people, 1),
        Cell("S0/dx.J06", events, 0, 1, denominator_key="S0/people"),
    )
    relations = [Nesting(("dx.J06",), ("resident_years",))]
    release = protect_release(
        [Table("by_area", cells)], (), Rules(threshold=5), relations=relations
    )
    assert all(c.count is None for c in release.cells())
    assert not attack([public_release(release, "r1")], threshold=5, relations=relations)


def place(area: str, year: int) -> Atom:
    return Atom(area, "F", "all", str(year), "dx.J45")


def test_a_band_over_all_years_minus_the_band_this_year_does_not_give_a_small_count() -> None:
    # An earlier version grouped A with B ("middle", 2023–2024); the regrouped version puts A
    # with the new area S ("far") and publishes far over 2023–2024 (18) and far in 2024 (14):
    # A + S in 2023 = 4 exactly. S had no residents in 2023 (it is new), so A's 2023 count —
    # suppressed as small by the 2023 report — is 4.
    counts = {
        place("A", 2023): 4,
        place("S", 2023): 0,
        place("B", 2023): 30,
        place("A", 2024): 11,
        place("S", 2024): 3,
        place("B", 2024): 25,
    }
    middle = frozenset(place(a, y) for a in "AB" for y in (2023, 2024))
    ledger = [LedgerEntry("RH-SEP/2024/v1", "exposure/middle", middle, 70)]
    far = frozenset(place(a, y) for a in "AS" for y in (2023, 2024))
    far_2024 = frozenset(place(a, 2024) for a in "AS")
    cells = (
        Cell("exposure/far", far, sum(counts[a] for a in far)),
        Cell("by_distance/far", far_2024, sum(counts[a] for a in far_2024)),
    )
    release = protect_release([Table("v2", cells)], ledger, Rules(threshold=T), atom_counts=counts)
    findings = attack(
        [*ledger_releases(ledger), public_release(release, "RH-SEP/2024/v2")], threshold=T
    )
    assert not findings, describe(findings)
