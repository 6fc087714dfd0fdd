"""Issue 12's reproduction: a small area's denominator must not narrow any suppressed cell.

A new area S, enrolled in the latest year with 6 residents (fewer than T), published in two
versions whose distance bands group the areas differently. Before issue 12 every row published
its resident-years as is: the attacker read S's 6, so S's events ≤ 6 and, through
near = A + S = 15, area A ∈ [9, 15] — narrower than T (the failing run is quoted in the
issue-12 report). With resident-years as cells of their own (``denominator_key``) and the
nesting events ≤ resident-years declared, nothing may be learnt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reports.privacy import (
    Atom,
    Cell,
    Derived,
    DerivedKind,
    Nesting,
    ProtectedRelease,
    Rules,
    Table,
    protect_release,
)
from tests.reports.privacy.attacker import attack, describe, public_release

T = 10
SEXES = ("F", "M")
AREAS = ("A", "B", "C", "S")
YEARS = (2024, 2025)
OUTCOME, PEOPLE = "dx.J45", "resident_years"
RELATIONS = (Nesting((OUTCOME,), (PEOPLE,), "events ≤ resident-years"),)
#: (area, sex, year) → (events, resident-years); S has residents in 2025 only.
DATA = {
    ("A", "F", 2024): (8, 41), ("A", "M", 2024): (6, 39), ("A", "F", 2025): (7, 44),
    ("A", "M", 2025): (5, 41), ("B", "F", 2024): (13, 61), ("B", "M", 2024): (12, 59),
    ("B", "F", 2025): (10, 60), ("B", "M", 2025): (11, 58), ("C", "F", 2024): (6, 31),
    ("C", "M", 2024): (5, 29), ("C", "F", 2025): (3, 30), ("C", "M", 2025): (1, 32),
    ("S", "F", 2025): (2, 4), ("S", "M", 2025): (1, 2),
}  # fmt: skip
COUNTS = {
    Atom(a, s, "all", str(y), o): DATA.get((a, s, y), (0, 0))[i]
    for a in AREAS
    for s in SEXES
    for y in YEARS
    for i, o in enumerate((OUTCOME, PEOPLE))
}


def indicator(key: str, areas: Sequence[str], years: Sequence[int]) -> list[Cell]:
    """An events row and its resident-years row (the events row's denominator)."""

    def atoms(outcome: str) -> frozenset[Atom]:
        return frozenset(
            Atom(a, s, "all", str(y), outcome) for a in areas for s in SEXES for y in years
        )

    events, people = atoms(OUTCOME), atoms(PEOPLE)
    n_events, n_people = (sum(COUNTS[a] for a in x) for x in (events, people))
    rate = Derived("crude_rate_per_1000", DerivedKind.RATE, 1000 * n_events / max(n_people, 1))
    return [
        Cell(f"{key}/people", people, n_people),
        Cell(key, events, n_events, n_people, (rate,), denominator_key=f"{key}/people"),
    ]


def tables(bands: Mapping[str, Sequence[str]]) -> list[Table]:
    by_area = [
        c
        for a in (*AREAS, "ALL")
        for c in indicator(f"by_area/{a}", AREAS if a == "ALL" else [a], [2025])
    ]
    by_distance = [
        c for b, areas in bands.items() for c in indicator(f"by_distance/{b}", areas, [2025])
    ]
    trend = [c for y in YEARS for c in indicator(f"trend/{y}", AREAS, [y])]
    return [
        Table("by_area", tuple(by_area)),
        Table("by_distance", tuple(by_distance)),
        Table("trend", tuple(trend)),
    ]


def two_versions() -> tuple[ProtectedRelease, ProtectedRelease]:
    rules = Rules(threshold=T)
    v1 = protect_release(
        tables({"near": ["A", "S"], "far": ["B", "C"]}), (), rules, relations=RELATIONS
    )
    ledger = list(v1.ledger_entries("RH-SEP/2025/v1"))
    v2 = protect_release(
        tables({"near": ["A"], "middle": ["S", "C"], "far": ["B"]}),
        ledger,
        rules,
        relations=RELATIONS,
    )
    return v1, v2


def test_a_new_small_area_across_two_band_groupings_lets_the_attacker_narrow_nothing() -> None:
    v1, v2 = two_versions()
    releases = [public_release(v1, "RH-SEP/2025/v1"), public_release(v2, "RH-SEP/2025/v2")]
    findings = attack(releases, threshold=T, relations=RELATIONS)
    assert not findings, describe(findings)


def test_the_small_area_s_resident_years_are_withheld_and_so_is_every_rate_on_them() -> None:
    for release in two_versions():
        people = release.cell("by_area/S/people")
        events = release.cell("by_area/S")
        assert people.count is None and events.denominator is None
        assert all(d.value is None for d in events.derived)
        shown = [c.denominator for c in release.cells() if c.denominator is not None]
        assert shown and all(d == 0 or d >= T for d in shown)
