"""A file imported before, with nothing written since, is recognised by its bytes and the data
change marker (surveys.importing.unchanged): no row is read again. Anything else — a byte
changed, a stored row deleted since, a health worker's scope — goes the full path (issue #20)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from surveys.importing import import_csv
from surveys.importing.people import ObservationsImporter
from surveys.models import ImportRecord, Observation
from surveys.selectors import data_change_marker
from tests.i18n import t

pytestmark = pytest.mark.django_db
# surveys.importing.base.DIFFERS, looked up in the active language (tests/i18n.py)
DIFFERS = "differs from the stored value; corrections go through the edit form with a reason."


def imported(content: bytes, monkeypatch: pytest.MonkeyPatch, user: Any = None) -> tuple[Any, int]:
    """The report, and how many chunks were validated (0: the rows were not read)."""
    calls = []
    validate = ObservationsImporter.validate_cells

    def spy(self: ObservationsImporter, chunk: list[Any]) -> None:
        calls.append(len(chunk))
        validate(self, chunk)

    monkeypatch.setattr(ObservationsImporter, "validate_cells", spy)
    report = import_csv(
        kind="observations", stream=io.BytesIO(content), file_name="again.csv", user=user
    )
    monkeypatch.setattr(ObservationsImporter, "validate_cells", validate)
    return report, len(calls)


@pytest.fixture
def proved(community: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The community's observations file, imported again so that its record keeps a marker
    (on PostgreSQL the first import already keeps one; on SQLite only an import that wrote
    nothing does)."""
    content = (community / "observations.csv").read_bytes()
    report, _chunks = imported(content, monkeypatch)
    assert report.ok and report.created == 0
    assert ImportRecord.objects.get(pk=report.import_record_id).data_marker
    return content


def test_an_unchanged_file_imported_again_reads_no_row_and_reports_every_row_stored(
    proved: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, marker = Observation.objects.count(), data_change_marker()
    rows = len(proved.splitlines()) - 1
    report, chunks = imported(proved, monkeypatch)
    assert chunks == 0
    assert report.ok and report.rows == rows == report.unchanged and report.created == 0
    assert report.error_count == 0
    assert Observation.objects.count() == stored and data_change_marker() == marker
    record = ImportRecord.objects.get(pk=report.import_record_id)
    assert (record.rows, record.created, record.unchanged) == (rows, 0, rows)
    assert record.data_marker  # and the next import of it is as cheap


def test_a_file_that_differs_in_one_byte_goes_the_full_path(
    proved: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, first, *rest = proved.splitlines()
    cells = first.decode().split(",")
    flipped = {"true": "false", "false": "true"}
    cells[3] = flipped.get(cells[3]) or f"{float(cells[3]) * 1.5:g}"
    changed = b"\n".join([header, ",".join(cells).encode(), *rest]) + b"\n"
    report, chunks = imported(changed, monkeypatch)
    assert chunks >= 1
    assert not report.ok and report.errors[0].row == 2
    assert report.errors[0].reason == t(DIFFERS)


def test_a_file_with_a_row_fewer_is_validated_and_counted_again(
    proved: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    shorter = b"\n".join(proved.splitlines()[:-1]) + b"\n"
    report, chunks = imported(shorter, monkeypatch)
    assert chunks >= 1
    assert report.ok and report.created == 0 and report.unchanged == report.rows
    assert report.rows == len(proved.splitlines()) - 2


def test_a_row_deleted_since_the_import_goes_the_full_path_and_is_stored_again(
    proved: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = Observation.objects.count()
    gone = Observation.objects.order_by("pk").first()
    assert gone is not None
    key = (gone.visit_id, gone.code_id, gone.value, gone.value_boolean, gone.entered_unit)
    gone.delete()
    report, chunks = imported(proved, monkeypatch)
    assert chunks >= 1
    assert report.ok and report.created == 1 and report.unchanged == report.rows - 1
    assert Observation.objects.count() == stored
    back = Observation.objects.get(visit_id=key[0], code_id=key[1])
    assert (back.visit_id, back.code_id, back.value, back.value_boolean, back.entered_unit) == key


def test_a_row_corrected_since_the_import_is_reported_by_the_full_path(
    proved: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrected = Observation.objects.filter(value__isnull=False).order_by("pk").first()
    assert corrected is not None and corrected.value is not None
    Observation.objects.filter(pk=corrected.pk).update(value=corrected.value * 2 + 1)
    report, chunks = imported(proved, monkeypatch)
    assert chunks >= 1
    assert not report.ok and report.created == 0
    assert any(e.reason == t(DIFFERS) for e in report.errors)


def test_a_dry_run_does_not_prove_the_file_stored(
    community: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = (community / "observations.csv").read_bytes()
    ImportRecord.objects.filter(sha256__gt="").update(data_marker="")
    dry = import_csv(
        kind="observations",
        stream=io.BytesIO(content),
        file_name="dry.csv",
        user=None,
        dry_run=True,
    )
    assert dry.ok and dry.import_record_id is not None
    assert ImportRecord.objects.get(pk=dry.import_record_id).data_marker == ""
    report, chunks = imported(content, monkeypatch)
    assert chunks >= 1 and report.ok


def test_a_health_worker_importing_the_same_file_goes_the_full_path(
    proved: bytes, monkeypatch: pytest.MonkeyPatch, worker_a: Any
) -> None:
    report, chunks = imported(proved, monkeypatch, user=worker_a)
    assert chunks >= 1
    assert not report.ok  # residents outside the health worker's areas: reported, not skipped
