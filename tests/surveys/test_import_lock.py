"""Imports of one kind serialize: the second decides "already stored" after the first wrote."""

from __future__ import annotations

import io
import threading

import pytest

from surveys.importing import ImportReport, import_csv
from surveys.importing.core import DATABASE_LOST
from surveys.importing.locks import ImportBusy, import_lock
from surveys.importing.reference import StationsImporter
from tests.i18n import t, tn

STATIONS = b"station_code,name,medium,latitude,longitude\nW1,Well 1,water,25.0,110.0\n"


def import_stations(dry_run: bool = False) -> ImportReport:
    return import_csv(
        kind="stations",
        stream=io.BytesIO(STATIONS),
        file_name="stations.csv",
        user=None,
        dry_run=dry_run,
    )


def lock_is_free(kind: str) -> bool:
    """Try the kind's lock from another thread (as another process would), without waiting."""
    answer: list[bool] = []

    def attempt() -> None:
        try:
            with import_lock(kind, blocking=False):
                answer.append(True)
        except ImportBusy:
            answer.append(False)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return answer[0]


@pytest.mark.django_db
def test_an_import_holds_its_kinds_lock_while_it_decides_what_is_new(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, bool] = {}
    validated = StationsImporter.finish

    def finish(self: StationsImporter) -> None:
        validated(self)
        seen["stations free"] = lock_is_free("stations")
        seen["areas free"] = lock_is_free("areas")

    monkeypatch.setattr(StationsImporter, "finish", finish)
    assert import_stations().ok
    assert seen == {"stations free": False, "areas free": True}
    assert lock_is_free("stations")  # released at the end


@pytest.mark.django_db
def test_a_dry_run_does_not_wait_for_a_running_import() -> None:
    with import_lock("stations"):
        report = import_stations(dry_run=True)
    assert report.ok and report.created == 1


@pytest.mark.django_db
def test_the_second_import_of_a_file_says_nothing_new() -> None:
    first, second = import_stations(), import_stations()
    assert first.created == 1 and second.created == 0
    assert second.summary() == tn(
        "%(kind)s: %(rows)s row read, nothing new: every row is already stored "
        "(unchanged: %(unchanged)s).",
        "%(kind)s: %(rows)s rows read, nothing new: every row is already stored "
        "(unchanged: %(unchanged)s).",
        1,
        kind="stations",
        rows=1,
        unchanged=1,
    )


@pytest.mark.django_db
def test_a_database_lost_during_the_write_refuses_the_file_in_words_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import OperationalError

    from surveys.models import ImportRecord, Station

    def lost(self: StationsImporter, record: object) -> None:
        Station.objects.create(code="X1", name="half", medium="air", latitude=1, longitude=1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(StationsImporter, "write", lost)
    report = import_stations()
    assert not report.ok and report.error_count == 1
    assert report.errors[0].reason == t(DATABASE_LOST)
    assert not Station.objects.exists() and not ImportRecord.objects.exists()
