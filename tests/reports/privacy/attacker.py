"""An independent attacker on published releases: an atom-level integer program, from scratch.

It is deliberately NOT the audit of ``reports.privacy`` (it imports nothing of
``reports.privacy.audit`` or ``reports.privacy.complementary``): keeping the two apart means a
bug in one cannot hide a bug in the other (issue 12, deliverable 4). It works only from what an
anonymous visitor has:

* what every release published — counts, and the ``denominator`` column of each row;
* public layout knowledge — which atoms each published row sums, which row is another row's
  denominator (``denominator_key``), and the declared nestings between outcomes;
* the ledger of earlier releases (their published values; suppressed cells are known to exist).

The model, for each state of the data (one, unless a revision changed the data between
releases), has one integer variable per atom, ``x_a ≥ 0`` (no merging of atoms: the instances
in tests are small, and simple is obviously right), and:

* ``Σ_{a∈cell} x_a = value`` for every published count of every release in that state;
* ``Σ_{a∈cell} x_a ≤ d`` for every published denominator ``d`` of a row (count ≤ denominator);
* for every nesting ``lesser ≤ greater`` on the outcome dimension and every
  (area, sex, age band, period) where either side has an atom:
  ``Σ_{o∈lesser} x[…, o] ≤ Σ_{o∈greater} x[…, o]``.

For every suppressed cell it minimises and maximises the cell's atom sum with HiGHS
(``scipy.optimize.milp``, integer, zero gap): that is the cell's feasible range, and the
promise is ``hi − lo ≥ T``. Findings are reported, never raised, so that a test can show them
all.

References:
    Hundepool A, Domingo-Ferrer J, Franconi L, et al. *Statistical Disclosure Control*.
        Wiley, 2012, §4.3 (the attacker's integer program, "audit" of a suppression pattern).
    Huangfu Q, Hall JAJ. Parallelizing the dual revised simplex method. *Mathematical
        Programming Computation* 2018;10:119-42 (HiGHS, the solver behind scipy's milp).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, milp
from scipy.sparse import csr_array

from reports.privacy import Atom, DerivedKind, LedgerEntry, ProtectedRelease

#: Derived values that are count / denominator (a published one gives either back from the other).
RATIOS = frozenset({DerivedKind.RATE, DerivedKind.STANDARDIZED_RATE, DerivedKind.PERCENTAGE})

#: Upper bound put on every atom so that every program is bounded; a maximum reaching half of
#: it is reported as unbounded. Test counts are in the hundreds at most.
CAP = 10**7


class NestingLike(Protocol):
    """A declared relation on the outcome dimension (``reports.privacy.Nesting`` fits it)."""

    @property
    def lesser(self) -> tuple[str, ...]: ...

    @property
    def greater(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class PublicCell:
    """One published row as the public sees it.

    Args:
        key: the row's name (a cell key, or a label built from a download's columns).
        atoms: the atoms it sums (public layout knowledge).
        value: the published count, ``None`` when suppressed.
        denominator: the published ``denominator`` column, ``None`` when empty.
        denominator_key: the key of the row whose count is this row's denominator, if any
            (then the published denominator is that row's count: an equation on its atoms).
        ratio: a rate or percentage of this row is published (count / denominator): it
            gives either one back from the other, so both must be published with it.
    """

    key: str
    atoms: frozenset[Atom]
    value: int | None
    denominator: int | None = None
    denominator_key: str | None = None
    ratio: bool = False


@dataclass(frozen=True, slots=True)
class PublicRelease:
    """Everything one release published. ``data`` names the state of the data it describes:
    releases built from the same data share it; a release built after late records arrived
    (a revision) gets its own, and the attacker keeps one set of atom variables per state."""

    name: str
    cells: tuple[PublicCell, ...]
    data: str = "data"


class FindingKind(StrEnum):
    SMALL_COUNT = "small_count"  # a published count in 1..T−1 (0..T−1 with suppressed zeros)
    SMALL_DENOMINATOR = "small_denominator"  # a published denominator in that range
    NARROW_RANGE = "narrow_range"  # a suppressed cell of the new release: hi − lo < T
    EARLIER_CELL = "earlier_cell"  # an earlier suppressed cell now narrower than T
    DIFFERENCE = "difference"  # atoms the equations tell apart, pinned to a small count
    REVISION = "revision"  # an atom set whose value moved by 1..T−1 between data states
    EXCLUDES_EARLIER = "excludes_earlier"  # a revised suppressed cell's range misses its old value
    INCONSISTENT = "inconsistent"  # the published numbers admit no data at all
    RATIO = "ratio"  # a rate or percentage published beside a suppressed count or denominator


@dataclass(frozen=True, slots=True)
class Finding:
    """What the attacker learnt. ``lo``/``hi`` is the feasible range (``hi`` ``None``:
    unbounded); ``value`` the published or earlier value the finding is about."""

    kind: FindingKind
    release: str
    key: str
    lo: int | None = None
    hi: int | None = None
    value: int | None = None
    detail: str = ""

    def __str__(self) -> str:
        hi = "∞" if self.hi is None else str(self.hi)
        span = f" range [{self.lo}, {hi}]" if self.lo is not None else ""
        value = f" value {self.value}" if self.value is not None else ""
        return f"{self.kind.value}: {self.release}/{self.key}{span}{value} {self.detail}".rstrip()


@dataclass
class _Program:
    """The attacker's integer program for one state of the data."""

    atoms: list[Atom]
    index: dict[Atom, int]
    constraints: list[LinearConstraint]
    cache: dict[tuple[frozenset[Atom], int], int | None] = field(default_factory=dict)

    def _solve(self, target: frozenset[Atom], sign: int) -> OptimizeResult:
        cost = np.zeros(len(self.atoms))
        for a in target:
            cost[self.index[a]] = sign
        result = milp(
            cost,
            integrality=np.ones(len(self.atoms)),
            bounds=Bounds(0, CAP),
            constraints=self.constraints,
            options={"mip_rel_gap": 0.0},
        )
        assert result.status in (0, 2), f"HiGHS: {result.message}"
        return result

    def optimum(self, target: frozenset[Atom], sign: int) -> int | None:
        """min (sign=+1) or max (sign=−1) of Σ target; ``None``: infeasible; ≥ CAP/2: unbounded."""
        key = (target, sign)
        if key not in self.cache:
            result = self._solve(target, sign)
            self.cache[key] = None if result.status == 2 else round(sign * result.fun)
        return self.cache[key]

    def point(self, target: frozenset[Atom]) -> dict[Atom, int]:
        """A feasible integer solution minimising Σ target (the program must be feasible)."""
        result = self._solve(target, 1)
        assert result.status == 0, f"HiGHS: {result.message}"
        return {a: round(v) for a, v in zip(self.atoms, result.x, strict=True)}

    def range_of(self, target: frozenset[Atom]) -> tuple[int, int | None] | None:
        """The feasible range of Σ target (``hi`` ``None`` when unbounded), ``None`` when the
        published numbers are inconsistent."""
        lo = self.optimum(target, 1)
        hi = self.optimum(target, -1)
        if lo is None or hi is None:
            return None
        return lo, (None if hi >= CAP // 2 else hi)


def _program(releases: Sequence[PublicRelease], relations: Sequence[NestingLike]) -> _Program:
    atoms: set[Atom] = set()
    for release in releases:
        for cell in release.cells:
            atoms |= cell.atoms
    # Nestings compare outcomes at the same (area, sex, age band, period): both sides need a
    # variable wherever either side has one.
    by_place: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for a in atoms:
        by_place[a.area, a.sex, a.age_band, a.period].add(a.outcome)
    nested = [
        (place, relation)
        for place, outcomes in by_place.items()
        for relation in relations
        if outcomes & (set(relation.lesser) | set(relation.greater))
    ]
    for place, relation in nested:
        atoms |= {Atom(*place, o) for o in (*relation.lesser, *relation.greater)}
    ordered = sorted(atoms)
    index = {a: i for i, a in enumerate(ordered)}

    rows: list[dict[int, float]] = []
    lower: list[float] = []
    upper: list[float] = []
    for release in releases:
        keyed = {c.key: c for c in release.cells}
        for cell in release.cells:
            if cell.value is not None:
                rows.append({index[a]: 1.0 for a in cell.atoms})
                lower.append(cell.value)
                upper.append(cell.value)
            if cell.denominator is not None:
                rows.append({index[a]: 1.0 for a in cell.atoms})
                lower.append(-np.inf)
                upper.append(cell.denominator)
                if cell.denominator_key in keyed:
                    # The column is the denominator row's count, whether or not that row
                    # shows it: an equation on the denominator's own atoms.
                    rows.append({index[a]: 1.0 for a in keyed[cell.denominator_key].atoms})
                    lower.append(cell.denominator)
                    upper.append(cell.denominator)
    for place, relation in nested:
        row: dict[int, float] = defaultdict(float)
        for o in relation.lesser:
            row[index[Atom(*place, o)]] += 1.0
        for o in relation.greater:
            row[index[Atom(*place, o)]] -= 1.0
        rows.append(dict(row))
        lower.append(-np.inf)
        upper.append(0.0)
    constraints = []
    if rows:
        data = [v for r in rows for v in r.values()]
        cols = [c for r in rows for c in r]
        pointers = np.cumsum([0, *(len(r) for r in rows)])
        matrix = csr_array((data, cols, pointers), shape=(len(rows), len(ordered)))
        constraints = [LinearConstraint(matrix, np.array(lower), np.array(upper))]
    return _Program(ordered, index, constraints)


def _sensitive(value: int, threshold: int, suppress_zeros: bool) -> bool:
    return (0 if suppress_zeros else 1) <= value < threshold


def attack(
    releases: Sequence[PublicRelease],
    *,
    threshold: int,
    relations: Sequence[NestingLike] = (),
    suppress_zeros: bool = False,
    differences: bool = True,
    ranges: dict[str, tuple[int, int | None]] | None = None,
) -> list[Finding]:
    """Everything the attacker learns from ``releases`` (the last one is the new release).

    ``ranges``, when given, receives the feasible range of every suppressed cell of the new
    release (``hi`` ``None``: unbounded), so that a test can check that the truth lies in it.

    Checks, in order:

    1. every published count and denominator of every release: none in 1..T−1 (0..T−1 with
       ``suppress_zeros``); no rate or percentage beside a suppressed count or denominator;
    2. every suppressed cell of the new release: its feasible range in the new release's data
       state is at least T wide (``hi − lo ≥ T``);
    3. every cell suppressed by an earlier release and not published since: not pinned to a
       small count (range narrower than T whose minimum is in 1..T−1);
    4. ``differences``: the finest atom sets the published equations tell apart (atoms summed
       by exactly the same published rows), and B minus A for every published A ⊊ B: not
       pinned to a small count either;
    5. across data states (a revision): an atom set published, or exactly derivable, in both
       states must not have moved by 1..T−1; a suppressed cell of the new release that an
       earlier state published must keep that earlier value inside its new range.

    An inconsistent state (no non-negative integer data fits the published numbers) is a
    finding too: either the release publishes something false or the attacker's assumptions
    about which releases share data are wrong — a test must look at it either way.
    """
    if not releases:
        return []
    findings: list[Finding] = []
    for release in releases:
        keyed = {c.key: c for c in release.cells}
        for cell in release.cells:
            linked = keyed.get(cell.denominator_key) if cell.denominator_key else None
            hidden_denominator = cell.denominator is None or (
                linked is not None and linked.value is None
            )
            if cell.ratio and (cell.value is None or hidden_denominator):
                findings.append(
                    Finding(
                        FindingKind.RATIO,
                        release.name,
                        cell.key,
                        value=cell.value,
                        detail="a rate or percentage beside a suppressed count or denominator",
                    )
                )
            if cell.value is not None and _sensitive(cell.value, threshold, suppress_zeros):
                findings.append(
                    Finding(FindingKind.SMALL_COUNT, release.name, cell.key, value=cell.value)
                )
            if cell.denominator is not None and _sensitive(
                cell.denominator, threshold, suppress_zeros
            ):
                findings.append(
                    Finding(
                        FindingKind.SMALL_DENOMINATOR,
                        release.name,
                        cell.key,
                        value=cell.denominator,
                    )
                )

    states: dict[str, list[PublicRelease]] = defaultdict(list)
    for release in releases:
        states[release.data].append(release)
    programs: dict[str, _Program] = {}
    for state, members in states.items():
        program = _program(members, relations)
        if program.range_of(frozenset()) is None:
            findings.append(
                Finding(
                    FindingKind.INCONSISTENT,
                    members[-1].name,
                    "*",
                    detail=f"no data fits the releases {[r.name for r in members]}",
                )
            )
            continue
        programs[state] = program
    new = releases[-1]
    current = programs.get(new.data)
    if current is None:
        return findings

    # 2. The promise: every suppressed cell of the new release stays at least T wide.
    for cell in new.cells:
        if cell.value is not None:
            continue
        found = current.range_of(cell.atoms)
        assert found is not None
        lo, hi = found
        if ranges is not None:
            ranges[cell.key] = found
        if hi is not None and hi - lo < threshold:
            findings.append(Finding(FindingKind.NARROW_RANGE, new.name, cell.key, lo, hi))

    # 3. Earlier suppressed cells, in their own data state, not published since: the same
    #    promise, at least T wide (docs/privacy.md, "The audit").
    published_later: set[frozenset[Atom]] = set()
    for release in reversed(releases):
        for cell in release.cells:
            if cell.value is None and cell.atoms not in published_later and release is not new:
                earlier = programs.get(release.data)
                found = earlier.range_of(cell.atoms) if earlier else None
                if found is not None and found[1] is not None and found[1] - found[0] < threshold:
                    findings.append(
                        Finding(FindingKind.EARLIER_CELL, release.name, cell.key, *found)
                    )
            if cell.value is not None:
                published_later.add(cell.atoms)

    # 4. Differences: atoms summed by exactly the same published rows form one class.
    if differences:
        for state, program in programs.items():
            findings.extend(
                _differences(states[state], program, threshold, suppress_zeros),
            )

    # 5. Revisions: compare the new release's data state with every earlier one.
    for state, program in programs.items():
        if state == new.data:
            continue
        findings.extend(_revisions(states[state], program, new, current, threshold))
    return findings


def _pinned_small(found: tuple[int, int | None], threshold: int, suppress_zeros: bool) -> bool:
    """The documented promise for differences (atom sets that are no cell of any release): a
    range narrower than T must not certify a small count — a minimum in 1..T−1, or (with
    suppressed zeros) a maximum of 0. "At most 8" or "exactly 40" tells nothing about a
    resident (docs/privacy.md, "The audit")."""
    lo, hi = found
    if hi is None or hi - lo >= threshold:
        return False
    return 1 <= lo < threshold or (suppress_zeros and hi == 0)


def _differences(
    releases: Sequence[PublicRelease], program: _Program, threshold: int, suppress_zeros: bool
) -> list[Finding]:
    published = [c for r in releases for c in r.cells if c.value is not None]
    signature: dict[Atom, list[int]] = defaultdict(list)
    for i, cell in enumerate(published):
        for a in cell.atoms:
            signature[a].append(i)
    classes: dict[tuple[int, ...], set[Atom]] = defaultdict(set)
    for a, rows in signature.items():
        classes[tuple(rows)].add(a)
    cells = {c.atoms for r in releases for c in r.cells}
    targets = {
        rows: frozenset(atoms)
        for rows, atoms in classes.items()
        if frozenset(atoms) not in cells  # a row of its own: checked above, or published
    }
    # A class that is 0 in some feasible solution has minimum 0: find such solutions by
    # minimising the sum of all open classes at once, until every one left is positive.
    open_ = dict(targets)
    while open_ and not suppress_zeros:
        point = program.point(frozenset().union(*open_.values()))
        zero = {r for r, atoms in open_.items() if sum(point[a] for a in atoms) == 0}
        if not zero:
            break
        for r in zero:
            del open_[r]
    reported = _nested_differences(releases, published, cells, threshold, suppress_zeros)
    findings = list(reported.values())
    for members, target in sorted(open_.items(), key=lambda item: item[0]):
        if target in reported:
            continue
        lo = program.optimum(target, 1)
        if lo is None or lo >= threshold or (lo == 0 and not suppress_zeros):
            continue
        found = program.range_of(target)
        if found is not None and _pinned_small(found, threshold, suppress_zeros):
            names = ", ".join(published[i].key for i in members)
            findings.append(
                Finding(
                    FindingKind.DIFFERENCE,
                    releases[-1].name,
                    f"atoms in exactly [{names}]",
                    *found,
                    detail=f"{len(target)} atoms",
                )
            )
    return findings


def _nested_differences(
    releases: Sequence[PublicRelease],
    published: Sequence[PublicCell],
    cells: set[frozenset[Atom]],
    threshold: int,
    suppress_zeros: bool,
) -> dict[frozenset[Atom], Finding]:
    """B minus A for every published A ⊊ B: its total is v_B − v_A, no solver needed.

    The atom classes above miss such a set when a third published row splits it (e.g. the
    2023 part of "band over 2023–2024" minus "band in 2024", split by an earlier band that
    holds some of its areas): each part alone ranges from 0, the union is exact.
    """
    findings: dict[frozenset[Atom], Finding] = {}
    by_atoms = {c.atoms: c for c in published}
    for big, small in itertools.permutations(by_atoms.values(), 2):
        rest = big.atoms - small.atoms
        if not small.atoms < big.atoms or rest in cells or rest in findings:
            continue  # a row of its own is checked as a cell
        assert big.value is not None and small.value is not None
        value = big.value - small.value
        if _sensitive(value, threshold, suppress_zeros):
            findings[rest] = Finding(
                FindingKind.DIFFERENCE,
                releases[-1].name,
                f"{big.key} minus {small.key}",
                value,
                value,
                detail=f"{len(rest)} atoms",
            )
    return findings


def _revisions(
    old_releases: Sequence[PublicRelease],
    old: _Program,
    new: PublicRelease,
    current: _Program,
    threshold: int,
) -> list[Finding]:
    findings = []
    old_values: dict[frozenset[Atom], tuple[str, str, int]] = {}
    for release in old_releases:
        for cell in release.cells:
            if cell.value is not None:
                old_values[cell.atoms] = (release.name, cell.key, cell.value)

    def change(atoms: frozenset[Atom], where: str, key: str, value: int, other: _Program) -> None:
        # The value of the same atoms in the other data state, when exactly derivable.
        if not atoms <= set(other.index):
            return
        found = other.range_of(atoms)
        if found is None or found[1] != found[0]:
            return
        moved = abs(found[0] - value)
        if 1 <= moved < threshold:
            findings.append(
                Finding(
                    FindingKind.REVISION,
                    where,
                    key,
                    *found,
                    value=value,
                    detail=f"moved by {moved} between data states",
                )
            )

    for cell in new.cells:
        if cell.value is not None:
            change(cell.atoms, new.name, cell.key, cell.value, old)
    new_sets = {c.atoms for c in new.cells if c.value is not None}
    for atoms, (name, key, value) in old_values.items():
        if atoms not in new_sets:
            change(atoms, name, key, value, current)
    for cell in new.cells:
        if cell.value is None and cell.atoms in old_values:
            name, key, value = old_values[cell.atoms]
            found = current.range_of(cell.atoms)
            assert found is not None
            lo, hi = found
            if value < lo or (hi is not None and value > hi):
                findings.append(
                    Finding(
                        FindingKind.EXCLUDES_EARLIER,
                        new.name,
                        cell.key,
                        lo,
                        hi,
                        value=value,
                        detail=f"published as {value} by {name}/{key}",
                    )
                )
    return findings


def describe(findings: Iterable[Finding]) -> str:
    """One finding a line, for assertion messages."""
    return "\n".join(str(f) for f in findings) or "nothing found"


def public_release(protected: ProtectedRelease, name: str, data: str = "data") -> PublicRelease:
    """What a release published, joined with its public layout.

    From the layout (``protected.source``) only the atom sets and denominator links are
    taken — never a count; values and denominators come from the published cells.
    """
    layout = {c.key: c for t in protected.source for c in t.cells}
    cells = []
    for published in protected.cells():
        source = layout[published.key]
        cells.append(
            PublicCell(
                key=published.key,
                atoms=source.atoms,
                value=published.count,
                denominator=published.denominator,
                denominator_key=getattr(source, "denominator_key", None),
                ratio=any(d.value is not None and d.kind in RATIOS for d in published.derived),
            )
        )
    return PublicRelease(name, tuple(cells), data)


def ledger_releases(
    entries: Iterable[LedgerEntry], data: Mapping[str, str] | None = None
) -> list[PublicRelease]:
    """The ledger as releases, in publication order (``data``: a release's data state)."""
    grouped: dict[str, list[PublicCell]] = {}
    for entry in entries:
        grouped.setdefault(entry.release, []).append(
            PublicCell(entry.key, entry.atoms, entry.value)
        )
    return [
        PublicRelease(name, tuple(cells), (data or {}).get(name, "data"))
        for name, cells in grouped.items()
    ]
