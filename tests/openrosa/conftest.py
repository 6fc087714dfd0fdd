"""The field-data world of tests/surveys (areas A and B, worker_a in A, worker_b in B)."""

from tests.surveys.conftest import area_a, area_b, assignments, site

__all__ = ["area_a", "area_b", "assignments", "site"]
