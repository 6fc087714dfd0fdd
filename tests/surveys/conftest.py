"""Field-data world: two areas, A (near the plant) and B (outlying), a site, and the cast.

worker_a is assigned to area A, worker_b to area B. Django is imported inside the fixtures so
that the pure generator tests also run with `-p no:django`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from surveys.models import Area, ProductionSite


@pytest.fixture
def site(db: None) -> ProductionSite:
    from surveys.models import ProductionSite

    return ProductionSite.objects.create(
        code="SEP1",
        name="Separation plant",
        kind="separation_plant",
        latitude=25.0,
        longitude=110.0,
    )


@pytest.fixture
def area_a(db: None) -> Area:
    from surveys.models import Area

    return Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)


@pytest.fixture
def area_b(db: None) -> Area:
    from surveys.models import Area

    return Area.objects.create(code="B", name="Area B", latitude=25.1, longitude=110.1)


@pytest.fixture(autouse=True)
def assignments(request: pytest.FixtureRequest) -> None:
    """Assign worker_a to A and worker_b to B whenever a test uses them."""
    names = set(request.fixturenames)
    if not {"worker_a", "worker_b"} & names:
        return
    from surveys.models import AreaAssignment

    if "worker_a" in names:
        AreaAssignment.objects.create(
            user=request.getfixturevalue("worker_a"), area=request.getfixturevalue("area_a")
        )
    if "worker_b" in names:
        AreaAssignment.objects.create(
            user=request.getfixturevalue("worker_b"), area=request.getfixturevalue("area_b")
        )
