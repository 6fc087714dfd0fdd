"""Benchmark: disclosure control of a realistic annual release against the ledger.

    python bench/privacy_bench.py        # 12 areas × 2 sexes × 18 ages × 5 years × 10 outcomes
    python bench/privacy_bench.py --seed 3 --mean 1.5

Atoms: 21,600 (area × sex × age band × year × outcome) with Poisson counts. Each annual
release publishes, for its year: area × outcome (+ outcome totals), sex × broad age group ×
outcome (+ sex totals), outcome × year trends (all years so far), and area × year for two
outcomes — a few hundred cells. Release 1 (year 4) is protected first and becomes the ledger
of release 2 (year 5). Reports the time of each phase and the audit's size. Pure Python.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reports.privacy import (  # noqa: E402
    Atom,
    Cell,
    LedgerEntry,
    Table,
    audit,
    protect_release,
)

AREAS = [f"A{i:02d}" for i in range(12)]
SEXES = ["F", "M"]
AGES = [f"{5 * i}-{5 * i + 4}" for i in range(17)] + ["85+"]
BROAD = {
    f"{lo}-{hi}": [a for a in AGES[lo // 5 : (hi + 1) // 5]]
    for lo, hi in [(0, 14), (15, 29), (30, 44), (45, 59), (60, 74)]
}
BROAD["75+"] = AGES[15:]
YEARS = [str(y) for y in range(2020, 2025)]
OUTCOMES = [
    "dx.J06",
    "dx.J20",
    "dx.J45",
    "dx.J44",
    "dx.L30",
    "dx.N18",
    "dx.C34",
    "symptom.cough",
    "symptom.wheeze",
    "symptom.skin_rash",
]


def atoms_where(**fixed: list[str]) -> frozenset[Atom]:
    dims = {"area": AREAS, "sex": SEXES, "age_band": AGES, "period": YEARS, "outcome": OUTCOMES}
    dims.update(fixed)
    return frozenset(
        Atom(a, s, g, p, o)
        for a in dims["area"]
        for s in dims["sex"]
        for g in dims["age_band"]
        for p in dims["period"]
        for o in dims["outcome"]
    )


def release_tables(year: str, counts: dict[Atom, int]) -> list[Table]:
    def cell(key: str, atoms: frozenset[Atom]) -> Cell:
        return Cell(key, atoms, sum(counts[a] for a in atoms))

    years_so_far = YEARS[: YEARS.index(year) + 1]
    by_area = [
        cell(f"{year}/area/{a}/{o}", atoms_where(area=[a], period=[year], outcome=[o]))
        for a in AREAS
        for o in OUTCOMES
    ]
    by_area += [
        cell(f"{year}/area/all/{o}", atoms_where(period=[year], outcome=[o])) for o in OUTCOMES
    ]
    by_age = [
        cell(
            f"{year}/age/{s}/{b}/{o}",
            atoms_where(sex=[s], age_band=ages, period=[year], outcome=[o]),
        )
        for s in SEXES
        for b, ages in BROAD.items()
        for o in OUTCOMES
    ]
    by_age += [
        cell(f"{year}/age/{s}/all/{o}", atoms_where(sex=[s], period=[year], outcome=[o]))
        for s in SEXES
        for o in OUTCOMES
    ]
    trends = [
        cell(f"{year}/trend/{o}/{y}", atoms_where(period=[y], outcome=[o]))
        for o in OUTCOMES
        for y in years_so_far
    ]
    area_year = [
        cell(f"{year}/area_year/{o}/{a}/{y}", atoms_where(area=[a], period=[y], outcome=[o]))
        for o in ("dx.J45", "dx.C34")
        for a in AREAS
        for y in years_so_far
    ]
    return [
        Table("by_area", tuple(by_area)),
        Table("by_age", tuple(by_age)),
        Table("trends", tuple(trends)),
        Table("area_year", tuple(area_year)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mean", type=float, default=0.4, help="mean count per atom")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    universe = atoms_where()
    counts = {a: int(rng.poisson(args.mean)) for a in sorted(universe)}
    print(f"atoms: {len(counts):,}  total count: {sum(counts.values()):,}")
    ledger: list[LedgerEntry] = []
    for n, year in enumerate(["2023", "2024"], start=1):
        tables = release_tables(year, counts)
        n_cells = sum(len(t.cells) for t in tables)
        started = time.perf_counter()
        protected = protect_release(tables, ledger, atom_counts=counts)
        elapsed = time.perf_counter() - started
        suppressed = [c.key for c in protected.cells() if c.suppressed]
        primary = sum(1 for d in protected.decisions.values() if d.reason and d.reason.primary)
        started = time.perf_counter()
        cells = [c for t in tables for c in t.cells]
        check = audit(cells, suppressed, ledger)
        audit_seconds = time.perf_counter() - started
        print(
            f"release {n} ({year}): {n_cells} cells, {primary} primary + "
            f"{len(suppressed) - primary} secondary suppressed, {protected.rounds} audit rounds, "
            f"protect_release {elapsed:.2f} s; one full audit {audit_seconds:.2f} s "
            f"({check.equations} + {check.ledger_equations} ledger equations, "
            f"{check.variables} variables, {check.components} components, "
            f"{len(check.ranges)} protected sets, passed={check.passed})"
        )
        ledger.extend(protected.ledger_entries(f"R{n}"))


if __name__ == "__main__":
    main()
