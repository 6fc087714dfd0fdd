"""Protect a whole release: primary → complementary → audit, and the publishable result.

:func:`protect_release` is what the Django side calls when a draft release is built: it gets
back the publishable cells (a count or ``None`` + ``suppressed``; derived values or ``None``
with a flag), the decisions and feasible ranges for the internal report, a public summary
(counts only), and the ledger entries to append in the publication's transaction.

Primary and secondary suppressions are published identically (``count=None``, flag
``suppressed``), so the public cannot tell which cells were small; reasons and ranges stay in
the internal report (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, §4.2).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from reports.privacy.audit import AuditResult, AuditSummary
from reports.privacy.complementary import complementary_suppression
from reports.privacy.model import (
    RATIO_KINDS,
    Atom,
    Cell,
    CellDecision,
    Derived,
    DerivedKind,
    Flag,
    LedgerEntry,
    Nesting,
    Reason,
    RevisionPolicy,
    Rules,
    Table,
)
from reports.privacy.primary import primary_suppression


@dataclass(frozen=True, slots=True)
class PublishedDerived:
    """A derived value as published: ``value`` is ``None`` when withheld (see ``flags``)."""

    measure: str
    kind: DerivedKind
    value: float | None
    ci_lower: float | None
    ci_upper: float | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PublishedCell:
    """A cell as published: ``count`` is ``None`` and ``flags`` holds ``suppressed`` when hidden.

    Primary and secondary suppression look exactly the same here.
    """

    key: str
    count: int | None
    denominator: int | None
    derived: tuple[PublishedDerived, ...]
    flags: tuple[str, ...] = ()

    @property
    def suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True, slots=True)
class PublishedTable:
    name: str
    cells: tuple[PublishedCell, ...]


@dataclass(frozen=True)
class ProtectedRelease:
    """The outcome of :func:`protect_release`.

    Public: ``tables`` and ``summary``. Internal (staff report): ``decisions`` (with primary or
    secondary reasons), ``audit`` (feasible ranges), ``source`` (the unprotected cells).
    """

    tables: tuple[PublishedTable, ...]
    decisions: Mapping[str, CellDecision]
    audit: AuditResult
    rules: Rules
    rounds: int
    source: tuple[Table, ...]
    relations: tuple[Nesting, ...] = ()

    @property
    def summary(self) -> AuditSummary:
        """Counts only — safe to publish on the "how we protect privacy" page."""
        return self.audit.summary()

    def cells(self) -> Iterator[PublishedCell]:
        for table in self.tables:
            yield from table.cells

    def cell(self, key: str) -> PublishedCell:
        for cell in self.cells():
            if cell.key == key:
                return cell
        raise KeyError(key)

    def ledger_entries(self, release: str) -> tuple[LedgerEntry, ...]:
        """What to append to the ledger when this release is published.

        Published counts with their value, suppressed ones with ``None`` (their atom sets
        stay protected by later audits).
        """
        entries = []
        for table in self.source:
            for cell in table.cells:
                value = None if self.decisions[cell.key].suppressed else cell.count
                entries.append(LedgerEntry(release, cell.key, cell.atoms, value))
        return tuple(entries)


def publish_derived(
    cell: Cell,
    derived: Derived,
    suppressed: bool,
    rules: Rules,
    overlaps_suppressed: bool,
    denominator_suppressed: bool = False,
) -> PublishedDerived:
    """The published form of one derived value.

    * it follows its numerator: withheld (``suppressed``) when the count is;
    * a rate or percentage also follows its denominator: withheld (``suppressed``) when the
      denominator cell is, since count ÷ rate (or the interval's width) gives it back — checked
      before the small-denominator rule, whose flag would otherwise bound a hidden denominator;
    * rates and percentages are withheld on a denominator under ``min_rate_denominator``
      (20) — an imprecision rule; the count still shows when ≥ T;
    * a standardized rate is a weighted sum of stratum counts with weights that differ from
      the cell's own equation, so it could pin suppressed strata: it is withheld when any
      suppressed cell of the release shares atoms with it;
    * rates on fewer than ``unreliable_below_events`` (20) events are flagged ``unreliable``
      (relative standard error above ~22 %; NCHS/CDC presentation standards).
    """

    def withheld(flag: Flag) -> PublishedDerived:
        return PublishedDerived(derived.measure, derived.kind, None, None, None, (flag.value,))

    if suppressed or (denominator_suppressed and derived.kind in RATIO_KINDS):
        return withheld(Flag.SUPPRESSED)
    if derived.kind in RATIO_KINDS:
        assert cell.denominator is not None
        if cell.denominator < rules.min_rate_denominator:
            return withheld(Flag.SMALL_DENOMINATOR)
    if derived.kind == DerivedKind.STANDARDIZED_RATE and overlaps_suppressed:
        return withheld(Flag.SUPPRESSED)
    flags: tuple[str, ...] = ()
    if (
        derived.kind in {DerivedKind.RATE, DerivedKind.STANDARDIZED_RATE}
        and cell.count < rules.unreliable_below_events
    ):
        flags = (Flag.UNRELIABLE.value,)
    return PublishedDerived(
        derived.measure, derived.kind, derived.value, derived.ci_lower, derived.ci_upper, flags
    )


@dataclass(frozen=True, slots=True)
class RevisionShortfall:
    """A cell the "hold" option waits on (internal: for the epidemiologist's draft screen)."""

    key: str
    release: str
    more_records: int
    back_to_published: int


def _revision_suppression(
    cells: Sequence[Cell],
    decisions: dict[str, CellDecision],
    ledger: Sequence[LedgerEntry],
    rules: Rules,
) -> None:
    """Suppress every cell whose earlier published values differ from its count by 1..T−1."""
    earlier: dict[frozenset[Atom], set[int]] = {}
    for entry in ledger:
        if entry.value is not None:
            earlier.setdefault(entry.atoms, set()).add(entry.value)
    for cell in cells:
        values = earlier.get(cell.atoms, set())
        if decisions[cell.key].suppressed:
            continue
        if any(0 < abs(cell.count - v) < rules.threshold for v in values):
            decisions[cell.key] = CellDecision(cell.key, True, Reason.REVISION)


def revision_shortfalls(
    tables: Sequence[Table], ledger: Sequence[LedgerEntry], rules: Rules
) -> list[RevisionShortfall]:
    """Cells whose change since an earlier release is 1..T−1, and what would make it publishable.

    For the "hold" option: the revision can be published unchanged once the accumulated
    change of each such cell is 0 or at least T. ``more_records`` is the fewest further
    records (in the direction of the change) that get every earlier value of the cell at least T
    away; ``back_to_published`` is how far the cell is from the nearest earlier value.
    """
    earlier: dict[frozenset[Atom], list[tuple[str, int]]] = {}
    for entry in ledger:
        if entry.value is not None:
            earlier.setdefault(entry.atoms, []).append((entry.release, entry.value))
    out: list[RevisionShortfall] = []
    for table in tables:
        for cell in table.cells:
            history = earlier.get(cell.atoms, [])
            close = [(r, v) for r, v in history if 0 < abs(cell.count - v) < rules.threshold]
            if not close:
                continue
            release, value = close[-1]
            direction = 1 if cell.count > value else -1
            more = 0
            while any(
                0 < abs(cell.count + direction * more - v) < rules.threshold for _, v in history
            ):
                more += 1
            out.append(RevisionShortfall(cell.key, release, more, abs(cell.count - value)))
    return out


def protect_release(
    tables: Sequence[Table],
    ledger: Sequence[LedgerEntry] = (),
    rules: Rules | None = None,
    *,
    atom_bounds: Mapping[Atom, int] | None = None,
    atom_counts: Mapping[Atom, int] | None = None,
    relations: Sequence[Nesting] = (),
    revisions: RevisionPolicy = RevisionPolicy.REFUSE,
    prune: bool = True,
) -> ProtectedRelease:
    """Run primary suppression, complementary suppression and the audit on a release.

    Args:
        tables: the release's tables; cell keys must be unique across them.
        ledger: every cell of every earlier release (published values and suppressed atom
            sets), in publication order.
        rules: T and the other rules (default :class:`Rules`).
        atom_bounds: known upper bounds of atom counts (e.g. population by atom) — the
            attacker knows them too, so pass them when they are public.
        atom_counts: the true atom counts, to check the cells and detect ledger values made
            stale by later data revisions.
        relations: the nestings between outcomes a reader may assume (events ≤
            resident-years, a code ≤ its group, above a reference ≤ tested…).
        revisions: what to do with cells whose earlier published value moved by 1..T−1:
            refuse the release (default) or suppress them (:class:`RevisionPolicy`).
        prune: republish complements the audit turns out not to need.

    Returns:
        The publishable release; its ``audit.passed`` is always true.

    Raises:
        DisclosureError: a cell cannot be protected (e.g. earlier releases determine it), a
            revision changes an earlier value by less than T, or the equations are
            inconsistent. The message names the cells.
    """
    rules = rules or Rules()
    cells = [cell for table in tables for cell in table.cells]
    by_key = {cell.key: cell for cell in cells}
    for cell in cells:
        if cell.denominator_key is None:
            continue
        denominator = by_key.get(cell.denominator_key)
        if denominator is None:
            raise ValueError(
                f"cell {cell.key!r}: its denominator cell {cell.denominator_key!r} is not in "
                "the release"
            )
        if denominator.count != cell.denominator:
            raise ValueError(
                f"cell {cell.key!r}: denominator {cell.denominator} ≠ the count "
                f"{denominator.count} of {cell.denominator_key!r}"
            )
    primary = primary_suppression(cells, rules)
    if revisions == RevisionPolicy.SUPPRESS:
        _revision_suppression(cells, primary, ledger, rules)
        revised = {c.atoms for c in cells if primary[c.key].reason == Reason.REVISION}
        for cell in cells:  # the same statistic in another table
            if cell.atoms in revised and not primary[cell.key].suppressed:
                primary[cell.key] = CellDecision(cell.key, True, Reason.SAME_ATOMS)
    outcome = complementary_suppression(
        cells,
        primary,
        ledger,
        rules,
        atom_bounds=atom_bounds,
        atom_counts=atom_counts,
        relations=relations,
        prune=prune,
    )
    decisions = outcome.decisions
    assert outcome.audit.passed
    hidden_sets = [c.atoms for c in cells if decisions[c.key].suppressed]
    published_tables = []
    for table in tables:
        out = []
        for cell in table.cells:
            suppressed = decisions[cell.key].suppressed
            denominator_cell = by_key.get(cell.denominator_key or "")
            denominator_hidden = (
                denominator_cell is not None and decisions[denominator_cell.key].suppressed
            )
            spans = [cell.atoms] + ([denominator_cell.atoms] if denominator_cell else [])
            overlaps = any(d.kind == DerivedKind.STANDARDIZED_RATE for d in cell.derived) and any(
                not atoms.isdisjoint(h) for atoms in spans for h in hidden_sets
            )
            derived = tuple(
                publish_derived(cell, d, suppressed, rules, overlaps, denominator_hidden)
                for d in cell.derived
            )
            out.append(
                PublishedCell(
                    key=cell.key,
                    count=None if suppressed else cell.count,
                    denominator=None if denominator_hidden else cell.denominator,
                    derived=derived,
                    flags=(Flag.SUPPRESSED.value,) if suppressed else (),
                )
            )
        published_tables.append(PublishedTable(table.name, tuple(out)))
    return ProtectedRelease(
        tables=tuple(published_tables),
        decisions=decisions,
        audit=outcome.audit,
        rules=rules,
        rounds=outcome.rounds,
        source=tuple(tables),
        relations=tuple(relations),
    )
