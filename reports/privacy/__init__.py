"""Disclosure control for published tables — pure Python (numpy, scipy, pandas; no Django).

Public API::

    from reports.privacy import (
        Atom, Cell, Table, Derived, DerivedKind, LedgerEntry, Nesting, Rules, CostModel,
        RevisionPolicy,
        primary_suppression, complementary_suppression, audit, protect_release,
        ProtectedRelease, AuditResult, DisclosureError,
    )

See ``docs/privacy.md`` for the rules, the audit and the threat model.

References:
    Hundepool A, Domingo-Ferrer J, Franconi L, et al. *Statistical Disclosure Control*.
        Wiley, 2012.
    Cox LH. Suppression methodology and statistical disclosure control. JASA 1980;75:377-85.
    Fischetti M, Salazar-González JJ. Solving the cell suppression problem on tabular data
        with linear constraints. Management Science 2001;47:1008-27.
"""

from reports.privacy.audit import (
    AuditEngine,
    AuditResult,
    AuditSummary,
    CellRange,
    RevisionViolation,
    TargetKind,
    audit,
)
from reports.privacy.complementary import (
    ComplementaryResult,
    complementary_suppression,
    table_equations,
)
from reports.privacy.model import (
    MIN_THRESHOLD,
    Atom,
    Cell,
    CellDecision,
    CostModel,
    Derived,
    DerivedKind,
    DisclosureError,
    Flag,
    LedgerEntry,
    Nesting,
    Reason,
    RevisionPolicy,
    Rules,
    Table,
)
from reports.privacy.primary import primary_reason, primary_suppression
from reports.privacy.release import (
    ProtectedRelease,
    PublishedCell,
    PublishedDerived,
    PublishedTable,
    RevisionShortfall,
    protect_release,
    publish_derived,
    revision_shortfalls,
)

__all__ = [
    "MIN_THRESHOLD",
    "Atom",
    "AuditEngine",
    "AuditResult",
    "AuditSummary",
    "Cell",
    "CellDecision",
    "CellRange",
    "ComplementaryResult",
    "CostModel",
    "Derived",
    "DerivedKind",
    "DisclosureError",
    "Flag",
    "LedgerEntry",
    "Nesting",
    "ProtectedRelease",
    "PublishedCell",
    "PublishedDerived",
    "PublishedTable",
    "Reason",
    "RevisionPolicy",
    "RevisionShortfall",
    "RevisionViolation",
    "Rules",
    "Table",
    "TargetKind",
    "audit",
    "complementary_suppression",
    "primary_reason",
    "primary_suppression",
    "protect_release",
    "publish_derived",
    "revision_shortfalls",
    "table_equations",
]
