"""Properties on random tables: published counts are 0 or ≥ T; suppressed ranges are ≥ T wide.

Random releases: areas grouped into random districts (a hierarchy) and sometimes an extra
overlapping grouping, crossed with sex or with periods (with their totals), random counts
biased towards small ones. Ranges are checked with an independent attacker (an integer
program over the raw atoms, ``conftest.naive_range``), not with the module's own audit.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.privacy import (
    Atom,
    Cell,
    DisclosureError,
    LedgerEntry,
    ProtectedRelease,
    Rules,
    Table,
    audit,
    protect_release,
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def releases(draw: st.DrawFn) -> tuple[list[Table], dict[Atom, int], int]:
    n_areas = draw(st.integers(2, 5))
    areas = [f"A{i}" for i in range(n_areas)]
    labels = draw(st.lists(st.integers(0, 2), min_size=n_areas, max_size=n_areas))
    districts = [
        frozenset(a for a, lab in zip(areas, labels, strict=True) if lab == d) for d in range(3)
    ]
    area_nodes = [frozenset({a}) for a in areas] + [d for d in districts if len(d) > 1]
    area_nodes.append(frozenset(areas))
    if n_areas >= 3 and draw(st.booleans()):
        area_nodes.append(frozenset(areas[:2]))  # an overlapping grouping
    across = draw(st.sampled_from(["sex", "period"]))
    levels = ["F", "M"] if across == "sex" else [f"P{i}" for i in range(draw(st.integers(2, 4)))]
    other_nodes = [frozenset({x}) for x in levels] + [frozenset(levels)]

    def make(area: str, level: str) -> Atom:
        if across == "sex":
            return Atom(area, level, "all", "2024", "x")
        return Atom(area, "F", "all", level, "x")

    small_or_large = st.one_of(st.integers(0, 12), st.integers(0, 40))
    counts = {make(a, x): draw(small_or_large) for a in areas for x in levels}
    seen: set[frozenset[Atom]] = set()
    cells = []
    for an, on in itertools.product(area_nodes, other_nodes):
        atoms = frozenset(make(a, x) for a in an for x in on)
        if atoms in seen:
            continue
        seen.add(atoms)
        key = f"t/{'+'.join(sorted(an))}/{'+'.join(sorted(on))}"
        cells.append(Cell(key, atoms, sum(counts[a] for a in atoms)))
    threshold = draw(st.sampled_from([5, 10]))
    return [Table("t", tuple(cells))], counts, threshold


def check_release(
    h: SimpleNamespace, tables: list[Table], threshold: int, ledger: list[LedgerEntry]
) -> ProtectedRelease:
    release = protect_release(tables, ledger, Rules(threshold=threshold))
    for cell in release.cells():
        assert cell.count is None or cell.count == 0 or cell.count >= threshold
    cells = h.all_cells(release)
    hidden = h.suppressed_keys(release)
    equations = h.equations_of(cells, hidden, ledger)
    for cell in cells:
        if cell.key in hidden:
            lo, hi = h.naive_range(equations, cell.atoms)
            assert hi - lo >= threshold, (cell.key, lo, hi)
            own = release.audit.range_of(cell.key)  # the module's audit is exact
            assert own.lo == lo and (own.hi if own.hi is not None else float("inf")) == hi
    assert audit(cells, hidden, ledger, threshold).passed
    return release


@SETTINGS
@given(releases())
def test_every_published_count_is_zero_or_at_least_t_and_every_suppressed_range_is_t_wide(
    h: SimpleNamespace, drawn: tuple[list[Table], dict[Atom, int], int]
) -> None:
    tables, _, threshold = drawn
    check_release(h, tables, threshold, [])


@SETTINGS
@given(releases(), st.data())
def test_a_second_release_is_refused_or_protected_against_the_first(
    h: SimpleNamespace, drawn: tuple[list[Table], dict[Atom, int], int], data: st.DataObject
) -> None:
    tables, counts, threshold = drawn
    first = protect_release(tables, (), Rules(threshold=threshold))
    ledger = list(first.ledger_entries("R1"))
    # The second release regroups the same atoms: random subsets with their counts.
    atoms = sorted(counts)
    subsets = data.draw(
        st.lists(
            st.sets(st.sampled_from(atoms), min_size=1), min_size=1, max_size=6, unique_by=frozenset
        )
    )
    cells = [
        Cell(f"r2/{i}", frozenset(s), sum(counts[a] for a in s)) for i, s in enumerate(subsets)
    ]
    try:
        second = check_release(h, [Table("r2", tuple(cells))], threshold, ledger)
    except DisclosureError as error:
        # Refusal is allowed only when earlier releases already pin some set: say which.
        assert "cannot be protected" in str(error) or "inconsistent" in str(error)
        return
    # Cells suppressed by the first release stay uncertain: no small count is certified.
    equations = h.equations_of(h.all_cells(second), h.suppressed_keys(second), ledger)
    for entry in ledger:
        if entry.value is None:
            lo, hi = h.naive_range(equations, entry.atoms)
            assert not (1 <= lo < threshold and hi - lo < threshold), (entry.key, lo, hi)
