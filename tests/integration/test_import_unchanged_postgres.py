"""The re-import shortcut on PostgreSQL (surveys/importing/unchanged.py): there the first import
of a file already proves it stored, because the import tells its own log rows apart from other
writers' by xmin. SQLite has no xmin, so only an import that wrote nothing proves its file there
(tests/surveys/test_import_unchanged_file.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.db.models import F

from surveys.importing import import_csv
from surveys.importing.people import ObservationsImporter
from surveys.models import ImportRecord, Observation
from surveys.selectors import data_change_marker
from tests.conftest import load_community

pytestmark = pytest.mark.django_db(transaction=True)


def imported_again(content: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    """The report, and how many chunks were validated (0: the rows were not read)."""
    calls = []
    validate = ObservationsImporter.validate_cells

    def spy(self: ObservationsImporter, chunk: list[Any]) -> None:
        calls.append(len(chunk))
        validate(self, chunk)

    monkeypatch.setattr(ObservationsImporter, "validate_cells", spy)
    report = import_csv(
        kind="observations", stream=io.BytesIO(content), file_name="again.csv", user=None
    )
    return report, len(calls)


def test_on_postgresql_the_first_import_already_proves_its_file(
    tiny_community: Path, vocabulary_and_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_community(tiny_community)  # committed, not in a savepoint
    first = ImportRecord.objects.filter(kind="observations").latest("pk")
    assert first.created > 0 and first.data_marker.endswith(f":{data_change_marker()}")
    content = (tiny_community / "observations.csv").read_bytes()
    report, chunks = imported_again(content, monkeypatch)
    assert chunks == 0 and report.ok and report.unchanged == first.rows


def test_on_postgresql_a_write_by_someone_else_after_the_import_sends_the_file_the_full_path(
    tiny_community: Path, vocabulary_and_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_community(tiny_community)
    first = ImportRecord.objects.filter(kind="observations").latest("pk")
    assert first.data_marker
    # a write by someone else after the import (same value: the marker cannot know that)
    Observation.objects.filter(pk=Observation.objects.order_by("pk").values("pk")[:1]).update(
        value=F("value")
    )
    content = (tiny_community / "observations.csv").read_bytes()
    report, chunks = imported_again(content, monkeypatch)
    assert chunks >= 1 and report.ok and report.unchanged == first.rows
