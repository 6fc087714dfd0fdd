"""The attacker's integer programs: feasible ranges of suppressed cells across all releases.

The attacker knows every number published by this release and by every earlier release (the
ledger). Each published count is an equation ``Σ_{a ∈ cell} x_a = value`` over the unknown
atom counts ``x_a ∈ ℤ, 0 ≤ x_a ≤ u_a`` (``u_a`` an optional known bound such as the
population). For each protected cell the audit solves two integer programs — minimise and
maximise ``Σ_{a ∈ cell} x_a`` subject to all those equations — with HiGHS (the LP relaxation
through highspy, kept loaded per component; the integer program, when the relaxation's optimum
is not integral, through :func:`scipy.optimize.milp`). Its feasible range ``[lo, hi]`` is what
the attacker can learn; the release passes only if every range is at least T wide
(``hi − lo ≥ T``). This is the "attacker problem" of Fischetti & Salazar-González (2001),
solved exactly over the integers.

Protected ("target") sets:

* every cell suppressed in this release (``SUPPRESSED``) and every cell suppressed in an
  earlier release and not published since (``EARLIER_SUPPRESSED``): ``hi − lo ≥ T``, always
  — a later release must not narrow what an earlier one hid (a hidden cell already as narrow
  from the earlier releases alone, published before this rule, is reported but not blamed on
  this release when it adds nothing to it);
* every *difference* (``DIFFERENCE``): the finest sets of atoms the published equations can
  tell apart that are not themselves a published or suppressed cell — e.g. ``C`` from
  ``A+B+C`` and ``A+B`` (geographic differencing). These are exposed when their range is
  narrower than T **and** certifies a small count: a lower bound of
  1..T−1 (some residents certainly have the outcome), or an upper bound of 0 when zeros are
  suppressed. Knowing that a difference is "at most 8" (0 included) tells nothing about any
  resident; knowing that it is 3 does. These targets are first screened with integer
  solutions found by group testing (a solution where the set is 0, or two solutions ≥ T
  apart, prove it protected); the rest are solved exactly.

A published count whose atom set was published before with another value is a *revision*; it
must change by 0 or by at least T from every earlier value, otherwise the change itself is a
small count (reported as :class:`RevisionViolation`). The newest value of an atom set replaces
older ones in the equations. When atom counts are supplied, ledger values that no longer match
the data (revised since) are *stale* and left out of the equations (listed in the result);
otherwise an inconsistent set of equations is reported and the audit fails.

Structure exploited (exact reductions): atoms that belong to exactly the same cells are merged
into one variable (a sum of non-negative integers takes every non-negative integer value, up
to the sum of the bounds); atoms in no published equation are free (range 0..u); and the
equations split into connected components solved independently, with results cached by
(component, objective) across the rounds of complementary suppression.

The feasible ranges are for the internal audit report only and are never published.

References:
    Fischetti M, Salazar-González JJ. Solving the cell suppression problem on tabular data
        with linear constraints. Management Science 2001;47:1008-27.
    Cox LH. Suppression methodology and statistical disclosure control. JASA 1980;75:377-85.
    Hundepool A, et al. *Statistical Disclosure Control*. Wiley 2012, §4.3 (auditing),
        §5.5 (linked tables and differencing).
    Huangfu Q, Hall JAJ. Parallelizing the dual revised simplex method. Math Prog Comp
        2018;10:119-42 (HiGHS).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import highspy
import numpy as np
from highspy._core import _Highs  # type: ignore[import-not-found,unused-ignore]
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse.csgraph import connected_components

from reports.privacy.model import (
    Atom,
    Cell,
    DerivedKind,
    DisclosureError,
    LedgerEntry,
    Nesting,
    Rules,
)

#: Integer solutions remembered per component to screen differences cheaply.
POOL_SIZE = 400
#: Group-testing rounds per component before differences are solved one by one.
SCREEN_ROUNDS = 8


class TargetKind(StrEnum):
    """What kind of protected set a range belongs to (see the module docstring)."""

    SUPPRESSED = "suppressed"
    EARLIER_SUPPRESSED = "earlier_suppressed"
    DIFFERENCE = "difference"
    CHANGE = "change"  # the change of a set since earlier releases, when data were revised


@dataclass(frozen=True, slots=True)
class CellRange:
    """The attacker's feasible range ``[lo, hi]`` of a protected set (``hi=None``: unbounded).

    Internal report only — never published.
    """

    key: str
    kind: TargetKind
    lo: int
    hi: int | None
    protected: bool
    note: str = ""
    exact: bool = True  # False: an inner range (solutions found), already ≥ T wide

    @property
    def width(self) -> float:
        return math.inf if self.hi is None else float(self.hi - self.lo)


@dataclass(frozen=True, slots=True)
class RevisionViolation:
    """A republished atom set whose value moved by more than 0 and less than T."""

    key: str
    earlier_release: str
    earlier_key: str
    earlier_value: int
    value: int

    @property
    def change(self) -> int:
        return self.value - self.earlier_value


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """What the public may know about the audit: counts only, never ranges."""

    threshold: int
    suppressed_cells: int
    protected_sets: int
    earlier_releases: int
    equations: int
    passed: bool


@dataclass(frozen=True)
class AuditResult:
    """The audit of one release against the ledger (internal: contains the feasible ranges)."""

    threshold: int
    ranges: tuple[CellRange, ...]
    revisions: tuple[RevisionViolation, ...] = ()
    inconsistent: tuple[str, ...] = ()
    stale_ledger: tuple[str, ...] = ()
    equations: int = 0
    ledger_equations: int = 0
    variables: int = 0
    components: int = 0
    earlier_releases: int = 0
    seconds: float = 0.0
    _by_key: dict[str, CellRange] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_key.update({r.key: r for r in self.ranges})

    @property
    def exposed(self) -> tuple[CellRange, ...]:
        """Protected sets whose range is too narrow."""
        return tuple(r for r in self.ranges if not r.protected)

    @property
    def passed(self) -> bool:
        return not self.exposed and not self.revisions and not self.inconsistent

    def range_of(self, key: str) -> CellRange:
        """The range of a suppressed cell (by cell key) or another protected set."""
        return self._by_key[key]

    def summary(self) -> AuditSummary:
        """The public summary: how many cells were suppressed and checked, no ranges."""
        return AuditSummary(
            threshold=self.threshold,
            suppressed_cells=sum(1 for r in self.ranges if r.kind == TargetKind.SUPPRESSED),
            protected_sets=len(self.ranges),
            earlier_releases=self.earlier_releases,
            equations=self.equations + self.ledger_equations,
            passed=self.passed,
        )

    def explain(self) -> str:
        """A human-readable account of why the audit failed (empty when it passed)."""
        lines: list[str] = []
        for r in self.exposed:
            hi = "∞" if r.hi is None else str(r.hi)
            lines.append(
                f"{r.kind} {r.key}: feasible range [{r.lo}, {hi}] is narrower than "
                f"T={self.threshold}{' — ' + r.note if r.note else ''}"
            )
        for v in self.revisions:
            lines.append(
                f"revision of {v.key}: {v.earlier_value} (release {v.earlier_release}) → "
                f"{v.value} changes by {v.change:+d}; it must change by 0 or at least "
                f"{self.threshold}"
            )
        if self.inconsistent:
            lines.append(
                "the published equations of this release and the ledger are inconsistent "
                "(data revised since an earlier release?): " + ", ".join(self.inconsistent[:12])
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# The engine: built once per release, audited once per round of complementary suppression.


@dataclass
class _Stat:
    """A distinct atom set across the release and the ledger ("statistic")."""

    atoms: frozenset[Atom]
    groups: tuple[int, ...] = ()
    release_keys: list[str] = field(default_factory=list)
    release_value: int | None = None
    history: list[tuple[str, str, int | None]] = field(default_factory=list)
    stale: bool = False
    cap: int | None = None  # a published "n tested" the count cannot exceed

    @property
    def ledger_value(self) -> int | None:
        """The newest value published by an earlier release (``None``: never published)."""
        for _, _, value in reversed(self.history):
            if value is not None:
                return value
        return None

    @property
    def ledger_hidden(self) -> bool:
        """Recorded by earlier releases, always suppressed."""
        return bool(self.history) and all(v is None for _, _, v in self.history)

    def label(self) -> str:
        if self.release_keys:
            return self.release_keys[0]
        release, key, _ = self.history[-1]
        return f"{release}/{key}"


class _Unbounded(Exception):
    """The attacker's program has no finite maximum for this objective."""


#: A row of the attacker's program: (kind, index) — an equation or a cap of statistic
#: ``index``, or the relation row ``index`` (a nesting between outcomes).
_RowId = tuple[int, int]
_EQ, _CAP, _REL, _SNAPSHOT = 0, 1, 2, 3
#: The note on a hidden cell the earlier releases alone had already narrowed below T.
ALREADY_NARROW = "as narrow already from the earlier releases alone; this release adds nothing"
#: The lower end of a change's range when the earlier releases leave it unbounded.
UNBOUNDED_BELOW = -(2**31)


@dataclass
class _Component:
    key: frozenset[_RowId]  # the rows it holds
    groups: np.ndarray
    local: dict[int, int]
    matrix: sparse.csr_matrix  # equations first, then inequalities (caps, nestings)
    lower: np.ndarray
    rhs: np.ndarray
    upper: np.ndarray
    rows: list[int]  # the statistics of the equations, in matrix order
    gkey: frozenset[int] = frozenset()  # its variables (pools of solutions are keyed by them)


@dataclass
class _Target:
    key: str
    kind: TargetKind
    groups: frozenset[int]
    stat: int | None
    note: str = ""
    earlier: int | None = None  # a revised cell's earlier published value: must stay feasible
    old_range: tuple[int, int | None] | None = None  # CHANGE: the range before the revision
    strict: bool = False  # held to ``hi − lo ≥ T``: every suppressed cell, earlier ones too


@dataclass
class _Outcome:
    target: _Target
    range: CellRange
    components: list[int]


@dataclass
class _Round:
    result: AuditResult
    outcomes: list[_Outcome]
    rows: dict[int, int]
    components: list[_Component]
    group_component: np.ndarray


def _group_atoms(
    membership: Mapping[Atom, list[int]],
    relations: Sequence[Nesting],
    *,
    exact_positions: bool,
) -> dict[Atom, int]:
    """Merge atoms into the attacker's variables without losing anything the attacker knows.

    Atoms in exactly the same statistics are one variable (a sum of non-negative integers takes
    every non-negative integer value). Nestings relate atoms of one position (area × sex × age
    band × period) across outcomes, so atoms of related outcomes are merged only by whole
    position classes: two positions share a variable for one related outcome only if they do
    for every outcome related to it (partition refinement to a fixed point). The nesting rows
    summed over a position class are then exact: any solution of the merged program is met by
    putting each class's totals on one of its positions. With known atom bounds that argument
    fails, so related atoms then keep their positions.
    """
    parent: dict[str, str] = {}

    def find(o: str) -> str:
        while parent[o] != o:
            parent[o] = parent[parent[o]]
            o = parent[o]
        return o

    for nesting in relations:
        for o in (*nesting.lesser, *nesting.greater):
            parent.setdefault(o, o)
        first = find(nesting.lesser[0])
        for o in (*nesting.lesser, *nesting.greater):
            parent[find(o)] = first
    family: dict[str, tuple[str, ...]] = {}
    for o in parent:
        family.setdefault(find(o), ())
    for o in sorted(parent):
        family[find(o)] = (*family[find(o)], o)

    Position = tuple[str, str, str, str]
    atoms = list(membership)
    index: dict[Position, dict[str, int]] = defaultdict(dict)
    keys: list[tuple[object, ...]] = []
    for i, atom in enumerate(atoms):
        members = membership[atom]
        if atom.outcome in parent:
            position = (atom.area, atom.sex, atom.age_band, atom.period)
            index[position][atom.outcome] = i
            keys.append((tuple(members), atom.outcome, position if exact_positions else None))
        else:
            keys.append((tuple(members),))
    first_ids: dict[tuple[object, ...], int] = {}
    gid = np.fromiter(
        (first_ids.setdefault(key, len(first_ids)) for key in keys), dtype=np.int64, count=len(keys)
    )
    # Each atom's refinement key as one row of integers: its group, then the group of each
    # outcome of its family at its position (-1: no atom there; -2: beyond its family, which
    # never meets another family's row, as a group holds one outcome only).
    width = max((len(f) for f in family.values()), default=0)
    family_of = {o: family[find(o)] for o in parent}
    unrelated = [-2] * width
    shared: dict[tuple[Position, tuple[str, ...]], list[int]] = {}
    mate_rows: list[list[int]] = []
    for atom in atoms:
        outcomes = family_of.get(atom.outcome)
        if outcomes is None:
            mate_rows.append(unrelated)
            continue
        position = (atom.area, atom.sex, atom.age_band, atom.period)
        row = shared.get((position, outcomes))
        if row is None:  # the same for every atom of the family at this position
            here = index[position]
            row = [here.get(o, -1) for o in outcomes] + [-2] * (width - len(outcomes))
            shared[(position, outcomes)] = row
        mate_rows.append(row)
    mates = np.array(mate_rows, dtype=np.int64).reshape(len(atoms), width)
    has_mate = mates >= 0
    distinct = len(first_ids)
    while True:
        rows = np.where(has_mate, gid[np.maximum(mates, 0)], mates)
        gid = _first_seen_ids(np.column_stack([gid, rows]))
        now = int(gid.max()) + 1 if len(gid) else 0
        if now == distinct:
            break
        distinct = now
    return dict(zip(atoms, gid.tolist(), strict=True))


def _first_seen_ids(rows: np.ndarray) -> np.ndarray:
    """Each row's id among the distinct rows, numbered in the order they first appear (as a
    dict's setdefault over the rows would number them)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _relation_rows(
    atom_group: Mapping[Atom, int], relations: Sequence[Nesting]
) -> list[dict[int, float]]:
    """The nestings as rows ``Σ lesser − Σ greater ≤ 0`` over the merged variables.

    A position whose greater side has an atom outside every statistic says nothing (that
    atom is unbounded); lesser atoms outside every statistic are free and drop out.
    """
    at: dict[tuple[str, str, str, str], dict[str, Atom]] = defaultdict(dict)
    for atom in atom_group:
        at[(atom.area, atom.sex, atom.age_band, atom.period)][atom.outcome] = atom
    seen: set[tuple[tuple[int, float], ...]] = set()
    rows: list[dict[int, float]] = []
    for nesting in relations:
        for outcomes in at.values():
            if not all(o in outcomes for o in nesting.greater):
                continue
            coefficients: dict[int, float] = defaultdict(float)
            for o in nesting.lesser:
                if o in outcomes:
                    coefficients[atom_group[outcomes[o]]] += 1.0
            if not coefficients:
                continue
            for o in nesting.greater:
                coefficients[atom_group[outcomes[o]]] -= 1.0
            key = tuple(sorted((g, c) for g, c in coefficients.items() if c != 0.0))
            if key in seen or all(c < 0 for _, c in key):
                continue
            seen.add(key)
            rows.append(dict(key))
    return rows


class _LpStatus(StrEnum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    OTHER = "other"  # a limit or a numerical trouble: the integer program decides


def _satisfies(comp: _Component, x: np.ndarray) -> bool:
    """Is ``x`` a point of the component's integer program (bounds and every row)?"""
    if np.any(x < -1e-9) or np.any(x > comp.upper + 1e-9):
        return False
    ax = comp.matrix @ x
    return bool(np.all(ax >= comp.lower - 1e-6) and np.all(ax <= comp.rhs + 1e-6))


class _Relaxations:
    """The LP relaxation of each component, kept loaded in HiGHS between objectives.

    HiGHS's C++ solver class is used directly: the ``highspy.Highs`` subclass adds a Python
    logging callback that prints a banner on stdout (into management commands' output) and runs
    Python code on solver events; none of its conveniences are needed here.

    An audit asks for the minimum and the maximum of many cell totals over the same
    equations; only the objective changes. Keeping one HiGHS model per component and changing
    its costs lets the simplex start from the last optimal basis, and skips rebuilding the
    problem for every solve (through :func:`scipy.optimize.linprog` that rebuilding was about
    two thirds of an audit's time). Models are kept for the most recently used components.
    """

    KEEP = 256

    def __init__(self) -> None:
        self._models: OrderedDict[frozenset[_RowId], _Highs] = OrderedDict()

    def solve(self, comp: _Component, objective: np.ndarray) -> tuple[_LpStatus, np.ndarray | None]:
        h = self._model(comp)
        n = len(comp.groups)
        h.changeColsCost(n, np.arange(n, dtype=np.int32), objective.astype(float))
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return _LpStatus.OPTIMAL, np.asarray(h.getSolution().col_value, dtype=float)
        if status == highspy.HighsModelStatus.kInfeasible:
            return _LpStatus.INFEASIBLE, None
        if status == highspy.HighsModelStatus.kUnbounded:
            return _LpStatus.UNBOUNDED, None
        if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
            if not objective.any():
                return _LpStatus.INFEASIBLE, None
            feasible, _x = self.solve(comp, np.zeros(n))
            return (_LpStatus.UNBOUNDED if feasible == _LpStatus.OPTIMAL else feasible), None
        return _LpStatus.OTHER, None

    def _model(self, comp: _Component) -> _Highs:
        h = self._models.get(comp.key)
        if h is not None:
            self._models.move_to_end(comp.key)
            return h
        h = _Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        # Presolve would be redone for every objective; without it the last basis is reused.
        h.setOptionValue("presolve", "off")
        matrix = sparse.csr_matrix(comp.matrix)
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = matrix.shape[1]
        lp.num_row_ = matrix.shape[0]
        lp.col_cost_ = np.zeros(matrix.shape[1])
        lp.col_lower_ = np.zeros(matrix.shape[1])
        lp.col_upper_ = np.where(np.isinf(comp.upper), inf, comp.upper).astype(float)
        lp.row_lower_ = np.where(np.isinf(comp.lower), -inf, comp.lower).astype(float)
        lp.row_upper_ = np.where(np.isinf(comp.rhs), inf, comp.rhs).astype(float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = matrix.shape[1]
        lp.a_matrix_.num_row_ = matrix.shape[0]
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(float)
        h.passModel(lp)
        self._models[comp.key] = h
        if len(self._models) > self.KEEP:
            self._models.popitem(last=False)
        return h


class AuditEngine:
    """The equation system of one release plus its ledger; audits any suppression pattern.

    Most callers want :func:`audit` or :func:`reports.privacy.protect_release`; the engine is
    public so that complementary suppression can re-audit cheaply (cached components).
    """

    def __init__(
        self,
        cells: Sequence[Cell],
        ledger: Sequence[LedgerEntry] = (),
        rules: Rules | None = None,
        *,
        atom_bounds: Mapping[Atom, int] | None = None,
        atom_counts: Mapping[Atom, int] | None = None,
        relations: Sequence[Nesting] = (),
    ) -> None:
        self.rules = rules or Rules()
        self.threshold = self.rules.threshold
        self.cells = {c.key: c for c in cells}
        if len(self.cells) != len(cells):
            raise ValueError("cell keys must be unique within a release")
        by_atoms: dict[frozenset[Atom], int] = {}
        self.stats: list[_Stat] = []

        def stat_for(atoms: frozenset[Atom]) -> _Stat:
            idx = by_atoms.get(atoms)
            if idx is None:
                idx = by_atoms[atoms] = len(self.stats)
                self.stats.append(_Stat(atoms))
            return self.stats[idx]

        self.cell_stat: dict[str, int] = {}
        for cell in cells:
            stat = stat_for(cell.atoms)
            if stat.release_value is not None and stat.release_value != cell.count:
                raise ValueError(
                    f"cells {stat.release_keys[0]!r} and {cell.key!r} have the same atoms "
                    f"but different counts ({stat.release_value} ≠ {cell.count})"
                )
            stat.release_value = cell.count
            stat.release_keys.append(cell.key)
            if (
                cell.denominator is not None
                and cell.denominator_key is None
                and any(d.kind == DerivedKind.PERCENTAGE for d in cell.derived)
            ):
                # Legacy: a denominator published as is caps its hidden count.
                stat.cap = min(cell.denominator, stat.cap or cell.denominator)
            self.cell_stat[cell.key] = by_atoms[cell.atoms]
        self.earlier_releases = len({e.release for e in ledger})
        for entry in ledger:
            stat_for(entry.atoms).history.append((entry.release, entry.key, entry.value))

        # The (period, outcome) slices the supplied counts describe. Counts are sparse (zeros
        # left out), so an atom outside every described slice is not known to be 0: it may lie
        # outside the data this release was built from (a later year published first, another
        # site's areas). A ledger value over such atoms cannot be judged stale and stays an
        # equation — dropping it would hide from the audit what the attacker still reads.
        described = (
            {(a.period, a.outcome) for a in atom_counts} if atom_counts is not None else set()
        )
        for stat in self.stats:
            # A value published earlier that no longer describes the data (late records, a
            # correction) is no equation of today's data; revisions are judged separately.
            old = stat.ledger_value
            if old is None:
                continue
            if stat.release_value is not None:
                stat.stale = old != stat.release_value
            elif atom_counts is not None and all(
                (a.period, a.outcome) in described for a in stat.atoms
            ):
                stat.stale = old != sum(int(atom_counts.get(a, 0)) for a in stat.atoms)
        if atom_counts is not None:
            for stat in self.stats:
                true = sum(int(atom_counts.get(a, 0)) for a in stat.atoms)
                if stat.release_value is not None and stat.release_value != true:
                    raise ValueError(
                        f"cell {stat.release_keys[0]!r}: count {stat.release_value} ≠ "
                        f"Σ atom counts {true}"
                    )

        membership: dict[Atom, list[int]] = defaultdict(list)
        for i, stat in enumerate(self.stats):
            for atom in stat.atoms:
                membership[atom].append(i)
        self.relations = tuple(relations)
        atom_group = _group_atoms(membership, self.relations, exact_positions=bool(atom_bounds))
        n_groups = max(atom_group.values(), default=-1) + 1
        group_upper = [0.0] * n_groups
        self.group_size = [0] * n_groups
        stat_groups: list[set[int]] = [set() for _ in self.stats]
        for atom, g in atom_group.items():
            bound = math.inf
            if atom_bounds is not None and atom in atom_bounds:
                bound = float(atom_bounds[atom])
            group_upper[g] += bound
            self.group_size[g] += 1
            for i in membership[atom]:
                stat_groups[i].add(g)
        self.group_upper = np.array(group_upper, dtype=float)
        self.n_atoms = len(membership)
        for stat, groups in zip(self.stats, stat_groups, strict=True):
            stat.groups = tuple(sorted(groups))
        self.relation_rows = _relation_rows(atom_group, self.relations)
        self.stat_by_groups = {frozenset(s.groups): i for i, s in enumerate(self.stats)}
        self._cache: dict[tuple[frozenset[_RowId], frozenset[int]], tuple[int, float] | None] = {}
        self._components_cache: dict[frozenset[_RowId], _Component] = {}
        self._pool: dict[frozenset[int], list[np.ndarray]] = {}
        self._feasible: dict[frozenset[_RowId], tuple[int, np.ndarray]] = {}
        self._true_groups: np.ndarray | None = None
        if atom_counts is not None:
            true_groups = np.zeros(len(self.group_upper))
            for atom, i in atom_group.items():
                true_groups[i] += float(atom_counts.get(atom, 0))
            self._true_groups = true_groups
        self.solves = 0
        self.milp_solves = 0
        self._ledger_program: tuple[list[_Component], np.ndarray] | None = None
        self._relaxations = _Relaxations()

    # -- suppression pattern -> equations ------------------------------------------------

    def stat_of(self, key: str) -> int:
        return self.cell_stat[key]

    def suppressed_stats(self, suppressed_keys: Iterable[str]) -> set[int]:
        return {self.cell_stat[k] for k in suppressed_keys}

    def rows(self, suppressed: Collection[int]) -> dict[int, int]:
        """Published equations (statistic → value) given suppressed statistics."""
        rows: dict[int, int] = {}
        for i, stat in enumerate(self.stats):
            if stat.release_keys and i not in suppressed:
                assert stat.release_value is not None
                rows[i] = stat.release_value
            elif not stat.stale:
                value = stat.ledger_value
                if value is not None:
                    rows[i] = value
        return rows

    def locked(self, i: int) -> bool:
        """Published by an earlier release (and still describing the data): not suppressible."""
        return self.stats[i].ledger_value is not None and not self.stats[i].stale

    def cost(self, i: int) -> float:
        stat = self.stats[i]
        if self.rules.cost == "unit":
            return 1.0
        return float(stat.release_value or 0)

    # -- the audit ----------------------------------------------------------------------

    def run(
        self, suppressed: Collection[int], *, screen: bool = False, stop_early: bool = False
    ) -> _Round:
        """Audit one suppression pattern (statistics suppressed in this release).

        With ``screen``, suppressed cells already shown ≥ T wide by known integer solutions
        are not solved again (their reported range is then an inner one, ``exact=False``);
        with ``stop_early`` the audit stops at the first exposed set (a yes/no answer).
        """
        started = time.perf_counter()
        rows = self.rows(suppressed)
        components, group_component = self._components(rows)
        targets = self._targets(suppressed, rows)
        outcomes: list[_Outcome] = []
        inconsistent: list[str] = []
        bad_components: set[int] = set()
        for ci, comp in enumerate(components):
            mixed = len(comp.rows) > 1 and any(self.stats[r].history for r in comp.rows)
            if mixed and self._solve(comp, frozenset()) is None:
                bad_components.add(ci)
        differences: dict[int, list[frozenset[int]]] = defaultdict(list)
        for target in targets:
            if target.kind == TargetKind.DIFFERENCE:
                first = next(iter(target.groups))
                differences[int(group_component[first])].append(target.groups)
        for ci, regions in differences.items():
            self._screen(components[ci], regions)
        exposed = False
        for target in targets:
            strict = target.strict
            # A revised cell must keep its earlier value inside its range: judged exactly.
            screened = (screen or not strict) and target.earlier is None
            lo, hi, comps, feasible, exact = self._range(
                target.groups, components, group_component, screened, strict
            )
            if not feasible:
                bad_components.update(comps)
            outcome = _Outcome(target, self._judge(target, lo, hi, exact), comps)
            outcomes.append(outcome)
            if stop_early and (not feasible or not outcome.range.protected):
                exposed = True
                break
        if not exposed:
            for target in self._change_targets(rows):
                lo, hi, comps, feasible, _ = self._range(target.groups, components, group_component)
                if not feasible:
                    bad_components.update(comps)
                    continue
                outcome = _Outcome(target, self._judge_change(target, lo, hi), comps)
                outcomes.append(outcome)
                if stop_early and not outcome.range.protected:
                    break
        for ci in sorted(bad_components):
            inconsistent.extend(self.stats[r].label() for r in components[ci].rows)
        revisions = self._revisions(rows)
        ledger_rows = sum(1 for r in rows if not self.stats[r].release_keys)
        result = AuditResult(
            threshold=self.threshold,
            ranges=tuple(o.range for o in outcomes),
            revisions=tuple(revisions),
            inconsistent=tuple(inconsistent),
            stale_ledger=tuple(s.label() for s in self.stats if s.stale),
            equations=len(rows) - ledger_rows,
            ledger_equations=ledger_rows,
            variables=len(self.group_upper),
            components=len(components),
            earlier_releases=self.earlier_releases,
            seconds=time.perf_counter() - started,
        )
        return _Round(result, outcomes, rows, components, group_component)

    def _judge(self, target: _Target, lo: int, hi: int | None, exact: bool) -> CellRange:
        wide = hi is None or hi - lo >= self.threshold
        note = target.note
        if target.strict:
            protected = wide
            if target.earlier is not None and not (
                lo <= target.earlier and (hi is None or target.earlier <= hi)
            ):
                # The reader would learn that (and in which direction) it was revised.
                protected = False
                note = f"{note}; its range excludes the earlier published value".lstrip("; ")
            elif not protected and self._no_narrower_than_ledger(target, lo, hi):
                protected = True
                note = f"{note}; {ALREADY_NARROW}".lstrip("; ")
        else:
            protected = wide or not self._certain_small(lo, hi)
        return CellRange(target.key, target.kind, lo, hi, protected, note, exact)

    def _no_narrower_than_ledger(self, target: _Target, lo: int, hi: int | None) -> bool:
        """Was this hidden cell already as narrow from the earlier releases alone?

        Earlier releases published under a weaker rule (before 2026-12) may have narrowed a
        cell they suppressed; this release cannot undo that. It is not blamed for it when it
        adds nothing: the cell was hidden by every earlier release, still describes the same
        data, and its range with this release is no narrower than with the ledger alone.
        """
        if target.stat is None or target.earlier is not None:
            return False
        stat = self.stats[target.stat]
        if not stat.ledger_hidden:
            return False
        if self._ledger_program is None:
            old_rows = {
                i: value
                for i, s in enumerate(self.stats)
                if not s.stale and (value := s.ledger_value) is not None
            }
            self._ledger_program = self._components(old_rows, snapshot=2)
        components, group_component = self._ledger_program
        old_lo, old_hi, _, feasible, _ = self._range(target.groups, components, group_component)
        if not feasible:
            return False
        return lo <= old_lo and (hi is None or (old_hi is not None and hi >= old_hi))

    def _judge_change(self, target: _Target, lo: int, hi: int | None) -> CellRange:
        """The change of a set since the earlier releases: ``new − old`` over both ranges.

        The earlier releases describe the data as they were (``old_range``), this release the
        data as they are (``[lo, hi]``); with nothing linking the two snapshots the change lies
        in ``[lo − old_hi, hi − old_lo]``. It is exposed when that interval is narrower than T
        and certifies a change of 1..T−1 records (the late records are a small count).
        """
        assert target.old_range is not None
        old_lo, old_hi = target.old_range
        d_lo = None if old_hi is None else lo - old_hi
        d_hi = None if hi is None else hi - old_lo
        t = self.threshold
        small = (
            d_lo is not None
            and d_hi is not None
            and d_hi - d_lo < t
            and (1 <= d_lo < t or -t < d_hi <= -1)
        )
        return CellRange(
            target.key,
            TargetKind.CHANGE,
            UNBOUNDED_BELOW if d_lo is None else d_lo,
            d_hi,
            not small,
            target.note,
        )

    def _change_targets(self, rows: Mapping[int, int]) -> list[_Target]:
        """Sets whose change since the earlier releases the reader could bound, when data were
        revised since (some earlier value no longer describes the data).

        Candidates, within the components of the earlier releases' program that hold a revised
        value: every statistic of either snapshot and the finest regions they tell apart. A
        statistic published both now and before is left to the revision rule (its change is
        known exactly).
        """
        stale = [i for i, stat in enumerate(self.stats) if stat.stale]
        if not stale:
            return []
        old_rows: dict[int, int] = {}
        for i, stat in enumerate(self.stats):
            if stat.ledger_value is not None:
                old_rows[i] = stat.ledger_value
        old_components, old_gc = self._components(old_rows, snapshot=1)
        touched = {int(old_gc[g]) for i in stale for g in self.stats[i].groups if old_gc[g] >= 0}
        signature: dict[int, list[int]] = defaultdict(list)
        sets: dict[frozenset[int], str] = {}
        for i in sorted(set(rows) | set(old_rows)):
            stat = self.stats[i]
            if not any(int(old_gc[g]) in touched for g in stat.groups):
                continue
            for g in stat.groups:
                signature[g].append(i)
            if i in rows and stat.release_keys and stat.ledger_value is not None:
                continue  # the revision rule judges it
            sets[frozenset(stat.groups)] = stat.label()
        regions: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for g, sig in signature.items():
            regions[tuple(sig)].append(g)
        n = 0
        for sig_key, groups in sorted(regions.items()):
            region = frozenset(groups)
            if region in sets or region in self.stat_by_groups:
                continue
            n += 1
            inside = ", ".join(self.stats[r].label() for r in sig_key[:3])
            sets[region] = f"part#{n} of {inside}{'…' if len(sig_key) > 3 else ''}"
        targets: list[_Target] = []
        for region, label in sets.items():
            lo, hi, _, feasible, _ = self._range(region, old_components, old_gc)
            if not feasible:
                continue  # earlier releases disagree among themselves: nothing to compare with
            targets.append(
                _Target(
                    f"change of {label}",
                    TargetKind.CHANGE,
                    region,
                    self.stat_by_groups.get(region),
                    "since the earlier releases",
                    old_range=(lo, hi),
                )
            )
        return targets

    def _certain_small(self, lo: int, hi: int | None) -> bool:
        """Does ``[lo, hi]`` tell that the count is certainly a small positive one (or 0)?

        A lower bound of 1..T−1 certifies that some residents have the outcome; an upper
        bound of 0 certifies that none has it, which matters only when zeros are suppressed.
        A range starting at 0 certifies nothing about anyone.
        """
        return 1 <= lo < self.threshold or (self.rules.suppress_zeros and hi == 0)

    def _targets(self, suppressed: Collection[int], rows: Mapping[int, int]) -> list[_Target]:
        targets: list[_Target] = []
        covered: set[frozenset[int]] = set()
        for i in sorted(suppressed):
            stat = self.stats[i]
            note = ""
            if self.locked(i):
                release, key, _ = next(h for h in reversed(stat.history) if h[2] is not None)
                note = f"published earlier as {release}/{key}"
            earlier = stat.ledger_value if stat.stale else None
            if earlier is not None:
                release, key, _ = next(h for h in reversed(stat.history) if h[2] is not None)
                note = f"revised since {release}"
            for key in stat.release_keys:
                targets.append(
                    _Target(
                        key,
                        TargetKind.SUPPRESSED,
                        frozenset(stat.groups),
                        i,
                        note,
                        earlier,
                        strict=True,
                    )
                )
            covered.add(frozenset(stat.groups))
        for i, stat in enumerate(self.stats):
            if stat.ledger_hidden and i not in rows and i not in suppressed:
                targets.append(
                    _Target(
                        stat.label(),
                        TargetKind.EARLIER_SUPPRESSED,
                        frozenset(stat.groups),
                        i,
                        strict=True,
                    )
                )
                covered.add(frozenset(stat.groups))
        # Differences: the finest atom sets the published equations tell apart.
        signature: dict[int, list[int]] = defaultdict(list)
        for r in sorted(rows):
            for g in self.stats[r].groups:
                signature[g].append(r)
        regions: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for g, sig in signature.items():
            regions[tuple(sig)].append(g)
        published_sets = {frozenset(self.stats[r].groups) for r in rows}
        n = 0
        for sig_key, groups in sorted(regions.items()):
            region = frozenset(groups)
            if region in published_sets or region in covered:
                continue
            n += 1
            atoms = sum(self.group_size[g] for g in region)
            inside = ", ".join(self.stats[r].label() for r in sig_key[:3])
            more = "…" if len(sig_key) > 3 else ""
            note = f"{atoms} atoms inside {inside}{more}"
            targets.append(_Target(f"difference#{n}", TargetKind.DIFFERENCE, region, None, note))
            covered.add(region)
        # A total minus one published part: a union of regions, so not among them when a
        # third published number splits it (e.g. a two-year band minus its latest year).
        masks = {r: sum(1 << g for g in self.stats[r].groups) for r in rows}
        for t, whole in masks.items():
            for part_row, part in masks.items():
                if part_row == t or part & ~whole or part == whole:
                    continue
                rest = whole & ~part
                region = frozenset(g for g in self.stats[t].groups if rest >> g & 1)
                if region in published_sets or region in covered:
                    continue
                covered.add(region)
                n += 1
                note = f"{self.stats[t].label()} minus {self.stats[part_row].label()}"
                targets.append(
                    _Target(f"difference#{n}", TargetKind.DIFFERENCE, region, None, note)
                )
        return targets

    def _revisions(self, rows: Mapping[int, int]) -> list[RevisionViolation]:
        out: list[RevisionViolation] = []
        for i in rows:
            stat = self.stats[i]
            if not stat.release_keys or stat.release_value is None:
                continue
            seen: set[int] = set()
            for release, key, value in reversed(stat.history):
                if value is None or value in seen:
                    continue
                seen.add(value)
                if 0 < abs(stat.release_value - value) < self.threshold:
                    out.append(
                        RevisionViolation(
                            stat.release_keys[0], release, key, value, stat.release_value
                        )
                    )
        return out

    # -- components and integer programs -------------------------------------------------

    def _row_groups(self, row: _RowId) -> Iterable[int]:
        kind, index = row
        if kind == _REL:
            return self.relation_rows[index].keys()
        return self.stats[index].groups

    def _components(
        self, rows: Mapping[int, int], snapshot: int = 0
    ) -> tuple[list[_Component], np.ndarray]:
        """Connected components of the published equations, the caps of hidden cells and the
        nestings between outcomes."""
        n_groups = len(self.group_upper)
        row_ids: list[_RowId] = [(_EQ, i) for i in sorted(rows)]
        row_ids += [
            (_CAP, i) for i, s in enumerate(self.stats) if s.cap is not None and i not in rows
        ]
        row_ids += [(_REL, k) for k in range(len(self.relation_rows))]
        group_component = np.full(n_groups, -1, dtype=np.int64)
        if not row_ids:
            return [], group_component
        indptr = [0]
        indices: list[int] = []
        for r in row_ids:
            indices.extend(self._row_groups(r))
            indptr.append(len(indices))
        incidence = sparse.csr_matrix(
            (np.ones(len(indices)), np.array(indices, dtype=np.int64), np.array(indptr)),
            shape=(len(row_ids), n_groups),
        )
        graph = sparse.bmat([[None, incidence], [incidence.T, None]], format="csr")
        _, labels = connected_components(graph, directed=False)
        row_labels = labels[: len(row_ids)]
        group_labels = labels[len(row_ids) :]
        used = np.zeros(n_groups, dtype=bool)
        used[np.array(indices, dtype=np.int64)] = True
        by_label: dict[int, list[_RowId]] = defaultdict(list)
        for pos, label in enumerate(row_labels):
            by_label[int(label)].append(row_ids[pos])
        components: list[_Component] = []
        for label, comp_rows in by_label.items():
            # The earlier snapshot's program has the same rows with other values.
            key = frozenset([*comp_rows, (_SNAPSHOT, snapshot)])
            comp = self._components_cache.get(key)
            if comp is None:
                groups = np.flatnonzero((group_labels == label) & used)
                comp = self._build_component(key, comp_rows, groups, rows)
                self._components_cache[key] = comp
                self.seed_pool(comp)
            group_component[comp.groups] = len(components)
            components.append(comp)
        return components, group_component

    def _build_component(
        self,
        key: frozenset[_RowId],
        comp_rows: list[_RowId],
        groups: np.ndarray,
        rows: Mapping[int, int],
    ) -> _Component:
        local = {int(g): j for j, g in enumerate(groups)}
        equations = sorted(i for kind, i in comp_rows if kind == _EQ)
        caps = sorted(i for kind, i in comp_rows if kind == _CAP)
        nestings = sorted(k for kind, k in comp_rows if kind == _REL)
        data: list[float] = []
        data_rows: list[int] = []
        data_cols: list[int] = []
        k = 0
        for i in equations + caps:
            for g in self.stats[i].groups:
                data.append(1.0)
                data_rows.append(k)
                data_cols.append(local[g])
            k += 1
        for r in nestings:
            for g, coefficient in self.relation_rows[r].items():
                data.append(coefficient)
                data_rows.append(k)
                data_cols.append(local[g])
            k += 1
        matrix = sparse.csr_matrix((data, (data_rows, data_cols)), shape=(k, len(groups)))
        rhs = np.array(
            [float(rows[i]) for i in equations]
            + [float(self.stats[i].cap or 0) for i in caps]
            + [0.0] * len(nestings)
        )
        lower = np.concatenate([rhs[: len(equations)], np.full(k - len(equations), -np.inf)])
        return _Component(
            key,
            groups,
            local,
            matrix,
            lower,
            rhs,
            self.group_upper[groups],
            equations,
            frozenset(int(g) for g in groups),
        )

    def _range(
        self,
        groups: Iterable[int],
        components: list[_Component],
        group_component: np.ndarray,
        screen: bool = False,
        strict: bool = False,
    ) -> tuple[int, int | None, list[int], bool, bool]:
        """(lo, hi, components, feasible, exact) of Σ groups over the integer solutions.

        With ``screen``, a range already ≥ T wide among known solutions is returned as is
        (inexact, an inner range: the true range is at least that wide).
        """
        free_hi = 0.0
        by_comp: dict[int, list[int]] = defaultdict(list)
        for g in groups:
            c = int(group_component[g])
            if c < 0:
                free_hi += float(self.group_upper[g])  # free: in no published equation
            else:
                by_comp[c].append(g)
        comps = sorted(by_comp)
        if screen:
            lo_in, hi_in = 0.0, free_hi
            for c in comps:
                pooled = self._pool_range(components[c], by_comp[c])
                if pooled is None:
                    break
                lo_in += pooled[0]
                hi_in += pooled[1]
            else:
                wide = math.isinf(hi_in) or hi_in - lo_in >= self.threshold
                if wide or (not strict and self._shown_safe(int(lo_in), int(hi_in))):
                    hi_out = None if math.isinf(hi_in) else int(hi_in)
                    return int(lo_in), hi_out, comps, True, False
        lo = 0
        hi = free_hi
        feasible = True
        for c in comps:
            solved = self._solve(components[c], frozenset(by_comp[c]))
            if solved is None:
                feasible = False
                continue
            lo += solved[0]
            hi += solved[1]
        if not feasible:
            return 0, 0, comps, False, True
        return lo, (None if math.isinf(hi) else int(hi)), comps, True, True

    def _solutions(self, comp: _Component) -> np.ndarray | None:
        """Known integer solutions feasible for this component (rows: solutions).

        Solutions are kept per set of variables, so those found for another suppression
        pattern are reused when they satisfy this pattern's equations.
        """
        pool = self._pool.get(comp.gkey)
        if not pool:
            return None
        cached = self._feasible.get(comp.key)
        if cached is not None and cached[0] == len(pool):
            return cached[1]
        stacked = np.stack(pool)
        ax = (comp.matrix @ stacked.T).T
        ok = np.all(ax >= comp.lower - 1e-9, axis=1) & np.all(ax <= comp.rhs + 1e-9, axis=1)
        feasible = stacked[ok] if ok.any() else None
        if feasible is not None:
            self._feasible[comp.key] = (len(pool), feasible)
        return feasible

    def _pool_range(self, comp: _Component, groups: list[int]) -> tuple[int, int] | None:
        solutions = self._solutions(comp)
        if solutions is None:
            return None
        columns = [comp.local[g] for g in groups]
        sums = solutions[:, columns].sum(axis=1)
        return int(sums.min()), int(sums.max())

    def _screen(self, comp: _Component, regions: list[frozenset[int]]) -> None:
        """Find integer solutions that show many regions' ranges ≥ T wide at once.

        Group testing: minimise and maximise the total of a random half of the regions not
        yet shown wide; every solution found widens the inner range of every region.
        Regions still unproven afterwards get their exact range from two integer programs.
        """
        if not regions:
            return
        columns = [np.array([comp.local[g] for g in r]) for r in regions]
        rng = np.random.default_rng(len(regions))
        # Region membership as one matrix: every region's total in every known solution is
        # then one product (solutions × regions), not a loop over the regions.
        membership = sparse.csc_matrix(
            (
                np.ones(sum(len(c) for c in columns)),
                (
                    np.concatenate(columns),
                    np.repeat(np.arange(len(columns)), [len(c) for c in columns]),
                ),
            ),
            shape=(len(comp.groups), len(columns)),
        )

        def unproven() -> list[int]:
            stacked = self._solutions(comp)
            if stacked is None:
                return list(range(len(regions)))
            sums = np.asarray((membership.T @ stacked.T).T)
            safe = self._shown_safe_all(sums.min(axis=0), sums.max(axis=0))
            return [int(k) for k in np.flatnonzero(~safe)]

        todo = unproven()
        for round_ in range(SCREEN_ROUNDS):
            if len(todo) <= 1:
                break
            chosen = todo if round_ == 0 else [k for k in todo if rng.random() < 0.5]
            objective = np.zeros(len(comp.groups))
            for k in chosen or todo[:1]:
                objective[columns[k]] = 1.0
            for sign in (1.0, -1.0):
                try:
                    x = self._optimum(comp, sign * objective)
                except _Unbounded:
                    continue  # no finite maximum: the exact solves say so
                if x is None:
                    return  # infeasible: reported by the exact solves
                self._remember(comp, x)
            todo = unproven()

    def _shown_safe_all(self, inner_lo: np.ndarray, inner_hi: np.ndarray) -> np.ndarray:
        """:meth:`_shown_safe` over arrays of inner ranges (element by element)."""
        wide = inner_hi - inner_lo >= self.threshold
        zero_possible = inner_lo == 0
        positive_possible = inner_hi > 0 if self.rules.suppress_zeros else np.ones_like(wide)
        return np.asarray(wide | (zero_possible & positive_possible), dtype=bool)

    def _shown_safe(self, inner_lo: int, inner_hi: int) -> bool:
        """Do two known solutions prove a non-strict target protected?

        The true range contains ``[inner_lo, inner_hi]``: it is at least that wide, its lower
        bound is 0 when ``inner_lo`` is, and its upper bound is positive when ``inner_hi`` is.
        """
        if inner_hi - inner_lo >= self.threshold:
            return True
        return inner_lo == 0 and (inner_hi > 0 or not self.rules.suppress_zeros)

    def _remember(self, comp: _Component, x: np.ndarray) -> None:
        pool = self._pool.setdefault(comp.gkey, [])
        if len(pool) < POOL_SIZE:
            pool.append(x)
        else:
            pool[self.solves % POOL_SIZE] = x

    def seed_pool(self, comp: _Component) -> None:
        """Start a component's pool of integer solutions with the true data, when known."""
        if self._true_groups is None or comp.gkey in self._pool:
            return
        self._pool[comp.gkey] = [self._true_groups[comp.groups]]

    def _solve(self, comp: _Component, target: frozenset[int]) -> tuple[int, float] | None:
        """Min and max of Σ target over the component's integer solutions (None: infeasible;
        a maximum of ``math.inf`` when nothing bounds the set from above).

        The LP relaxation is solved first (dual simplex, a vertex); when its optimal vertex is
        integral it is also the integer optimum. Otherwise the MILP is solved by HiGHS.
        """
        cache_key = (comp.key, target)
        if cache_key in self._cache:
            return self._cache[cache_key]
        n = len(comp.groups)
        objective = np.zeros(n)
        for g in target:
            objective[comp.local[g]] = 1.0
        values: list[float] = []
        for sign in (1.0, -1.0):
            try:
                x = self._optimum(comp, sign * objective)
            except _Unbounded:
                # Only a maximum can be unbounded (x ≥ 0): a hidden count bounded by nothing.
                values.append(math.inf)
                continue
            if x is None:
                self._cache[cache_key] = None
                return None
            self._remember(comp, x)
            values.append(round(float(objective @ x)))
        result = (int(values[0]), values[1])
        self._cache[cache_key] = result
        return result

    def _optimum(self, comp: _Component, objective: np.ndarray) -> np.ndarray | None:
        n = len(comp.groups)
        self.solves += 1
        status, x = self._relaxations.solve(comp, objective)
        if status == _LpStatus.INFEASIBLE:
            return None  # the relaxation is infeasible, so is the integer program
        if status == _LpStatus.UNBOUNDED:
            if objective.any() and self._optimum(comp, 0 * objective) is None:
                return None
            raise _Unbounded  # a feasible program with no finite maximum
        if status == _LpStatus.OPTIMAL and x is not None:
            rounded = np.round(x)
            # An integral optimal vertex of the relaxation is the integer optimum; checked
            # against the equations again so that a solver tolerance can never stand in for
            # a feasible point.
            if np.all(np.abs(x - rounded) <= 1e-7) and _satisfies(comp, rounded):
                return rounded
        self.milp_solves += 1
        res = milp(
            objective,
            integrality=np.ones(n),
            bounds=Bounds(np.zeros(n), comp.upper),
            constraints=LinearConstraint(comp.matrix, comp.lower, comp.rhs),
            options={"time_limit": self.rules.time_limit, "mip_rel_gap": 0.0},
        )
        if res.status == 2:
            return None
        if res.x is None and objective.any() and self._optimum(comp, 0 * objective) is not None:
            raise _Unbounded  # "infeasible or unbounded", and it is feasible
        if res.x is None:
            raise DisclosureError(
                f"the audit's integer program did not solve ({res.message}); "
                "refusing to publish without an audit"
            )
        # A feasible point: its value lies inside the true range, so a time-limited solve
        # can only make the range look narrower (the safe side).
        return np.asarray(np.round(res.x))

    def dual_rows(self, comp: _Component, target: frozenset[int]) -> set[int]:
        """Published equations the attacker's LP bound rests on (non-zero dual values).

        Suppressing one of them removes that derivation; the next audit round checks whether
        the range is then wide enough (a Benders-like cut, cf. Fischetti & Salazar 2001).
        """
        n = len(comp.groups)
        objective = np.zeros(n)
        for g in target:
            objective[comp.local[g]] = 1.0
        bounds = [(0.0, None if math.isinf(u) else float(u)) for u in comp.upper]
        n_eq = len(comp.rows)
        a_ub = comp.matrix[n_eq:] if comp.matrix.shape[0] > n_eq else None
        b_ub = comp.rhs[n_eq:] if a_ub is not None else None
        used: set[int] = set()
        for sign in (1.0, -1.0):
            res = linprog(
                sign * objective,
                A_ub=a_ub,
                b_ub=b_ub,
                A_eq=comp.matrix[:n_eq] if n_eq else None,
                b_eq=comp.rhs[:n_eq] if n_eq else None,
                bounds=bounds,
                method="highs",
            )
            if res.status != 0 or res.eqlin is None:
                continue
            marginals = np.asarray(res.eqlin.marginals)
            for k in np.flatnonzero(np.abs(marginals) > 1e-9):
                used.add(comp.rows[int(k)])
        return used


def audit(
    cells: Sequence[Cell],
    suppressed: Collection[str],
    ledger: Sequence[LedgerEntry] = (),
    threshold: int | Rules = 10,
    *,
    atom_bounds: Mapping[Atom, int] | None = None,
    atom_counts: Mapping[Atom, int] | None = None,
    relations: Sequence[Nesting] = (),
) -> AuditResult:
    """Audit a release: the feasible range of every suppressed cell against all equations.

    Args:
        cells: every cell of the release (published and suppressed).
        suppressed: keys of the suppressed cells.
        ledger: every cell of every earlier release, in publication order.
        threshold: T (or full :class:`Rules`); ranges must be at least T wide (hi − lo ≥ T).
        atom_bounds: optional known upper bounds of atom counts (e.g. the population).
        atom_counts: optional true atom counts: checks every cell's count and detects ledger
            values made stale by later data revisions.
        relations: nestings between outcomes the reader may assume (events ≤ resident-years,
            a code ≤ its group…), added to the attacker's program as inequalities.

    Returns:
        An :class:`AuditResult` whose ``passed`` says whether the release may be published.
    """
    rules = threshold if isinstance(threshold, Rules) else Rules(threshold=threshold)
    unknown = set(suppressed) - {c.key for c in cells}
    if unknown:
        raise ValueError(f"suppressed keys not among the cells: {sorted(unknown)[:5]}")
    engine = AuditEngine(
        cells,
        ledger,
        rules,
        atom_bounds=atom_bounds,
        atom_counts=atom_counts,
        relations=relations,
    )
    return engine.run(engine.suppressed_stats(suppressed)).result
