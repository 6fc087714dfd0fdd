"""Field-data world: two areas, A (near the plant) and B (outlying), a site, and the cast.

worker_a is assigned to area A, worker_b to area B.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from surveys.models import Area, AreaAssignment, ProductionSite


@pytest.fixture
def site(db: None) -> ProductionSite:
    return ProductionSite.objects.create(
        code="SEP1",
        name="Separation plant",
        kind="separation_plant",
        latitude=25.0,
        longitude=110.0,
    )


@pytest.fixture
def area_a(db: None) -> Area:
    return Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)


@pytest.fixture
def area_b(db: None) -> Area:
    return Area.objects.create(code="B", name="Area B", latitude=25.1, longitude=110.1)


@pytest.fixture(autouse=True)
def assignments(request: pytest.FixtureRequest) -> None:
    """Assign worker_a to A and worker_b to B whenever a test uses them."""
    names = set(request.fixturenames)
    if "worker_a" in names:
        AreaAssignment.objects.create(
            user=request.getfixturevalue("worker_a"), area=request.getfixturevalue("area_a")
        )
    if "worker_b" in names:
        AreaAssignment.objects.create(
            user=request.getfixturevalue("worker_b"), area=request.getfixturevalue("area_b")
        )


__all__ = ["User"]
