"""Complementary (secondary) suppression: hide enough further cells that no suppressed cell can be
recovered from the published equations of this release and of every earlier release.

Method (greedy, then exact audit — Cox 1980; Hundepool et al. 2012, §4.4):

1. **Table equations.** Every statistic (distinct atom set of this release or the ledger) is
   a total; its equations are the partitions of its atoms into other statistics, found by a
   greedy exact-cover search started from each maximal sub-statistic. This finds row and
   column totals, hierarchical groupings (district = Σ areas, year = Σ months) and
   overlapping ones (A+B+C = (A+B) + C = A + (B+C)). Until no equation holds exactly one
   hidden member, the cheapest published member of such an equation is suppressed (a member
   published by an earlier release cannot be hidden any more).
2. **Audit loop.** The integer-programming audit (:mod:`reports.privacy.audit`) computes
   every protected set's feasible range. For each set that is still exposed, the LP
   relaxation's dual values name the published equations its bound rests on; the cheapest of
   them (among those this release may still hide) is suppressed, and the audit runs again —
   a greedy version of the cutting-plane method of Fischetti & Salazar-González (2001). Each
   round hides at least one more cell, so the loop ends; if an exposed set has no hideable
   equation left (earlier releases alone determine it) a :class:`DisclosureError` names it.
3. **Pruning.** Complements added by the loop are then tried back, most expensive first, and
   republished if the audit still passes without them.

Cost (``Rules.cost``): ``VALUE`` (default) — a cell's count, i.e. its number of contributors
for frequency tables, so small interior cells are hidden before totals; ``UNIT`` — one per
cell. Among the candidates for a cell that needs its range widened by ``g``, those whose value
is at least ``g`` come first (cheapest first); a zero cell widens nothing and comes last.

This is a heuristic: it does not minimise the total cost (the optimal cell-suppression
problem is NP-hard; a MILP formulation is future work), but the audit guarantees the result.

References:
    Cox LH. Suppression methodology and statistical disclosure control. JASA 1980;75:377-85.
    Fischetti M, Salazar-González JJ. Solving the cell suppression problem on tabular data
        with linear constraints. Management Science 2001;47:1008-27.
    Hundepool A, et al. *Statistical Disclosure Control*. Wiley 2012, §4.4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reports.privacy.audit import AuditEngine, AuditResult, TargetKind
from reports.privacy.model import (
    Atom,
    Cell,
    CellDecision,
    DisclosureError,
    LedgerEntry,
    Nesting,
    Reason,
    Rules,
)

#: At most this many partitions are looked for per total.
MAX_STARTS = 64


@dataclass(frozen=True)
class ComplementaryResult:
    """Decisions for every cell (primary and secondary) and the final, passing audit."""

    decisions: dict[str, CellDecision]
    audit: AuditResult
    rounds: int

    @property
    def suppressed(self) -> frozenset[str]:
        return frozenset(k for k, d in self.decisions.items() if d.suppressed)


def table_equations(engine: AuditEngine) -> list[tuple[int, tuple[int, ...]]]:
    """Additive equations ``total = Σ parts`` among the statistics, as index tuples."""
    masks = []
    for stat in engine.stats:
        mask = 0
        for g in stat.groups:
            mask |= 1 << g
        masks.append(mask)
    sizes = [m.bit_count() for m in masks]
    order = sorted(range(len(masks)), key=lambda i: (-sizes[i], i))
    equations: set[tuple[int, tuple[int, ...]]] = set()
    for total in range(len(masks)):
        whole = masks[total]
        children = [
            j for j in order if j != total and sizes[j] < sizes[total] and masks[j] & ~whole == 0
        ]
        if len(children) < 2:
            continue
        maximal: list[int] = []
        for j in children:
            if not any(masks[j] & ~masks[k] == 0 for k in maximal if sizes[k] > sizes[j]):
                maximal.append(j)
            if len(maximal) >= MAX_STARTS:
                break
        for start in maximal:
            union = masks[start]
            parts = [start]
            for j in children:
                if masks[j] & union == 0:
                    union |= masks[j]
                    parts.append(j)
                    if union == whole:
                        break
            if union == whole:
                equations.add((total, tuple(sorted(parts))))
    return sorted(equations)


class _Ranker:
    """Orders candidate complements: sufficient first, then fewest new lone equations, cost.

    A candidate whose equations all already hold a hidden cell creates no new "lone
    suppressed cell" and so no further suppression (a one-step look-ahead).
    """

    def __init__(self, engine: AuditEngine, equations: list[tuple[int, tuple[int, ...]]]) -> None:
        self.engine = engine
        self.members = [(total, *parts) for total, parts in equations]
        self.containing: dict[int, list[int]] = {}
        for e, members in enumerate(self.members):
            for m in members:
                self.containing.setdefault(m, []).append(e)

    def hidden(self, m: int, suppressed: set[int]) -> bool:
        stat = self.engine.stats[m]
        return m in suppressed or (stat.ledger_hidden and not stat.release_keys)

    def new_lone(self, i: int, suppressed: set[int]) -> int:
        return sum(
            1
            for e in self.containing.get(i, [])
            if not any(self.hidden(m, suppressed) for m in self.members[e])
        )

    def best(self, candidates: set[int] | list[int], gap: int, suppressed: set[int]) -> int:
        def key(i: int) -> tuple[int, int, float, float, str]:
            value = float(self.engine.stats[i].release_value or 0)
            label = self.engine.stats[i].label()
            if value < gap:
                return (1, 0, -value, 0.0, label)
            return (0, self.new_lone(i, suppressed), self.engine.cost(i), value, label)

        return min(candidates, key=key)


def _suppressible(engine: AuditEngine, i: int, suppressed: set[int]) -> bool:
    stat = engine.stats[i]
    return bool(stat.release_keys) and i not in suppressed and not engine.locked(i)


def _structural_pass(engine: AuditEngine, suppressed: set[int], ranker: _Ranker) -> set[int]:
    """Hide cells until no equation holds exactly one hidden member; returns those added."""
    added: set[int] = set()
    threshold = engine.threshold
    changed = True
    while changed:
        changed = False
        rows = engine.rows(suppressed)
        for members in ranker.members:
            hidden = []
            unknown = False
            for m in members:
                if ranker.hidden(m, suppressed):
                    hidden.append(m)
                elif m not in rows:
                    unknown = True  # a stale ledger value: the equation tells nothing
            if unknown or len(hidden) != 1:
                continue
            candidates = [m for m in members if _suppressible(engine, m, suppressed)]
            if not candidates:
                continue  # the audit decides (and raises if nothing can be done)
            lone_value = engine.stats[hidden[0]].release_value
            gap = max(1, threshold - (lone_value or 0))
            best = ranker.best(candidates, gap, suppressed)
            suppressed.add(best)
            added.add(best)
            rows.pop(best, None)
            changed = True
    return added


def _audit_loop(
    engine: AuditEngine,
    suppressed: set[int],
    rules: Rules,
    ranker: _Ranker,
    primary_stats: frozenset[int] = frozenset(),
    soft_primary_stats: frozenset[int] = frozenset(),
) -> tuple[AuditResult, set[int], int, set[int]]:
    added: set[int] = set()
    # Complements that only earlier releases' equations pin (typically a zero cell inside a
    # zero total published before): no suppression in this release can widen their range, so
    # hiding them protects nothing; they are published instead and never chosen again.
    pinned: set[int] = set()
    for rounds in range(1, rules.max_rounds + 1):
        state = engine.run(suppressed, screen=True)
        result = state.result
        if result.revisions or result.inconsistent:
            raise DisclosureError("the release cannot be published:\n" + result.explain())
        if result.passed:
            return result, added, rounds, pinned
        chosen: set[int] = set()
        newly_pinned: set[int] = set()
        for outcome in state.outcomes:
            if outcome.range.protected:
                continue
            candidates: set[int] = set()
            for ci in outcome.components:
                comp = state.components[ci]
                groups = frozenset(
                    g for g in outcome.target.groups if state.group_component[g] == ci
                )
                candidates |= engine.dual_rows(comp, groups)
            candidates = {
                c for c in candidates if _suppressible(engine, c, suppressed) and c not in pinned
            }
            if not candidates:  # integrality gap or degenerate duals: any hideable equation
                candidates = {
                    r
                    for ci in outcome.components
                    for r in state.components[ci].rows
                    if _suppressible(engine, r, suppressed) and r not in pinned
                }
            target = outcome.target
            if (
                not candidates
                and target.kind == TargetKind.SUPPRESSED
                and target.stat is not None
                and (target.stat not in primary_stats or target.stat in soft_primary_stats)
            ):
                # A complement, or a zero / 0 % hidden only for being extreme, whose value
                # earlier releases already pin: publishing it tells nothing new.
                newly_pinned.add(target.stat)
                continue
            if not candidates:
                hi = "∞" if outcome.range.hi is None else str(outcome.range.hi)
                note = f" ({outcome.range.note})" if outcome.range.note else ""
                raise DisclosureError(
                    f"{outcome.target.kind} {outcome.target.key} cannot be protected: its "
                    f"feasible range [{outcome.range.lo}, {hi}] is narrower than "
                    f"T={rules.threshold} and every equation pinning it was published by an "
                    f"earlier release{note}"
                )
            if candidates & chosen:
                continue  # a cell chosen this round for another target may fix this one
            gap = max(1, int(rules.threshold - outcome.range.width))
            chosen.add(ranker.best(candidates, gap, suppressed | chosen))
        if newly_pinned:
            pinned |= newly_pinned
            suppressed -= newly_pinned
            added -= newly_pinned
            continue  # audit again with them published before choosing more complements
        suppressed |= chosen
        added |= chosen
    raise DisclosureError(
        f"complementary suppression did not converge in {rules.max_rounds} rounds"
    )


def _prune(
    engine: AuditEngine, suppressed: set[int], removable: set[int]
) -> tuple[set[int], AuditResult | None]:
    """Try republishing each complement, most expensive first; keep those the audit allows."""
    last: AuditResult | None = None
    for i in sorted(removable, key=lambda m: (-engine.cost(m), engine.stats[m].label())):
        trial = suppressed - {i}
        result = engine.run(trial, screen=True, stop_early=True).result
        if result.passed:
            suppressed = trial
            last = result
    return suppressed, last


def complementary_suppression(
    cells: Sequence[Cell],
    primary: Mapping[str, CellDecision],
    ledger: Sequence[LedgerEntry] = (),
    rules: Rules | None = None,
    *,
    atom_bounds: Mapping[Atom, int] | None = None,
    atom_counts: Mapping[Atom, int] | None = None,
    relations: Sequence[Nesting] = (),
    prune: bool = True,
) -> ComplementaryResult:
    """Add secondary suppressions until the audit passes; raise if that is impossible.

    Args:
        cells: every cell of the release (all tables).
        primary: the decisions of :func:`reports.privacy.primary_suppression`.
        ledger: every cell of every earlier release, in publication order.
        rules: the release's rules (T, cost…).
        atom_bounds, atom_counts, relations: see :func:`reports.privacy.audit`.
        prune: try republishing complements that turn out unnecessary.

    Raises:
        DisclosureError: a protected set cannot be protected, a revision is too small, or the
            equations are inconsistent.
    """
    rules = rules or Rules()
    engine = AuditEngine(
        cells,
        ledger,
        rules,
        atom_bounds=atom_bounds,
        atom_counts=atom_counts,
        relations=relations,
    )
    suppressed = engine.suppressed_stats(k for k, d in primary.items() if d.suppressed)
    primary_stats = set(suppressed)
    ranker = _Ranker(engine, table_equations(engine))
    structural = _structural_pass(engine, suppressed, ranker)
    soft = engine.suppressed_stats(
        k
        for k, d in primary.items()
        if d.suppressed and d.reason in (Reason.ZERO, Reason.EXTREME_PROPORTION)
    )
    result, audited, rounds, pinned = _audit_loop(
        engine, suppressed, rules, ranker, frozenset(primary_stats), frozenset(soft)
    )
    if prune and (structural or audited):
        suppressed, _ = _prune(engine, suppressed, (structural | audited) - primary_stats)
    result = engine.run(suppressed).result  # exact ranges for the internal report
    if not result.passed:  # cannot happen: screening only ever proves with real solutions
        raise DisclosureError("the final audit failed:\n" + result.explain())
    decisions: dict[str, CellDecision] = {}
    for cell in cells:
        i = engine.stat_of(cell.key)
        decision = primary.get(cell.key) or CellDecision(cell.key, False)
        if i in pinned:
            decisions[cell.key] = CellDecision(cell.key, False)
        elif decision.suppressed:
            decisions[cell.key] = decision
        elif i in suppressed:
            if i in primary_stats:
                reason = Reason.SAME_ATOMS
            else:
                reason = Reason.COMPLEMENTARY if i in structural else Reason.AUDIT
            decisions[cell.key] = CellDecision(cell.key, True, reason)
        else:
            decisions[cell.key] = CellDecision(cell.key, False)
    return ComplementaryResult(decisions, result, rounds)
