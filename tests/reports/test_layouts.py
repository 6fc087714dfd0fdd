"""The report layouts declare what they publish and what a reader may assume of it."""

from __future__ import annotations

from reports.layouts import LAYOUT_COLUMNS, RESIDENT_YEARS, Relation, layout_relations
from reports.models import Release


def test_every_published_column_is_covered_by_a_declared_relation(draft: Release) -> None:
    for table, rows in draft.content["tables"].items():
        declared = LAYOUT_COLUMNS.get(table)
        assert declared is not None, f"table {table} declares no columns"
        for row in rows:
            assert row["measure"] in declared, f"{table} publishes undeclared {row['measure']}"
            assert declared[row["measure"]], f"{table}.{row['measure']} has no relation"


def test_every_count_column_of_people_is_nested_in_another_or_a_sum() -> None:
    for table, columns in LAYOUT_COLUMNS.items():
        for measure, relations in columns.items():
            if Relation.NESTED in relations:
                assert Relation.SUM in relations and Relation.NON_NEGATIVE in relations, (
                    table,
                    measure,
                )


def test_the_declared_nestings_bound_every_outcome_by_resident_years() -> None:
    relations = layout_relations(["dx.J45", "acute_respiratory"], ["lab.blood_lead"])
    pairs = {(n.lesser, n.greater) for n in relations}
    assert (("dx.J45",), (RESIDENT_YEARS,)) in pairs
    assert (("dx.J20",), ("acute_respiratory",)) in pairs
    assert (("acute_respiratory",), ("dx.J06", "dx.J20")) in pairs
    assert (("lab.blood_lead:above_reference",), ("lab.blood_lead:tested",)) in pairs
    assert (("lab.blood_lead:tested",), (RESIDENT_YEARS,)) in pairs


def test_the_internal_audit_keeps_the_relations_for_the_publication_re_audit(
    draft: Release,
) -> None:
    stored = {(tuple(r["lesser"]), tuple(r["greater"])) for r in draft.internal_audit["relations"]}
    assert ((("dx.J45",), (RESIDENT_YEARS,))) in stored
    assert draft.internal_audit["atom_counts"], "publication needs the atom counts"
