"""The audit's feasible ranges, checked by hand on small examples."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from reports.privacy import (
    Atom,
    Cell,
    Derived,
    DerivedKind,
    DisclosureError,
    LedgerEntry,
    Rules,
    Table,
    TargetKind,
    audit,
    protect_release,
)


def atoms(*names: str) -> frozenset[Atom]:
    return frozenset(Atom(n, "F", "all", "2024", "x") for n in names)


def test_two_suppressed_cells_in_a_row_share_the_row_remainder() -> None:
    # Row: a + b + c = 30 published, c = 18 published, a = 4 and b = 8 suppressed.
    # a + b = 30 − 18 = 12, so a ∈ [0, 12] and b ∈ [0, 12]: 12 ≥ T = 10, protected.
    cells = [
        Cell("a", atoms("a"), 4),
        Cell("b", atoms("b"), 8),
        Cell("c", atoms("c"), 18),
        Cell("total", atoms("a", "b", "c"), 30),
    ]
    result = audit(cells, {"a", "b"}, threshold=10)
    assert (result.range_of("a").lo, result.range_of("a").hi) == (0, 12)
    assert (result.range_of("b").lo, result.range_of("b").hi) == (0, 12)
    assert result.passed
    # With T = 15 the same release fails: 12 < 15.
    assert not audit(cells, {"a", "b"}, threshold=15).passed


def test_a_two_by_two_table_with_margins_gives_the_frechet_bounds() -> None:
    # x11 x12 | 20        Interior suppressed, margins published: rows 20, 25,
    # x21 x22 | 25        columns 15, 30, N = 45. Fréchet bounds for x11:
    # 15  30  | 45        max(0, 20 + 15 − 45) = 0 ≤ x11 ≤ min(20, 15) = 15.
    #                     x22: max(0, 25 + 30 − 45) = 10 ≤ x22 ≤ min(25, 30) = 25.
    cells = [
        Cell("x11", atoms("11"), 5),
        Cell("x12", atoms("12"), 15),
        Cell("x21", atoms("21"), 10),
        Cell("x22", atoms("22"), 15),
        Cell("r1", atoms("11", "12"), 20),
        Cell("r2", atoms("21", "22"), 25),
        Cell("c1", atoms("11", "21"), 15),
        Cell("c2", atoms("12", "22"), 30),
        Cell("n", atoms("11", "12", "21", "22"), 45),
    ]
    result = audit(cells, {"x11", "x12", "x21", "x22"})
    assert (result.range_of("x11").lo, result.range_of("x11").hi) == (0, 15)
    assert (result.range_of("x22").lo, result.range_of("x22").hi) == (10, 25)
    assert (result.range_of("x12").lo, result.range_of("x12").hi) == (5, 20)
    assert result.passed  # every width is 15


def test_nonnegativity_alone_can_narrow_a_range() -> None:
    # c + a = 10, c + b = 10, a + b + d = 11 (all published), c suppressed.
    # a = b = 10 − c and a + b ≤ 11 → 20 − 2c ≤ 11 → c ≥ 4.5 → c ≥ 5 (integers); c ≤ 10.
    # So c ∈ [5, 10]: width 5 < T — exposed although no equation pins it.
    cells = [
        Cell("c", atoms("c"), 7),
        Cell("ca", atoms("c", "a"), 10),
        Cell("cb", atoms("c", "b"), 10),
        Cell("abd", atoms("a", "b", "d"), 11),
    ]
    result = audit(cells, {"c"})
    assert (result.range_of("c").lo, result.range_of("c").hi) == (5, 10)
    assert not result.passed


def test_integrality_pins_a_cell_the_linear_relaxation_leaves_open() -> None:
    # x1 + x2 = 1, x2 + x3 = 1, x1 + x3 + x4 = 1, x4 suppressed (true values 0, 1, 0, 1).
    # LP: x1 = x3 = 1 − x2, x4 = 2·x2 − 1 with x2 ∈ [½, 1] → x4 ∈ [0, 1].
    # Integers: x2 = 0 gives x4 = −1 (impossible), so x2 = 1 and x4 = 1 exactly.
    cells = [
        Cell("x4", atoms("x4"), 1),
        Cell("e1", atoms("x1", "x2"), 1),
        Cell("e2", atoms("x2", "x3"), 1),
        Cell("e3", atoms("x1", "x3", "x4"), 1),
    ]
    result = audit(cells, {"x4"}, threshold=5)
    assert (result.range_of("x4").lo, result.range_of("x4").hi) == (1, 1)


def test_known_upper_bounds_narrow_the_range() -> None:
    # a + b = 12 with a ≤ 3 (its population): a ∈ [0, 3], b ∈ [9, 12].
    cells = [Cell("a", atoms("a"), 2), Cell("b", atoms("b"), 10), Cell("ab", atoms("a", "b"), 12)]
    bounds = {next(iter(atoms("a"))): 3}
    result = audit(cells, {"a", "b"}, atom_bounds=bounds)
    assert (result.range_of("a").lo, result.range_of("a").hi) == (0, 3)
    assert (result.range_of("b").lo, result.range_of("b").hi) == (9, 12)
    assert not result.passed
    unbounded = audit(cells, {"a", "b"})
    assert unbounded.range_of("a").hi == 12 and unbounded.passed


def test_a_cell_in_no_published_equation_is_unbounded() -> None:
    cells = [Cell("a", atoms("a"), 2), Cell("b", atoms("b"), 30)]
    result = audit(cells, {"a"})
    assert result.range_of("a").lo == 0 and result.range_of("a").hi is None
    assert result.passed


def test_a_published_n_tested_caps_a_hidden_percentage_count() -> None:
    # 100 % of 14 tested is suppressed; the attacker still knows count ≤ 14 → [0, 14].
    pct = Derived("pct", DerivedKind.PERCENTAGE, 100.0)
    cells = [Cell("p", atoms("p"), 14, 14, (pct,))]
    result = audit(cells, {"p"})
    assert (result.range_of("p").lo, result.range_of("p").hi) == (0, 14)


def test_earlier_releases_are_equations_too() -> None:
    # Ledger: a + b = 12. This release: b = 10 published, a = 2 suppressed → a = 2 exactly.
    ledger = [LedgerEntry("R1", "ab", atoms("a", "b"), 12)]
    cells = [Cell("a", atoms("a"), 2), Cell("b", atoms("b"), 10)]
    result = audit(cells, {"a"}, ledger)
    assert (result.range_of("a").lo, result.range_of("a").hi) == (2, 2)
    assert audit(cells, {"a"}).passed  # without the ledger it would pass
    assert result.summary().earlier_releases == 1 and result.summary().equations == 2


def test_a_cell_published_earlier_cannot_be_protected_by_suppressing_it_now() -> None:
    ledger = [LedgerEntry("R1", "a", atoms("a"), 12)]
    result = audit([Cell("a", atoms("a"), 12)], {"a"}, ledger)
    rng = result.range_of("a")
    assert (rng.lo, rng.hi, rng.protected) == (12, 12, False)
    assert "R1/a" in rng.note


def test_revisions_must_change_by_zero_or_at_least_t() -> None:
    for new, ok in [(40, True), (41, False), (49, False), (50, True), (31, False), (30, True)]:
        ledger = [LedgerEntry("R1", "a", atoms("a"), 40)]
        result = audit([Cell("a", atoms("a"), new)], set(), ledger)
        assert (not result.revisions) is ok, new
        if not ok:
            assert result.revisions[0].change == new - 40 and not result.passed


def test_a_revision_is_checked_against_every_earlier_value() -> None:
    # 40 (R1) → 55 (R2) → 45 now: −10 from R2 is fine, but +5 from R1 gives away 5 people.
    ledger = [LedgerEntry("R1", "a", atoms("a"), 40), LedgerEntry("R2", "a", atoms("a"), 55)]
    result = audit([Cell("a", atoms("a"), 45)], set(), ledger)
    assert [v.earlier_release for v in result.revisions] == ["R1"]


def test_inconsistent_equations_are_reported() -> None:
    # The ledger says a + b = 12; this release publishes a = 10 and b = 10.
    ledger = [LedgerEntry("R1", "ab", atoms("a", "b"), 12)]
    cells = [Cell("a", atoms("a"), 10), Cell("b", atoms("b"), 10), Cell("c", atoms("c"), 3)]
    result = audit(cells, {"c"}, ledger)
    assert result.inconsistent and not result.passed
    with pytest.raises(DisclosureError, match="inconsistent"):
        protect_release([Table("t", tuple(cells))], ledger)


def test_stale_ledger_values_are_left_out_when_the_atom_counts_are_known() -> None:
    # R1 published a + b = 12; the data were revised since (a = 5, b = 17). The release
    # publishes b = 17 and suppresses a = 5: with the stale equation a would be −5.
    ledger = [LedgerEntry("R1", "ab", atoms("a", "b"), 12)]
    cells = [Cell("a", atoms("a"), 5), Cell("b", atoms("b"), 17)]
    counts = {next(iter(atoms("a"))): 5, next(iter(atoms("b"))): 17}
    result = audit(cells, {"a"}, ledger, atom_counts=counts)
    assert result.stale_ledger == ("R1/ab",) and result.passed


def test_a_later_year_published_first_stays_an_equation_for_an_earlier_years_report() -> None:
    # The 2025 report published a pooled cell over 2023-2025 (30). The 2023 report, built from
    # data up to 2023 only, publishes the 2023 part (23): the attacker subtracts and learns that
    # 2024-2025 held exactly 7. The build's atom counts know nothing of 2024-2025; that must
    # not make the 2025 cell look revised ("stale") and vanish from the audit's equations.
    def year(y: str, n: str = "x") -> Atom:
        return Atom("A", "F", "all", y, n)

    ledger = [
        LedgerEntry(
            "RH 2025 v1", "pooled", frozenset(year(y) for y in ("2023", "2024", "2025")), 30
        )
    ]
    cells = [Cell("2023", frozenset({year("2023")}), 23)]
    counts = {year("2023"): 23}  # what a 2023 build counts: its own years
    result = audit(cells, set(), ledger, atom_counts=counts)
    assert result.stale_ledger == ()
    assert [(r.kind, r.lo, r.hi) for r in result.exposed] == [(TargetKind.DIFFERENCE, 7, 7)]
    # and a ledger value over described atoms that no longer match the data is still stale
    revised = {year("2023"): 23, year("2024"): 9, year("2025"): 9}
    again = audit(cells, set(), ledger, atom_counts=revised)
    assert again.stale_ledger == ("RH 2025 v1/pooled",)


def test_atom_counts_must_match_the_cells() -> None:
    counts = {next(iter(atoms("a"))): 5}
    with pytest.raises(ValueError, match="Σ atom counts"):
        audit([Cell("a", atoms("a"), 6)], set(), atom_counts=counts)


def test_an_earlier_suppressed_cell_stays_protected_by_later_audits() -> None:
    # R1 suppressed a (value unknown to the attacker) and published a + b = 14.
    # Publishing b = 10 now would give a = 4.
    ledger = [
        LedgerEntry("R1", "a", atoms("a"), None),
        LedgerEntry("R1", "ab", atoms("a", "b"), 14),
    ]
    result = audit([Cell("b", atoms("b"), 10)], set(), ledger)
    exposed = result.exposed
    assert [(r.kind, r.key, r.lo, r.hi) for r in exposed] == [
        (TargetKind.EARLIER_SUPPRESSED, "R1/a", 4, 4)
    ]


def test_differences_of_overlapping_cells_are_audited() -> None:
    # A + B = 25 and A + B + C = 30 published; C is no cell at all, yet C = 5.
    cells = [Cell("ab", atoms("A", "B"), 25), Cell("abc", atoms("A", "B", "C"), 30)]
    result = audit(cells, set())
    (difference,) = result.exposed
    assert difference.kind == TargetKind.DIFFERENCE
    assert (difference.lo, difference.hi) == (5, 5)
    # A difference that is certainly 0, or ≥ T, or only bounded above, is no disclosure.
    assert audit(
        [Cell("ab", atoms("A", "B"), 25), Cell("abc", atoms("A", "B", "C"), 25)], set()
    ).passed
    assert audit(
        [Cell("ab", atoms("A", "B"), 25), Cell("abc", atoms("A", "B", "C"), 40)], set()
    ).passed


def test_the_audit_needs_a_threshold_of_at_least_five() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        audit([Cell("a", atoms("a"), 2)], {"a"}, threshold=3)
    assert audit([Cell("a", atoms("a"), 2)], {"a"}, threshold=Rules(threshold=7)).threshold == 7


def test_the_audit_agrees_with_a_reference_attacker(h: SimpleNamespace) -> None:
    counts = {
        ("A", "F"): 3,
        ("A", "M"): 20,
        ("B", "F"): 15,
        ("B", "M"): 12,
        ("C", "F"): 11,
        ("C", "M"): 30,
    }
    table, _ = h.grid("t", ["A", "B", "C"], ["F", "M"], counts)
    cells = list(table.cells)
    hidden = {"t/A/F", "t/A/M", "t/C/F", "t/C/M"}
    result = audit(cells, hidden)
    eqs = h.equations_of(cells, hidden)
    for cell in cells:
        if cell.key in hidden:
            rng = result.range_of(cell.key)
            assert (rng.lo, rng.hi) == h.naive_range(eqs, cell.atoms)
    # By hand: a = A/F; A/M = 23 − a, C/F = 14 − a, C/M = 27 + a ≥ 0 → a ∈ [0, 14].
    assert (result.range_of("t/A/F").lo, result.range_of("t/A/F").hi) == (0, 14)


def test_a_zero_cell_already_pinned_by_the_ledger_is_not_used_as_a_complement() -> None:
    """Release 1 published a+b = 0, so a = 0 is public knowledge. In release 2 the cheapest
    complement for the small cell c would be the zero cell a — useless, since a cannot be
    hidden any more. The release must protect c with another cell and publish a."""
    from reports.privacy import Atom, Cell, LedgerEntry, Table, audit, protect_release

    def atom(area: str) -> Atom:
        return Atom(area, "F", "40-44", "2025", "cough")

    ledger = [LedgerEntry("r1", "ab", frozenset({atom("a"), atom("b")}), 0)]
    cells = (
        Cell("t/a", frozenset({atom("a")}), 0),
        Cell("t/c", frozenset({atom("c")}), 5),
        Cell("t/d", frozenset({atom("d")}), 20),
        Cell("t/total", frozenset({atom("a"), atom("c"), atom("d")}), 25),
    )
    released = protect_release([Table("t", cells)], ledger)
    published = {cell.key: cell.count for cell in released.cells()}
    assert published["t/c"] is None
    assert published["t/a"] == 0
    assert published["t/d"] is None or published["t/total"] is None
    suppressed = [k for k, v in published.items() if v is None]
    check = audit(list(cells), suppressed, ledger, 10)
    assert check.passed and check.range_of("t/c").width >= 10


def _year_2025() -> list[Cell]:
    # a = 3 is the small count; b (the cheapest complement) hides it; a + b = 28 follows
    # from c and the total.
    return [
        Cell("t25/a", atoms("a"), 3),
        Cell("t25/b", atoms("b"), 25),
        Cell("t25/c", atoms("c"), 30),
        Cell("t25/total", atoms("a", "b", "c"), 58),
    ]


def _later_years() -> list[Cell]:
    # b + e = 45 and e + f = 24 (so e ≤ 24): b ≥ 21, hence a = 28 − b ≤ 7.
    return [Cell("t/be", atoms("b", "e"), 45), Cell("t/ef", atoms("e", "f"), 24)]


def _ledger_of(release: str, cells: list[Cell], suppressed: set[str]) -> list[LedgerEntry]:
    return [
        LedgerEntry(release, c.key, c.atoms, None if c.key in suppressed else c.count)
        for c in cells
    ]


def test_a_later_release_may_not_narrow_an_earlier_suppressed_cell_below_t() -> None:
    first = protect_release([Table("t25", tuple(_year_2025()))])
    hidden = {c.key for c in first.cells() if c.count is None}
    assert hidden == {"t25/a", "t25/b"}
    ledger = _ledger_of("2025 v1", _year_2025(), hidden)
    # Publishing both later cells narrows the earlier small cell a to [0, 7]: it certifies
    # no small count, but it is a suppressed cell, so it must stay at least T wide.
    # Its complement b ∈ [21, 28] certifies nothing either, and is held to the same rule.
    naive = audit(_later_years(), set(), ledger)
    assert {(r.kind, r.key, r.lo, r.hi) for r in naive.exposed} == {
        (TargetKind.EARLIER_SUPPRESSED, "2025 v1/t25/a", 0, 7),
        (TargetKind.EARLIER_SUPPRESSED, "2025 v1/t25/b", 21, 28),
    }
    later = protect_release([Table("t", tuple(_later_years()))], ledger)
    assert [c.key for c in later.cells() if c.count is None]
    assert later.audit.range_of("2025 v1/t25/a").width >= 10


def test_a_correction_with_unchanged_data_publishes_after_later_years() -> None:
    """The bench's case (docs/privacy.md, "closed problem"): 2025 v1, then later years, then a
    correction of 2025 with the same data, which must suppress the same small cell again."""
    first = protect_release([Table("t25", tuple(_year_2025()))])
    hidden = {c.key for c in first.cells() if c.count is None}
    ledger = _ledger_of("2025 v1", _year_2025(), hidden)
    later = protect_release([Table("t", tuple(_later_years()))], ledger)
    ledger += _ledger_of(
        "2021-2024 v1", _later_years(), {c.key for c in later.cells() if c.count is None}
    )
    correction = protect_release([Table("t25", tuple(_year_2025()))], ledger)
    assert {c.key for c in correction.cells() if c.count is None} == hidden
    assert correction.audit.range_of("t25/a").width >= 10


def test_a_cell_narrowed_by_releases_published_under_the_old_rule_is_not_blamed_on_a_new_one() -> (
    None
):
    # A ledger from before the strict rule: both later cells were published, a ∈ [0, 7].
    ledger = _ledger_of("2025 v1", _year_2025(), {"t25/a", "t25/b"})
    ledger += _ledger_of("2021-2024 v1", _later_years(), set())
    correction = audit(_year_2025(), {"t25/a", "t25/b"}, ledger)
    narrowed = correction.range_of("t25/a")
    assert (narrowed.lo, narrowed.hi) == (0, 7)
    assert narrowed.protected and "earlier releases alone" in narrowed.note
    assert correction.passed
    # Publishing b now would pin a = 3: that this release does, so it is refused.
    assert not audit(_year_2025(), {"t25/a"}, ledger).passed
