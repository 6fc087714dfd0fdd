"""Imports under a bad day: two at once, and the database going away in the middle of one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection

from surveys.importing import ImportReport
from surveys.importing.people import ObservationsImporter
from surveys.models import ImportRecord, Observation, Visit
from tests.integration.test_import_postgres import import_file, render, rows_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_imports_of_one_file_store_one_copy_and_the_second_says_nothing_new(
    residents: Path, admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, rows = rows_of(residents)
    content = render(header, rows)
    # Both imports are held at the end of validation until the other one gets there too, so
    # without serialization both decide "nothing of this is stored" before either writes. With
    # it, the second cannot start validating while the first holds the lock: the wait times
    # out and the first goes on alone.
    both_validated = threading.Barrier(2, timeout=5)
    validated = ObservationsImporter.finish

    def finish(self: ObservationsImporter) -> None:
        validated(self)
        try:
            both_validated.wait()
        except threading.BrokenBarrierError:
            pass

    monkeypatch.setattr(ObservationsImporter, "finish", finish)
    reports: list[ImportReport] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(import_file(content, admin_user))
        except BaseException as error:  # the test reads it below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not failures, failures
    assert sorted(r.created for r in reports) == [0, len(rows)]
    second = min(reports, key=lambda r: r.created)
    assert second.ok and second.unchanged == len(rows)
    assert "nothing new" in second.summary()
    assert Observation.objects.count() == len(rows)
    assert Visit.objects.count() == len({(r[0], r[1]) for r in rows})
    assert ImportRecord.objects.filter(kind="observations").count() == 2
