"""The data contract of disclosure control: atoms, cells, tables, the ledger and the rules.

Every published number is a sum of *atoms* — the atomic cells area × sex × age band × period ×
outcome, each carrying a non-negative integer count (the number of residents). A *cell* is a
set of atoms with its count (their sum) and, optionally, a denominator and derived values
(rates, percentages, geometric means) that follow the count. A *table* is a named set of
cells; its additive equations (a total equals the sum of its components) are implied by the
atom sets, so no equation is ever declared by hand and none can be forgotten.

The *ledger* is the append-only record of what earlier releases published: for every cell its
atom set and value (``None`` when it was suppressed, so that later releases keep protecting it).

References:
    Hundepool A, Domingo-Ferrer J, Franconi L, et al. *Statistical Disclosure Control*.
        Wiley, 2012 — ch. 4 (magnitude and frequency tables), ch. 5 (frequency tables).
    Cox LH. Suppression methodology and statistical disclosure control. JASA 1980;75:377-85.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: The smallest threshold the module accepts; anything lower is refused.
MIN_THRESHOLD = 5


class DisclosureError(Exception):
    """A release cannot be made safe (or the input cannot be audited); the message says why.

    Raised by :func:`reports.privacy.protect_release` when a cell cannot be protected (for
    example because earlier releases already determine it), when a revision changes an earlier
    published value by less than the threshold, or when the equations of this release and the
    ledger are inconsistent.
    """


@dataclass(frozen=True, order=True, slots=True)
class Atom:
    """One atomic cell: the finest grouping any table of any release uses.

    ``period`` is the finest period published anywhere (e.g. a month ``"2024-12"`` when monthly
    tables exist; a year ``"2024"`` otherwise). Coarser periods, area groupings, age groupings
    and "all outcomes" totals are *sets* of atoms, never atoms themselves.
    """

    area: str
    sex: str
    age_band: str
    period: str
    outcome: str


class DerivedKind(StrEnum):
    """What a derived value is; decides which rules apply to it."""

    RATE = "rate"  # events / person-time or population (crude or stratum-specific)
    STANDARDIZED_RATE = "standardized_rate"  # a weighted sum of stratum rates
    PERCENTAGE = "percentage"  # count / denominator × 100 (e.g. % above a reference level)
    GEOMETRIC_MEAN = "geometric_mean"  # a biomarker summary over ``count`` measured people


#: Derived kinds that are ratios to the cell's denominator.
RATIO_KINDS = frozenset({DerivedKind.RATE, DerivedKind.STANDARDIZED_RATE, DerivedKind.PERCENTAGE})


@dataclass(frozen=True, slots=True)
class Derived:
    """A value computed from a cell's count, e.g. a crude rate per 100,000 with its interval.

    ``measure`` names it in the tidy output (``rate_per_100000``, ``pct_above_reference``,
    ``gm``…). It is published only when the count is (it "follows its numerator").
    """

    measure: str
    kind: DerivedKind
    value: float
    ci_lower: float | None = None
    ci_upper: float | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """A candidate published cell: a set of atoms and its count (their sum).

    Args:
        key: unique within a release (prefix it with the table name, e.g.
            ``"by_area/A01/F"``); it names the cell in decisions, audits and errors.
        atoms: the atoms summed; must be non-empty.
        count: the non-negative integer count (Σ of the atoms' counts).
        denominator: population, resident-years or number tested (the true value), required
            for rates and percentages.
        derived: rates, percentages or geometric means computed from ``count``.
        denominator_key: the key of the cell of the same release whose count is this cell's
            denominator (resident-years, number tested). Denominators are counts of people:
            that cell is suppressed, complemented and audited like any count, and the
            published denominator (and every ratio) follows its decision. Without it a
            ``denominator`` is published as is and the audit treats it as public knowledge
            (legacy; the report layouts always link their denominators).
    """

    key: str
    atoms: frozenset[Atom]
    count: int
    denominator: int | None = None
    derived: tuple[Derived, ...] = ()
    denominator_key: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a cell needs a non-empty key")
        if not isinstance(self.atoms, frozenset):
            object.__setattr__(self, "atoms", frozenset(self.atoms))
        if not self.atoms:
            raise ValueError(f"cell {self.key!r} has no atoms")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"cell {self.key!r}: count must be a non-negative int")
        if self.denominator is not None and (
            isinstance(self.denominator, bool)
            or not isinstance(self.denominator, int)
            or self.denominator < 0
        ):
            raise ValueError(f"cell {self.key!r}: denominator must be a non-negative int")
        if not isinstance(self.derived, tuple):
            object.__setattr__(self, "derived", tuple(self.derived))
        if self.denominator_key is not None and (
            self.denominator is None or self.denominator_key == self.key
        ):
            raise ValueError(
                f"cell {self.key!r}: a denominator_key needs the denominator's value and "
                "must name another cell"
            )
        for d in self.derived:
            if d.kind in RATIO_KINDS and self.denominator is None:
                raise ValueError(f"cell {self.key!r}: {d.measure} ({d.kind}) needs a denominator")
        if (
            self.denominator is not None
            and any(d.kind == DerivedKind.PERCENTAGE for d in self.derived)
            and self.count > self.denominator
        ):
            raise ValueError(f"cell {self.key!r}: a percentage's count exceeds its denominator")


@dataclass(frozen=True, slots=True)
class Table:
    """A named fixed table layout: its cells. Its equations are implied by the atom sets."""

    name: str
    cells: tuple[Cell, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.cells, tuple):
            object.__setattr__(self, "cells", tuple(self.cells))
        keys = [c.key for c in self.cells]
        if len(set(keys)) != len(keys):
            raise ValueError(f"table {self.name!r} has duplicate cell keys")


@dataclass(frozen=True, slots=True)
class Nesting:
    """A bound the data obeys atom by atom, and that any reader may assume: for every
    area × sex × age band × period, ``Σ_{o ∈ lesser} x[o] ≤ Σ_{o ∈ greater} x[o]``.

    It relates outcomes (the last atom dimension). Examples: events ≤ resident-years
    (``Nesting(("dx.J45",), ("resident_years",))``), a code ≤ its group
    (``(("dx.J20",), ("acute_respiratory",))``), a group ≤ the sum of its codes
    (``(("acute_respiratory",), ("dx.J06", "dx.J20"))``), above a reference level ≤ tested.
    The audit adds every nesting to the attacker's program as inequalities, so a published
    denominator or group total bounds the hidden counts beneath it exactly as a reader would use it.
    """

    lesser: tuple[str, ...]
    greater: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.lesser, tuple):
            object.__setattr__(self, "lesser", tuple(self.lesser))
        if not isinstance(self.greater, tuple):
            object.__setattr__(self, "greater", tuple(self.greater))
        if not self.lesser or not self.greater:
            raise ValueError("a nesting needs outcomes on both sides")
        if set(self.lesser) & set(self.greater):
            raise ValueError(f"nesting {self.name!r}: an outcome is on both sides")


class RevisionPolicy(StrEnum):
    """What to do with a cell whose earlier published value moved by 1..T−1 (late data).

    ``REFUSE``: refuse the release (the change itself would be a small count); the caller
    can hold the revision until the accumulated change is 0 or ≥ T. ``SUPPRESS``: suppress
    such cells and add complements until each one's feasible range is at least T wide and
    still contains its earlier published value, so that no reader can tell whether or by how
    much it changed.
    """

    REFUSE = "refuse"
    SUPPRESS = "suppress"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One cell of an earlier release, as recorded in the append-only ledger.

    ``value`` is the published count, or ``None`` when the cell was suppressed (its atom set is
    recorded so that later releases keep protecting it; its value is never stored here).
    Entries are given in publication order: later entries supersede earlier ones for revisions.
    """

    release: str
    key: str
    atoms: frozenset[Atom]
    value: int | None

    def __post_init__(self) -> None:
        if not isinstance(self.atoms, frozenset):
            object.__setattr__(self, "atoms", frozenset(self.atoms))
        if not self.atoms:
            raise ValueError(f"ledger entry {self.release}/{self.key} has no atoms")
        if self.value is not None and (isinstance(self.value, bool) or self.value < 0):
            raise ValueError(f"ledger entry {self.release}/{self.key}: negative value")


class CostModel(StrEnum):
    """The cost of suppressing a cell, minimised (greedily) by complementary suppression.

    ``VALUE``: the cell's count — for frequency tables the number of contributors, the
    classic information-loss measure (Cox 1980; Hundepool et al. 2012, §4.4); it prefers small
    interior cells to totals. ``UNIT``: every cell costs 1 (fewest suppressions).
    """

    VALUE = "value"
    UNIT = "unit"


@dataclass(frozen=True, slots=True)
class Rules:
    """The disclosure-control rules of a release.

    Args:
        threshold: T. Counts 1..T−1 are suppressed and every suppressed cell's feasible range
            must be at least T wide (hi − lo ≥ T). At least 5 (smaller is refused); default 10.
        suppress_zeros: also suppress counts of 0 (default: zeros are shown).
        min_rate_denominator: no rate or percentage on a denominator below this (default 20);
            the count itself still shows when it is ≥ T.
        unreliable_below_events: rates on fewer events are flagged ``unreliable`` (default 20).
        extreme_min_denominator: a cell with a denominator whose count is 0 or equals the
            denominator (0 % or 100 %) is suppressed — count and derived values — when the
            denominator is below this, because it reveals every member's status. Default
            ``max(2T, min_rate_denominator)``.
        cost: what complementary suppression minimises.
        max_rounds: a bound on audit → suppress iterations.
        time_limit: seconds allowed to each integer program of the audit.
    """

    threshold: int = 10
    suppress_zeros: bool = False
    min_rate_denominator: int = 20
    unreliable_below_events: int = 20
    extreme_min_denominator: int | None = None
    cost: CostModel = CostModel.VALUE
    max_rounds: int = 200
    time_limit: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise ValueError("threshold must be an int")
        if self.threshold < MIN_THRESHOLD:
            raise ValueError(
                f"threshold {self.threshold} refused: it must be at least {MIN_THRESHOLD}"
            )
        if self.min_rate_denominator < 1 or self.unreliable_below_events < 0:
            raise ValueError("min_rate_denominator must be ≥ 1 and unreliable_below_events ≥ 0")
        if self.max_rounds < 1 or self.time_limit <= 0:
            raise ValueError("max_rounds and time_limit must be positive")

    @property
    def extreme_denominator(self) -> int:
        """The denominator below which 0 % and 100 % are suppressed."""
        if self.extreme_min_denominator is not None:
            return self.extreme_min_denominator
        return max(2 * self.threshold, self.min_rate_denominator)

    @property
    def sensitive_values(self) -> range:
        """Counts that must never be learnt exactly or nearly: 1..T−1 (0..T−1 with zeros)."""
        return range(0 if self.suppress_zeros else 1, self.threshold)


class Reason(StrEnum):
    """Why a cell is suppressed (internal report only; the public sees ``suppressed``)."""

    SMALL_COUNT = "small_count"  # primary: 1..T−1
    ZERO = "zero"  # primary: 0 with suppress_zeros
    EXTREME_PROPORTION = "extreme_proportion"  # primary: 0 % or 100 % on a small denominator
    SAME_ATOMS = "same_atoms"  # the same atom set is suppressed in another table
    REVISION = "revision"  # primary: a small change of an earlier published value (late data)
    COMPLEMENTARY = "complementary"  # secondary: a table equation held a lone suppressed cell
    AUDIT = "audit"  # secondary: the integer-programming audit found a narrow range

    @property
    def primary(self) -> bool:
        return self in {
            Reason.SMALL_COUNT,
            Reason.ZERO,
            Reason.EXTREME_PROPORTION,
            Reason.REVISION,
        }


@dataclass(frozen=True, slots=True)
class CellDecision:
    """Whether a cell's count is published; ``reason`` is for the internal report only."""

    key: str
    suppressed: bool
    reason: Reason | None = None
    note: str = field(default="", compare=False)


class Flag(StrEnum):
    """Flags published with a value; they never distinguish primary from secondary."""

    SUPPRESSED = "suppressed"
    UNRELIABLE = "unreliable"  # a rate on fewer than ``unreliable_below_events`` events
    SMALL_DENOMINATOR = "small_denominator"  # no rate/percentage on a denominator under 20
