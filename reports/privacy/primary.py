"""Primary suppression: the cells that may not be published whatever else is published.

Rules (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, §5.2 threshold rule):

* a count of 1..T−1 is suppressed (T = ``Rules.threshold``, at least 5, default 10);
* a count of 0 is shown unless ``Rules.suppress_zeros``;
* a cell with a denominator whose count is 0 or equals the denominator (0 % / 100 %) is
  suppressed when the denominator is below ``Rules.extreme_denominator`` (default
  ``max(2T, 20)``): "none of the 14 tested" or "all 14 tested" tells every member's status,
  whatever the count. The count is suppressed too, because count and public denominator
  would give the percentage back.

Derived values follow their numerator; see :func:`publish_derived` for the value-level rules
(no rate or percentage on a denominator under 20, "unreliable" under 20 events).
"""

from __future__ import annotations

from collections.abc import Iterable

from reports.privacy.model import Cell, CellDecision, Reason, Rules


def primary_reason(cell: Cell, rules: Rules) -> Reason | None:
    """The primary-suppression reason for ``cell``, or ``None`` if its count may be shown."""
    if 1 <= cell.count < rules.threshold:
        return Reason.SMALL_COUNT
    small = cell.denominator is not None and cell.denominator < rules.extreme_denominator
    if small and cell.count in (0, cell.denominator):
        return Reason.EXTREME_PROPORTION
    if cell.count == 0 and rules.suppress_zeros:
        return Reason.ZERO
    return None


def primary_suppression(
    cells: Iterable[Cell], rules: Rules | None = None
) -> dict[str, CellDecision]:
    """Decide primary suppression for every cell; returns decisions keyed by cell key.

    Cells sharing an atom set are the same statistic: if one copy is suppressed every copy
    is (reason ``SAME_ATOMS``), otherwise the other table would publish it.
    """
    rules = rules or Rules()
    cells = list(cells)
    decisions: dict[str, CellDecision] = {}
    suppressed_sets: set[frozenset[object]] = set()
    for cell in cells:
        if cell.key in decisions:
            raise ValueError(f"duplicate cell key {cell.key!r}")
        reason = primary_reason(cell, rules)
        decisions[cell.key] = CellDecision(cell.key, reason is not None, reason)
        if reason is not None:
            suppressed_sets.add(frozenset(cell.atoms))
    for cell in cells:
        if not decisions[cell.key].suppressed and frozenset(cell.atoms) in suppressed_sets:
            decisions[cell.key] = CellDecision(cell.key, True, Reason.SAME_ATOMS)
    return decisions
