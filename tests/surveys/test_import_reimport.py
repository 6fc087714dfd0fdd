"""Importing an observations file again: unchanged rows are recognised in bulk (the columnar
path compares them with what is stored), not one by one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from surveys.importing import import_csv
from surveys.importing.base import DIFFERS
from surveys.importing.people import ObservationsImporter
from surveys.models import Observation
from surveys.selectors import data_change_marker
from tests.i18n import t

pytestmark = pytest.mark.django_db


def reimport(content: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    calls = []
    row_path = ObservationsImporter.validate_chunk

    def spy(self: ObservationsImporter, rows: list[Any]) -> None:
        calls.append(len(rows))
        row_path(self, rows)

    monkeypatch.setattr(ObservationsImporter, "validate_chunk", spy)
    report = import_csv(
        kind="observations", stream=io.BytesIO(content), file_name="again.csv", user=None
    )
    return report, len(calls)


def test_the_same_file_again_counts_every_row_unchanged_without_the_row_path(
    community: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = (community / "observations.csv").read_bytes()
    stored, marker = Observation.objects.count(), data_change_marker()
    report, row_path_chunks = reimport(content, monkeypatch)
    assert report.ok and report.created == 0 and report.unchanged == report.rows > 0
    assert row_path_chunks == 0
    assert Observation.objects.count() == stored and data_change_marker() == marker


def test_a_stored_row_with_another_value_still_goes_to_the_row_path_and_is_reported(
    community: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, first, *rest = (community / "observations.csv").read_bytes().splitlines()
    cells = first.decode().split(",")
    flipped = {"true": "false", "false": "true"}
    cells[3] = flipped.get(cells[3]) or f"{float(cells[3]) * 1.5:g}"
    content = b"\n".join([header, ",".join(cells).encode(), *rest]) + b"\n"
    report, row_path_chunks = reimport(content, monkeypatch)
    assert not report.ok and row_path_chunks >= 1
    assert report.errors[0].row == 2 and report.errors[0].reason == t(DIFFERS)
