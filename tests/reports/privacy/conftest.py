"""Shared builders and an independent reference attacker for the disclosure-control tests.

No Django: run with ``pytest tests/reports/privacy -p no:django``. The reference attacker
(:func:`naive_range`) solves the integer program over the raw atoms — no merging of atoms, no
components, no caching — so that the module's reductions are checked against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from reports.privacy import Atom, Cell, LedgerEntry, ProtectedRelease, Table


def atom(
    area: str, period: str = "2024", sex: str = "F", age: str = "all", outcome: str = "dx.J45"
) -> Atom:
    return Atom(area, sex, age, period, outcome)


def cell_of(key: str, atoms: Iterable[Atom], counts: Mapping[Atom, int]) -> Cell:
    atoms = frozenset(atoms)
    return Cell(key, atoms, sum(counts[a] for a in atoms))


def equations_of(
    cells: Sequence[Cell], suppressed: Collection[str], ledger: Sequence[LedgerEntry] = ()
) -> list[tuple[frozenset[Atom], int]]:
    """Everything the attacker knows: published counts of this release and the ledger."""
    known: dict[frozenset[Atom], int] = {}
    for entry in ledger:
        if entry.value is not None:
            known[entry.atoms] = entry.value
    for c in cells:
        if c.key not in suppressed:
            known[c.atoms] = c.count
    return list(known.items())


def naive_range(
    equations: Sequence[tuple[frozenset[Atom], int]],
    target: frozenset[Atom],
    bounds: Mapping[Atom, int] | None = None,
) -> tuple[int, float] | None:
    """Min and max of Σ target over non-negative integer atoms satisfying the equations."""
    atoms = sorted(set(target).union(*(a for a, _ in equations)))
    index = {a: i for i, a in enumerate(atoms)}
    constrained = set().union(*(a for a, _ in equations)) if equations else set()
    n = len(atoms)
    c = np.zeros(n)
    for a in target:
        c[index[a]] = 1.0
    upper = np.array([float(bounds[a]) if bounds and a in bounds else np.inf for a in atoms])
    constraints = []
    if equations:
        matrix = np.zeros((len(equations), n))
        rhs = np.zeros(len(equations))
        for k, (eq_atoms, value) in enumerate(equations):
            for a in eq_atoms:
                matrix[k, index[a]] = 1.0
            rhs[k] = value
        constraints = [LinearConstraint(matrix, rhs, rhs)]
    results = []
    for sign in (1.0, -1.0):
        if sign < 0 and any(a not in constrained and math.isinf(upper[index[a]]) for a in target):
            results.append(math.inf)
            continue
        res = milp(
            sign * c,
            integrality=np.ones(n),
            bounds=Bounds(np.zeros(n), upper),
            constraints=constraints,
        )
        if res.status == 2:
            return None
        assert res.status == 0, res.message
        results.append(round(sign * res.fun))
    return int(results[0]), results[1]


def all_cells(release: ProtectedRelease) -> list[Cell]:
    return [c for t in release.source for c in t.cells]


def suppressed_keys(release: ProtectedRelease) -> set[str]:
    return {c.key for c in release.cells() if c.suppressed}


def grid(
    name: str, rows: Sequence[str], cols: Sequence[str], counts: Mapping[tuple[str, str], int]
) -> tuple[Table, dict[Atom, int]]:
    """A two-way table (area × sex) with row, column and grand totals."""
    atoms = {(r, c): atom(r, sex=c) for r in rows for c in cols}
    values = {atoms[k]: v for k, v in counts.items()}
    cells = [cell_of(f"{name}/{r}/{c}", [atoms[r, c]], values) for r in rows for c in cols]
    cells += [cell_of(f"{name}/{r}/all", [atoms[r, c] for c in cols], values) for r in rows]
    cells += [cell_of(f"{name}/all/{c}", [atoms[r, c] for r in rows], values) for c in cols]
    cells.append(cell_of(f"{name}/all/all", atoms.values(), values))
    return Table(name, tuple(cells)), values


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    """The helpers above, as one fixture (test modules import nothing from each other)."""
    helpers: dict[str, Callable[..., object]] = {
        "atom": atom,
        "cell_of": cell_of,
        "equations_of": equations_of,
        "naive_range": naive_range,
        "all_cells": all_cells,
        "suppressed_keys": suppressed_keys,
        "grid": grid,
    }
    return SimpleNamespace(**helpers)
