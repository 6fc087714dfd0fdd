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
    cell: Cell, derived: Derived, suppressed: bool, rules: Rules, overlaps_suppressed: bool
) -> PublishedDerived:
    """The published form of one derived value.

    * it follows its numerator: withheld (``suppressed``) when the count is;
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

    if suppressed:
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


def protect_release(
    tables: Sequence[Table],
    ledger: Sequence[LedgerEntry] = (),
    rules: Rules | None = None,
    *,
    atom_bounds: Mapping[Atom, int] | None = None,
    atom_counts: Mapping[Atom, int] | None = None,
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
    primary = primary_suppression(cells, rules)
    outcome = complementary_suppression(
        cells,
        primary,
        ledger,
        rules,
        atom_bounds=atom_bounds,
        atom_counts=atom_counts,
        prune=prune,
    )
    decisions = outcome.decisions
    assert outcome.audit.passed
    hidden_sets = {c.atoms for c in cells if decisions[c.key].suppressed}
    published_tables = []
    for table in tables:
        out = []
        for cell in table.cells:
            suppressed = decisions[cell.key].suppressed
            overlaps = any(d.kind == DerivedKind.STANDARDIZED_RATE for d in cell.derived) and any(
                not cell.atoms.isdisjoint(h) for h in hidden_sets
            )
            derived = tuple(
                publish_derived(cell, d, suppressed, rules, overlaps) for d in cell.derived
            )
            out.append(
                PublishedCell(
                    key=cell.key,
                    count=None if suppressed else cell.count,
                    denominator=cell.denominator,
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
    )
