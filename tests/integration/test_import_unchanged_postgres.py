"""The re-import shortcut on PostgreSQL (surveys/importing/unchanged.py): there the first import
of a file already proves it stored, because the import tells its own log rows apart from other
writers' by xmin. SQLite has no xmin, so only an import that wrote nothing proves its file there
(tests/surveys/test_import_unchanged_file.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db.models import F

from surveys.models import ImportRecord, Observation
from surveys.selectors import data_change_marker
from tests.conftest import load_community
from tests.surveys.test_import_unchanged_file import imported

pytestmark = pytest.mark.django_db(transaction=True)


def test_on_postgresql_the_first_import_already_proves_its_file(
    tiny_community: Path, vocabulary_and_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_community(tiny_community)  # committed, not in a savepoint
    first = ImportRecord.objects.filter(kind="observations").latest("pk")
    assert first.created > 0 and first.data_marker.endswith(f":{data_change_marker()}")
    content = (tiny_community / "observations.csv").read_bytes()
    report, chunks = imported(content, monkeypatch)
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
    report, chunks = imported(content, monkeypatch)
    assert chunks >= 1 and report.ok and report.unchanged == first.rows
