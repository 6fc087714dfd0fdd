"""Analytics test world: the synthetic community, imported through the real import path.

`community_results` generates a small community with known planted effects (truth.json), imports
it into the test database inside a transaction, extracts the datasets, computes every part of
the standard suite, and rolls the import back: tests assert on the computed outputs without
leaving rows behind for other tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_community

COMMUNITY_SEED = 2026
COMMUNITY_RESIDENTS = 2500


@dataclass
class CommunityResults:
    truth: dict[str, Any]
    fingerprint: str
    outputs: dict[str, Any]  # part name → PartOutput


@pytest.fixture(scope="session")
def community_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from surveys.synthetic import generate_community

    folder = tmp_path_factory.mktemp("community")
    generate_community(
        residents=COMMUNITY_RESIDENTS, years=5, seed=COMMUNITY_SEED, out_dir=folder, end_year=2025
    )
    return folder


@pytest.fixture(scope="session")
def community_results(
    community_files: Path, django_db_setup: None, django_db_blocker: Any
) -> Iterator[CommunityResults]:
    from django.db import connection, transaction

    from analytics import suite
    from analytics.extraction import extract_all

    with django_db_blocker.unblock():
        # pytest-django creates the test database only for tests marked django_db: never
        # let this fixture write into a developer's database.
        assert connection.creation.test_db_signature() and (
            "memory" in str(connection.settings_dict["NAME"])
            or str(connection.settings_dict["NAME"]).startswith("test_")
        ), "community_results needs a test marked django_db (the test database)"
        with transaction.atomic():
            load_community(community_files)
            datasets = extract_all()
            transaction.set_rollback(True)
    params = suite.clean_parameters({})
    outputs = {name: part(datasets, params) for name, part in suite.PARTS.items()}
    truth = json.loads((community_files / "truth.json").read_text())
    yield CommunityResults(truth=truth, fingerprint=datasets.fingerprint(), outputs=outputs)
