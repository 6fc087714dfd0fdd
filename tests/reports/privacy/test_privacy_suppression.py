"""Primary and complementary suppression and the published representation."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

import pytest

from reports.privacy import (
    Atom,
    Cell,
    CostModel,
    Derived,
    DerivedKind,
    Flag,
    Reason,
    Rules,
    Table,
    primary_suppression,
    protect_release,
    table_equations,
)
from reports.privacy.audit import AuditEngine

RATE = Derived("rate_per_1000", DerivedKind.RATE, 12.5, 8.0, 19.0)
PCT = Derived("pct_above_reference", DerivedKind.PERCENTAGE, 50.0)
GM = Derived("gm", DerivedKind.GEOMETRIC_MEAN, 2.1, 1.8, 2.5)


def single(count: int, **kwargs: object) -> Cell:
    return Cell("t/x", frozenset({Atom("A", "F", "all", "2024", "dx.J45")}), count, **kwargs)  # type: ignore[arg-type]


def test_a_threshold_below_five_is_refused_and_ten_is_the_default() -> None:
    assert Rules().threshold == 10
    with pytest.raises(ValueError, match="at least 5"):
        Rules(threshold=4)
    assert Rules(threshold=5).threshold == 5


@pytest.mark.parametrize(
    ("count", "suppressed"), [(0, False), (1, True), (9, True), (10, False), (250, False)]
)
def test_counts_one_to_t_minus_one_are_suppressed_and_zeros_shown(
    count: int, suppressed: bool
) -> None:
    decision = primary_suppression([single(count)])["t/x"]
    assert decision.suppressed is suppressed
    assert decision.reason == (Reason.SMALL_COUNT if suppressed else None)


def test_zeros_are_suppressed_when_configured() -> None:
    decision = primary_suppression([single(0)], Rules(suppress_zeros=True))["t/x"]
    assert decision.suppressed and decision.reason == Reason.ZERO


def test_the_threshold_is_configurable() -> None:
    assert not primary_suppression([single(6)], Rules(threshold=5))["t/x"].suppressed
    assert primary_suppression([single(14)], Rules(threshold=15))["t/x"].suppressed


@pytest.mark.parametrize(("count", "denominator"), [(0, 15), (15, 15), (0, 19), (19, 19)])
def test_zero_or_hundred_percent_on_a_small_denominator_suppresses_the_count(
    count: int, denominator: int
) -> None:
    cell = single(count, denominator=denominator, derived=(PCT,))
    decision = primary_suppression([cell])["t/x"]
    assert decision.suppressed and decision.reason == Reason.EXTREME_PROPORTION


def test_zero_or_hundred_percent_is_shown_on_a_denominator_of_two_t() -> None:
    for count in (0, 20):
        cell = single(count, denominator=20, derived=(PCT,))
        assert not primary_suppression([cell])["t/x"].suppressed
    # the documented default is max(2T, 20): T=15 → 30
    assert primary_suppression([single(25, denominator=25)], Rules(threshold=15))["t/x"].suppressed


def test_derived_values_follow_their_numerator() -> None:
    cells = [
        Cell("t/a", frozenset({Atom("A", "F", "all", "2024", "lab")}), 4, 200, (RATE, GM)),
        Cell("t/b", frozenset({Atom("B", "F", "all", "2024", "lab")}), 40, 200, (RATE, GM)),
    ]
    release = protect_release([Table("t", tuple(cells))])
    hidden = release.cell("t/a")
    assert hidden.count is None
    assert all(
        d.value is None and d.ci_lower is None and d.ci_upper is None for d in hidden.derived
    )
    assert all(d.flags == ("suppressed",) for d in hidden.derived)
    shown = release.cell("t/b")
    assert [d.value for d in shown.derived] == [12.5, 2.1]


def test_no_rate_on_a_denominator_under_twenty_but_the_count_still_shows() -> None:
    cell = Cell("t/a", frozenset({Atom("A", "F", "all", "2024", "x")}), 12, 19, (RATE,))
    out = protect_release([Table("t", (cell,))]).cell("t/a")
    assert out.count == 12
    assert out.derived[0].value is None
    assert out.derived[0].flags == (Flag.SMALL_DENOMINATOR.value,)


def test_rates_on_fewer_than_twenty_events_are_flagged_unreliable() -> None:
    cells = (
        Cell("t/a", frozenset({Atom("A", "F", "all", "2024", "x")}), 19, 5000, (RATE,)),
        Cell("t/b", frozenset({Atom("B", "F", "all", "2024", "x")}), 20, 5000, (RATE,)),
    )
    release = protect_release([Table("t", cells)])
    assert release.cell("t/a").derived[0].flags == ("unreliable",)
    assert release.cell("t/a").derived[0].value == 12.5
    assert release.cell("t/b").derived[0].flags == ()


def test_a_standardized_rate_overlapping_a_suppressed_cell_is_withheld(h: SimpleNamespace) -> None:
    table, _ = h.grid(
        "t", ["A", "B"], ["F", "M"], {("A", "F"): 3, ("A", "M"): 30, ("B", "F"): 25, ("B", "M"): 28}
    )
    asr = Derived("asr_per_1000", DerivedKind.STANDARDIZED_RATE, 7.0)
    cells = [
        Cell(c.key, c.atoms, c.count, 10_000, (asr,)) if c.key == "t/all/all" else c
        for c in table.cells
    ]
    release = protect_release([Table("t", tuple(cells))])
    assert release.cell("t/all/all").count == 86
    assert release.cell("t/all/all").derived[0].value is None


def test_primary_and_secondary_suppression_look_identical(h: SimpleNamespace) -> None:
    table, _ = h.grid(
        "t", ["A", "B"], ["F", "M"], {("A", "F"): 3, ("A", "M"): 30, ("B", "F"): 25, ("B", "M"): 28}
    )
    cells = [Cell(c.key, c.atoms, c.count, 1000, (RATE,)) for c in table.cells]
    release = protect_release([Table("t", tuple(cells))])
    reasons = {k: d.reason for k, d in release.decisions.items() if d.suppressed}
    primary = [k for k, r in reasons.items() if r and r.primary]
    secondary = [k for k, r in reasons.items() if r and not r.primary]
    assert primary == ["t/A/F"] and secondary
    a, b = release.cell(primary[0]), release.cell(secondary[0])
    assert (a.count, a.flags, a.derived) == (b.count, b.flags, b.derived)
    assert a.flags == ("suppressed",)


def test_cells_with_the_same_atoms_in_two_tables_are_suppressed_together() -> None:
    atoms = frozenset({Atom("A", "F", "all", "2024", "x")})
    other = frozenset({Atom("B", "F", "all", "2024", "x")})
    cells = [Cell("t1/a", atoms, 4), Cell("t2/a", atoms, 4), Cell("t2/b", other, 40)]
    decisions = primary_suppression(cells)
    assert decisions["t2/a"].suppressed and decisions["t2/a"].reason == Reason.SMALL_COUNT
    with pytest.raises(ValueError, match="same atoms"):
        AuditEngine([Cell("x", atoms, 4), Cell("y", atoms, 5)])


def test_no_table_equation_is_left_with_a_lone_suppressed_cell(h: SimpleNamespace) -> None:
    counts = {
        ("A", "F"): 3,
        ("A", "M"): 20,
        ("B", "F"): 15,
        ("B", "M"): 12,
        ("C", "F"): 11,
        ("C", "M"): 30,
    }
    table, _ = h.grid("t", ["A", "B", "C"], ["F", "M"], counts)
    release = protect_release([Table("t", table.cells)])
    engine = AuditEngine(list(table.cells))
    hidden = engine.suppressed_stats(h.suppressed_keys(release))
    for total, parts in table_equations(engine):
        assert sum(1 for m in (total, *parts) if m in hidden) != 1


def test_complements_are_the_cheapest_cells_by_value(h: SimpleNamespace) -> None:
    # Row A: A/F=3 is primary. Candidates in its row: A/M=40 or A/all=43; in its column
    # B/F=12, C/F=25, all/F=40. The cheapest choice that closes every equation is the
    # rectangle A/F, A/M, B/F, B/M (3 + 40 + 12 + 11 = 66), not via C (3 + 40 + 25 + 50).
    counts = {
        ("A", "F"): 3,
        ("A", "M"): 40,
        ("B", "F"): 12,
        ("B", "M"): 11,
        ("C", "F"): 25,
        ("C", "M"): 50,
    }
    table, _ = h.grid("t", ["A", "B", "C"], ["F", "M"], counts)
    release = protect_release([table])
    assert h.suppressed_keys(release) == {"t/A/F", "t/A/M", "t/B/F", "t/B/M"}
    assert release.audit.passed


def test_unit_cost_is_available_and_also_protects(h: SimpleNamespace) -> None:
    counts = {
        ("A", "F"): 3,
        ("A", "M"): 40,
        ("B", "F"): 12,
        ("B", "M"): 11,
        ("C", "F"): 25,
        ("C", "M"): 50,
    }
    table, _ = h.grid("t", ["A", "B", "C"], ["F", "M"], counts)
    release = protect_release([table], rules=Rules(cost=CostModel.UNIT))
    assert release.audit.passed and len(h.suppressed_keys(release)) == 4


def test_table_equations_find_rows_columns_hierarchies_and_overlaps(h: SimpleNamespace) -> None:
    a, b, c = h.atom("A"), h.atom("B"), h.atom("C")
    cells = [
        Cell("a", frozenset({a}), 1),
        Cell("b", frozenset({b}), 1),
        Cell("c", frozenset({c}), 1),
        Cell("ab", frozenset({a, b}), 2),
        Cell("bc", frozenset({b, c}), 2),
        Cell("abc", frozenset({a, b, c}), 3),
    ]
    engine = AuditEngine(cells)
    names = {
        (engine.stats[t].label(), tuple(sorted(engine.stats[p].label() for p in parts)))
        for t, parts in table_equations(engine)
    }
    assert ("abc", ("ab", "c")) in names
    assert ("abc", ("a", "bc")) in names
    assert ("ab", ("a", "b")) in names and ("bc", ("b", "c")) in names


def test_ledger_entries_record_values_and_suppressed_atom_sets(h: SimpleNamespace) -> None:
    table, _ = h.grid(
        "t", ["A", "B"], ["F", "M"], {("A", "F"): 3, ("A", "M"): 30, ("B", "F"): 25, ("B", "M"): 28}
    )
    release = protect_release([table])
    entries = {e.key: e for e in release.ledger_entries("R1")}
    assert entries["t/A/F"].value is None and entries["t/A/F"].atoms
    assert entries["t/all/all"].value == 86 and entries["t/all/all"].release == "R1"


def test_the_public_summary_holds_counts_and_no_ranges(h: SimpleNamespace) -> None:
    table, _ = h.grid(
        "t", ["A", "B"], ["F", "M"], {("A", "F"): 3, ("A", "M"): 30, ("B", "F"): 25, ("B", "M"): 28}
    )
    summary = protect_release([table]).summary
    assert summary.passed and summary.suppressed_cells == 4 and summary.threshold == 10
    assert {f.name for f in fields(summary)} == {
        "threshold",
        "suppressed_cells",
        "protected_sets",
        "earlier_releases",
        "equations",
        "passed",
    }
