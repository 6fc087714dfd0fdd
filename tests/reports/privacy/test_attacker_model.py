"""The independent attacker finds what it must: each known attack, on hand-made publications.

The property tests only mean something if the attacker can find a leak when there is one, so
every channel it models is shown here to pin or narrow a hidden count by hand-checkable
arithmetic (the expected ranges are worked out in the comments).
"""

from __future__ import annotations

from collections.abc import Iterable

from reports.privacy import Atom, Nesting
from tests.reports.privacy.attacker import (
    Finding,
    FindingKind,
    PublicCell,
    PublicRelease,
    attack,
)

T = 10


def atoms(*areas: str, outcome: str = "dx.J45", period: str = "2025") -> frozenset[Atom]:
    return frozenset(Atom(a, s, "all", period, outcome) for a in areas for s in ("F", "M"))


def row(
    key: str, cell_atoms: frozenset[Atom], value: int | None, denominator: int | None = None
) -> PublicCell:
    return PublicCell(key, cell_atoms, value, denominator)


def kinds(findings: Iterable[Finding]) -> set[tuple[FindingKind, str, int | None, int | None]]:
    return {(f.kind, f.key, f.lo, f.hi) for f in findings}


def test_a_row_total_minus_the_other_cells_pins_a_lone_suppressed_cell() -> None:
    release = PublicRelease(
        "r1",
        (
            row("A", atoms("A"), None),
            row("B", atoms("B"), 20),
            row("ALL", atoms("A", "B"), 23),
        ),
    )
    # A = 23 − 20 = 3 exactly.
    assert (FindingKind.NARROW_RANGE, "A", 3, 3) in kinds(attack([release], threshold=T))


def test_a_small_area_s_published_denominator_narrows_a_suppressed_neighbour() -> None:
    # The flaw of issue 12: near = A + S = 15 published, S's resident-years (6) published.
    # S ≤ 6 gives A ∈ [15 − 6, 15] = [9, 15]; without the denominator A ∈ [0, 15].
    cells = (
        row("A", atoms("A"), None, 85),
        row("S", atoms("S"), None, 6),
        row("near", atoms("A", "S"), 15, 91),
    )
    found = kinds(attack([PublicRelease("r1", cells)], threshold=T))
    assert (FindingKind.NARROW_RANGE, "A", 9, 15) in found
    assert (FindingKind.NARROW_RANGE, "S", 0, 6) in found
    assert (FindingKind.SMALL_DENOMINATOR, "S", None, None) in found
    without = tuple(PublicCell(c.key, c.atoms, c.value) for c in cells)
    assert not attack([PublicRelease("r1", without)], threshold=T)


def test_a_denominator_cell_bounds_its_counts_atom_by_atom_through_a_nesting() -> None:
    # Resident-years published as their own row (7 < T: itself a finding); events ≤ them.
    ry = row("S/ry", atoms("S", outcome="resident_years"), 7)
    cells = (
        row("A", atoms("A"), None),
        row("S", atoms("S"), None),
        row("near", atoms("A", "S"), 15),
        ry,
    )
    nesting = [Nesting(("dx.J45",), ("resident_years",))]
    found = kinds(attack([PublicRelease("r1", cells)], threshold=T, relations=nesting))
    assert (FindingKind.NARROW_RANGE, "A", 8, 15) in found
    assert (FindingKind.SMALL_COUNT, "S/ry", None, None) in found
    assert (FindingKind.NARROW_RANGE, "A", 8, 15) not in kinds(
        attack([PublicRelease("r1", cells)], threshold=T)
    )


def test_a_code_is_bounded_by_its_group_and_the_group_by_the_sum_of_its_codes() -> None:
    # J20 in A+B = 30; group(B) = 24 caps J20(B) → J20(A) ≥ 6; group(A) = 12 caps J20(A) ≤ 12.
    cells = (
        row("J20/A", atoms("A", outcome="dx.J20"), None),
        row("J20/B", atoms("B", outcome="dx.J20"), None),
        row("J20/AB", atoms("A", "B", outcome="dx.J20"), 30),
        row("ari/A", atoms("A", outcome="acute_respiratory"), 12),
        row("ari/B", atoms("B", outcome="acute_respiratory"), 24),
    )
    relations = [
        Nesting(("dx.J20",), ("acute_respiratory",)),
        Nesting(("acute_respiratory",), ("dx.J06", "dx.J20")),
    ]
    found = kinds(attack([PublicRelease("r1", cells)], threshold=T, relations=relations))
    assert (FindingKind.NARROW_RANGE, "J20/A", 6, 12) in found
    assert not attack([PublicRelease("r1", cells)], threshold=T)
    # The other direction, group ≤ Σ codes: J06(A) = 0 published, J20(A) = 40 − 35 = 5.
    lower = (
        row("ari/A", atoms("A", outcome="acute_respiratory"), None),
        row("ari/AB", atoms("A", "B", outcome="acute_respiratory"), 40),
        row("J06/A", atoms("A", outcome="dx.J06"), 0),
        row("J20/A", atoms("A", outcome="dx.J20"), None),
        row("J20/AC", atoms("A", "C", outcome="dx.J20"), 40),
        row("J20/C", atoms("C", outcome="dx.J20"), 35),
    )
    # ari(A) ≤ J06(A) + J20(A) = 5 → ari(A) ∈ [0, 5]; with code ≤ group too, ari(A) = 5.
    found = kinds(attack([PublicRelease("r1", lower)], threshold=T, relations=relations[1:]))
    assert (FindingKind.NARROW_RANGE, "ari/A", 0, 5) in found
    found = kinds(attack([PublicRelease("r1", lower)], threshold=T, relations=relations))
    assert (FindingKind.NARROW_RANGE, "ari/A", 5, 5) in found


def test_a_published_count_or_denominator_between_one_and_t_minus_one_is_a_finding() -> None:
    cells = (row("A", atoms("A"), 4, 30), row("B", atoms("B"), 0, 3), row("C", atoms("C"), 0, 0))
    found = {(f.kind, f.key) for f in attack([PublicRelease("r1", cells)], threshold=T)}
    assert found == {(FindingKind.SMALL_COUNT, "A"), (FindingKind.SMALL_DENOMINATOR, "B")}
    with_zeros = attack([PublicRelease("r1", cells)], threshold=T, suppress_zeros=True)
    assert {(f.kind, f.key) for f in with_zeros} == {
        (FindingKind.SMALL_COUNT, "A"),
        (FindingKind.SMALL_COUNT, "B"),
        (FindingKind.SMALL_DENOMINATOR, "B"),
        (FindingKind.SMALL_COUNT, "C"),
        (FindingKind.SMALL_DENOMINATOR, "C"),
    }


def test_a_difference_of_two_published_totals_is_pinned_even_when_no_cell_is_suppressed() -> None:
    cells = (row("AB", atoms("A", "B"), 15), row("ABC", atoms("A", "B", "C"), 18))
    found = attack([PublicRelease("r1", cells)], threshold=T)
    assert [(f.kind, f.lo, f.hi) for f in found] == [(FindingKind.DIFFERENCE, 3, 3)]
    bigger = (row("AB", atoms("A", "B"), 15), row("ABC", atoms("A", "B", "C"), 40))
    assert not attack([PublicRelease("r1", bigger)], threshold=T)


def test_a_cell_suppressed_earlier_is_pinned_by_a_later_regrouping() -> None:
    first = PublicRelease(
        "v1",
        (row("C", atoms("C"), None), row("AB", atoms("A", "B"), 15), row("D", atoms("D"), None)),
    )
    second = PublicRelease("v2", (row("ABC", atoms("A", "B", "C"), 18),))
    found = kinds(attack([first, second], threshold=T, differences=False))
    assert found == {(FindingKind.EARLIER_CELL, "C", 3, 3)}


def test_a_revision_that_moves_a_published_value_by_a_small_amount_is_found() -> None:
    before = PublicRelease("v1", (row("A", atoms("A"), 20), row("B", atoms("B"), 30)), "before")
    after = PublicRelease(
        "v2",
        (row("A", atoms("A"), 23), row("B", atoms("B"), None), row("AB", atoms("A", "B"), 60)),
        "after",
    )
    found = attack([before, after], threshold=T)
    # A moved by 3 (published in both); B is derivable in v2 (60 − 23 = 37): moved by 7, and
    # B is a lone suppressed cell of v2 anyway.
    assert (FindingKind.REVISION, "A", 20, 20) in kinds(found)
    assert (FindingKind.REVISION, "B", 37, 37) in kinds(found)
    assert (FindingKind.NARROW_RANGE, "B", 37, 37) in kinds(found)
    big = PublicRelease("v2", (row("A", atoms("A"), 33), row("B", atoms("B"), 30)), "after")
    assert not attack([before, big], threshold=T)


def test_a_suppressed_revised_cell_must_keep_its_earlier_value_inside_its_range() -> None:
    before = PublicRelease("v1", (row("A", atoms("A"), 20),), "before")
    after = PublicRelease(
        "v2",
        (row("A", atoms("A"), None), row("B", atoms("B"), None), row("AB", atoms("A", "B"), 15)),
        "after",
    )
    # A ∈ [0, 15] is T wide, but cannot be 20: the reader learns A changed (by at least 5).
    found = kinds(attack([before, after], threshold=T))
    assert found == {(FindingKind.EXCLUDES_EARLIER, "A", 0, 15)}


def test_numbers_no_data_can_produce_are_reported_as_inconsistent() -> None:
    cells = (row("A", atoms("A"), 12, 40), row("AB", atoms("A", "B"), 11, 50))
    found = attack([PublicRelease("r1", cells)], threshold=T)
    assert [f.kind for f in found] == [FindingKind.INCONSISTENT]


def test_a_rate_beside_a_suppressed_count_or_denominator_is_a_finding() -> None:
    ry = PublicCell("A/ry", atoms("A", outcome="resident_years"), None)
    cells = (
        ry,
        PublicCell("A", atoms("A"), 12, None, "A/ry", ratio=True),
        PublicCell("B", atoms("B"), None, 40, ratio=True),
        PublicCell("C", atoms("C"), 15, 40, ratio=True),
    )
    found = {(f.kind, f.key) for f in attack([PublicRelease("r1", cells)], threshold=T)}
    assert {(FindingKind.RATIO, "A"), (FindingKind.RATIO, "B")} <= found
    assert (FindingKind.RATIO, "C") not in found


def test_a_published_denominator_column_is_an_equation_on_the_denominator_row() -> None:
    # The ry row of S is suppressed but its value shows in the events row's denominator
    # column: 6 people, so S's events ≤ 6 and A ∈ [15 − 6, 15] through the nesting.
    cells = (
        PublicCell("S/ry", atoms("S", outcome="resident_years"), None),
        PublicCell("S", atoms("S"), None, 6, "S/ry"),
        PublicCell("A", atoms("A"), None),
        PublicCell("near", atoms("A", "S"), 15),
    )
    nesting = [Nesting(("dx.J45",), ("resident_years",))]
    found = kinds(attack([PublicRelease("r1", cells)], threshold=T, relations=nesting))
    assert (FindingKind.NARROW_RANGE, "S/ry", 6, 6) in found
    assert (FindingKind.NARROW_RANGE, "A", 9, 15) in found


def test_a_difference_pinned_to_zero_is_a_finding_only_when_zeros_are_suppressed() -> None:
    cells = (row("AB", atoms("A", "B"), 15), row("ABC", atoms("A", "B", "C"), 15))
    assert not attack([PublicRelease("r1", cells)], threshold=T)
    found = attack([PublicRelease("r1", cells)], threshold=T, suppress_zeros=True)
    assert [(f.kind, f.lo, f.hi) for f in found] == [(FindingKind.DIFFERENCE, 0, 0)]
    # "At most 8" certifies no resident: C + D = 33 − 15 = 18, D + E = 30 and E + F = 20 give
    # D ∈ [10, 18], so C ∈ [0, 8] (and F ∈ [0, 8]); nothing is pinned.
    loose = (
        row("AB", atoms("A", "B"), 15),
        row("ABCD", atoms("A", "B", "C", "D"), 33),
        row("DE", atoms("D", "E"), 30),
        row("EF", atoms("E", "F"), 20),
    )
    assert not attack([PublicRelease("r1", loose)], threshold=T, suppress_zeros=True)


def test_a_total_minus_a_published_part_is_found_even_when_a_third_row_splits_it() -> None:
    # far = A + S over 2023–2024 (18) and in 2024 (14): A + S in 2023 = 4. An earlier band
    # "middle" = A + B over both years splits A from S, so neither A nor S alone is pinned.
    def cell(*places: tuple[str, int]) -> frozenset[Atom]:
        return frozenset(Atom(a, "F", "all", str(y), "dx.J45") for a, y in places)

    middle = cell(("A", 2023), ("B", 2023), ("A", 2024), ("B", 2024))
    earlier = PublicRelease("v1", (row("middle", middle, 70),))
    both = cell(("A", 2023), ("S", 2023), ("A", 2024), ("S", 2024))
    later = PublicRelease(
        "v2", (row("far", both, 18), row("far/2024", cell(("A", 2024), ("S", 2024)), 14))
    )
    found = attack([earlier, later], threshold=T)
    assert [(f.kind, f.key, f.lo, f.hi) for f in found] == [
        (FindingKind.DIFFERENCE, "far minus far/2024", 4, 4)
    ]
