"""Attacks that must be refused or neutralized.

Each test first shows that the attack succeeds against a naive release (primary suppression
only): an independent attacker — an integer program over the raw atoms, see ``conftest.py`` —
pins the hidden count exactly. Then it shows that :func:`protect_release` refuses the
release or suppresses enough that the same attacker learns a range at least T wide.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from reports.privacy import (
    Atom,
    Cell,
    DisclosureError,
    LedgerEntry,
    ProtectedRelease,
    Table,
    audit,
    primary_suppression,
    protect_release,
)

T = 10
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)] + ["2025-01", "2025-02"]


def month_atom(month: str) -> Atom:
    return Atom("A", "F", "all", month, "dx.J45")


def naive(cells: list[Cell]) -> set[str]:
    """The suppression pattern of a release that only applies primary suppression."""
    return {k for k, d in primary_suppression(cells).items() if d.suppressed}


def attacker_range(
    h: SimpleNamespace,
    target: frozenset[Atom],
    cells: list[Cell],
    hidden: set[str],
    ledger: list[LedgerEntry] | tuple[LedgerEntry, ...] = (),
) -> tuple[int, float]:
    found = h.naive_range(h.equations_of(cells, hidden, ledger), target)
    assert found is not None
    return found


def assert_protected(
    h: SimpleNamespace,
    release: ProtectedRelease,
    targets: list[frozenset[Atom]],
    ledger: list[LedgerEntry] | tuple[LedgerEntry, ...] = (),
) -> None:
    cells = h.all_cells(release)
    hidden = h.suppressed_keys(release)
    for target in targets:
        lo, hi = attacker_range(h, target, cells, hidden, ledger)
        assert hi - lo >= T, (lo, hi)
    for cell in release.cells():
        assert cell.count is None or cell.count == 0 or cell.count >= T


def test_a_margin_minus_the_other_cells_cannot_reveal_a_lone_suppressed_cell(
    h: SimpleNamespace,
) -> None:
    counts = {("A", "F"): 3, ("A", "M"): 20, ("B", "F"): 15, ("B", "M"): 12}
    table, _ = h.grid("t", ["A", "B"], ["F", "M"], counts)
    cells = list(table.cells)
    target = next(c.atoms for c in cells if c.key == "t/A/F")
    # Naive: A/F = row A (23) − A/M (20) = 3.
    assert attacker_range(h, target, cells, naive(cells)) == (3, 3)
    assert not audit(cells, naive(cells)).passed
    release = protect_release([table])
    assert release.cell("t/A/F").suppressed
    assert_protected(h, release, [target])


def year_then_months() -> tuple[list[LedgerEntry], list[Cell], frozenset[Atom]]:
    values = [14, 22, 18, 11, 25, 30, 16, 12, 19, 27, 13, 4]  # December = 4
    counts = dict(zip(map(month_atom, MONTHS[:12]), values, strict=True))
    year = frozenset(counts)
    first = protect_release([Table("annual", (Cell("annual/A/2024", year, sum(values)),))])
    ledger = list(first.ledger_entries("R2024"))
    months = [
        Cell(f"monthly/A/{m}", frozenset({month_atom(m)}), counts[month_atom(m)])
        for m in MONTHS[:12]
    ]
    return ledger, months, frozenset({month_atom("2024-12")})


def test_a_year_total_then_january_to_november_cannot_reveal_december(
    h: SimpleNamespace,
) -> None:
    ledger, months, december = year_then_months()
    assert ledger[0].value == 211
    # Naive second release: December (4) is suppressed, but 211 − Σ Jan..Nov = 4.
    assert attacker_range(h, december, months, naive(months), ledger) == (4, 4)
    assert not audit(months, naive(months), ledger).passed
    assert audit(months, naive(months)).passed  # the release alone looks safe
    release = protect_release([Table("monthly", tuple(months))], ledger)
    assert len(h.suppressed_keys(release)) >= 2  # further suppressed
    assert_protected(h, release, [december], ledger)


def test_a_year_total_cannot_be_published_after_january_to_november(
    h: SimpleNamespace,
) -> None:
    # The other order: months first (December suppressed, protected by a complement),
    # then the year total, which together with the published months would give December.
    _, months, december = year_then_months()
    first = protect_release([Table("monthly", tuple(months))])
    ledger = list(first.ledger_entries("R1"))
    assert_protected(h, first, [december])
    year = Cell("annual/A/2024", frozenset(c for m in months for c in m.atoms), 211)
    assert not audit([year], set(), ledger).passed
    # The only cell of the release would have to be hidden: suppressing it protects.
    release = protect_release([Table("annual", (year,))], ledger)
    assert release.cell("annual/A/2024").suppressed
    assert_protected(h, release, [december], ledger)


def test_rolling_twelve_month_windows_cannot_reveal_a_month_across_releases(
    h: SimpleNamespace,
) -> None:
    values = [3, 25, 18, 11, 25, 30, 16, 12, 19, 27, 13, 20, 17, 22]  # Jan 2024 = 3
    counts = dict(zip(map(month_atom, MONTHS), values, strict=True))

    def window(start: int) -> Cell:
        atoms = frozenset(month_atom(m) for m in MONTHS[start : start + 12])
        return Cell(f"rolling/{MONTHS[start]}", atoms, sum(counts[a] for a in atoms))

    def month(m: str) -> Cell:
        return Cell(f"monthly/{m}", frozenset({month_atom(m)}), counts[month_atom(m)])

    january = frozenset({month_atom("2024-01")})
    # Release 1: the window Jan–Dec 2024 and the months of 2024 (January suppressed).
    first = protect_release(
        [Table("rolling", (window(0),)), Table("monthly", tuple(month(m) for m in MONTHS[:12]))]
    )
    assert_protected(h, first, [january])
    ledger = list(first.ledger_entries("R1"))
    # Release 2: the window Feb 2024–Jan 2025 and January 2025.
    # W1 − W2 = Jan 2024 − Jan 2025, so Jan 2024 = W1 − W2 + Jan 2025 (and W2 − Jan 2025
    # gives Feb–Dec 2024, hence the complement suppressed in release 1 too).
    second_cells = [window(1), month("2025-01")]
    assert naive(second_cells) == set()
    assert attacker_range(h, january, second_cells, set(), ledger) == (3, 3)
    assert not audit(second_cells, set(), ledger).passed
    second = protect_release(
        [Table("rolling", (window(1),)), Table("monthly", (month("2025-01"),))], ledger
    )
    assert h.suppressed_keys(second)
    assert_protected(h, second, [january], ledger)
    # Release 3 continues the series against both earlier releases.
    ledger += list(second.ledger_entries("R2"))
    third = protect_release(
        [Table("rolling", (window(2),)), Table("monthly", (month("2025-02"),))], ledger
    )
    assert_protected(h, third, [january], ledger)


def test_overlapping_area_groupings_cannot_reveal_a_small_area(h: SimpleNamespace) -> None:
    a, b, c = (Atom(x, "F", "all", "2024", "dx.J45") for x in "ABC")
    counts = {a: 12, b: 15, c: 4}

    def group(name: str, *atoms: Atom) -> Cell:
        return Cell(f"groups/{name}", frozenset(atoms), sum(counts[x] for x in atoms))

    cells = [group("A+B", a, b), group("B+C", b, c), group("A+B+C", a, b, c)]
    # Naive: every grouping is ≥ T, nothing is suppressed, yet C = (A+B+C) − (A+B) = 4.
    assert naive(cells) == set()
    assert attacker_range(h, frozenset({c}), cells, set()) == (4, 4)
    assert not audit(cells, set()).passed
    release = protect_release([Table("groups", tuple(cells))])
    lo, hi = attacker_range(h, frozenset({c}), h.all_cells(release), h.suppressed_keys(release))
    assert lo == 0 or hi - lo >= T  # the attacker cannot certify any small count for C

    # The same groupings next to an area table in which C is itself a suppressed cell.
    areas = [Cell(f"areas/{x.area}", frozenset({x}), counts[x]) for x in (a, b, c)]
    tables = [Table("areas", tuple(areas)), Table("groups", tuple(cells))]
    everything = areas + cells
    assert attacker_range(h, frozenset({c}), everything, naive(everything)) == (4, 4)
    release = protect_release(tables)
    assert release.cell("areas/C").suppressed
    assert_protected(h, release, [frozenset({c})])


def test_a_revision_by_one_of_an_earlier_published_value_is_refused(h: SimpleNamespace) -> None:
    a_atoms = frozenset(Atom("A", s, "all", "2024", "dx.J45") for s in "FM")
    first = protect_release([Table("t", (Cell("t/A", a_atoms, 40),))])
    ledger = list(first.ledger_entries("R1"))
    revised = Cell("t/A", a_atoms, 41)  # one late-reported case
    # Naive: publishing 41 after 40 tells everyone that exactly one case was added.
    result = audit([revised], set(), ledger)
    assert [(v.earlier_value, v.value, v.change) for v in result.revisions] == [(40, 41, 1)]
    with pytest.raises(DisclosureError, match=r"revision of t/A: 40 \(release R1\) → 41"):
        protect_release([Table("t", (revised,))], ledger)
    # A revision by at least T is allowed.
    assert protect_release([Table("t", (Cell("t/A", a_atoms, 50),))], ledger).audit.passed


def test_a_cell_fixed_by_earlier_releases_is_refused_with_its_name() -> None:
    # R1 published a + b = 12 and b = 10: a = 2 is already out; R2 cannot hide it.
    a, b = Atom("A", "F", "all", "2024", "x"), Atom("B", "F", "all", "2024", "x")
    ledger = [
        LedgerEntry("R1", "ab", frozenset({a, b}), 12),
        LedgerEntry("R1", "b", frozenset({b}), 10),
    ]
    with pytest.raises(DisclosureError, match="t/a cannot be protected"):
        protect_release([Table("t", (Cell("t/a", frozenset({a}), 2),))], ledger)
