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
    datasets: Any = None  # analytics.extraction.Datasets


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
    yield CommunityResults(
        truth=truth, fingerprint=datasets.fingerprint(), outputs=outputs, datasets=datasets
    )


NEW_YEAR_VISITS = ("2026-01-01", "2026-01-02")
"""Two visits dated in the new year on top of a community that ends on 31 Dec 2025 (a
Wednesday): the new year, its January and the week of 29 Dec 2025 are all incomplete."""


def write_new_year_visits(
    community: Path, out: Path, dates: tuple[str, ...] = NEW_YEAR_VISITS
) -> Path:
    """An observations file of asthma diagnoses for the first residents of `community`, one on
    each of `dates` (the scenario of issue #17: a few records in a new period)."""
    import csv

    with (community / "residents.csv").open(encoding="utf-8") as handle:
        study_ids = [row["study_id"] for _, row in zip(dates, csv.DictReader(handle), strict=False)]
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study_id", "observed_on", "code", "value", "unit", "below_lod", "lod"])
        for study_id, date in zip(study_ids, dates, strict=True):
            writer.writerow([study_id, date, "dx.J45", "true", "", "", ""])
    return out


@pytest.fixture(scope="session")
def new_year_results(
    community_files: Path,
    tmp_path_factory: pytest.TempPathFactory,
    django_db_setup: None,
    django_db_blocker: Any,
) -> Iterator[CommunityResults]:
    """The community of `community_results` with two visits dated in the new year: the parts
    that depend on periods computed on it (trends, aberration, rates)."""
    from django.core.management import call_command
    from django.db import transaction

    from analytics import suite
    from analytics.extraction import extract_all

    extra = write_new_year_visits(
        community_files, tmp_path_factory.mktemp("new-year") / "observations.csv"
    )
    with django_db_blocker.unblock(), transaction.atomic():
        load_community(community_files)
        call_command("import_csv", "observations", str(extra), verbosity=0)
        datasets = extract_all()
        transaction.set_rollback(True)
    params = suite.clean_parameters({})
    outputs = {
        name: suite.PARTS[name](datasets, params) for name in ("rates", "trends", "aberration")
    }
    yield CommunityResults(truth={}, fingerprint=datasets.fingerprint(), outputs=outputs)
