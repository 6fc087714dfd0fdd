"""Imports under a bad day: two at once, and the database going away in the middle of one."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from surveys.importing import ImportReport
from surveys.importing.core import DATABASE_LOST
from surveys.importing.people import ObservationsImporter
from surveys.models import ImportRecord, Observation, Visit
from tests.i18n import t, tn
from tests.integration.conftest import PrivatePostgres, manage, spawn_manage
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
    assert second.summary() == tn(
        "%(kind)s: %(rows)s row read, nothing new: every row is already stored "
        "(unchanged: %(unchanged)s).",
        "%(kind)s: %(rows)s rows read, nothing new: every row is already stored "
        "(unchanged: %(unchanged)s).",
        second.rows,
        kind=second.kind,
        rows=second.rows,
        unchanged=second.unchanged,
    )
    assert Observation.objects.count() == len(rows)
    assert Visit.objects.count() == len({(r[0], r[1]) for r in rows})
    assert ImportRecord.objects.filter(kind="observations").count() == 2


def test_a_database_restart_in_the_middle_of_an_import_stores_nothing_and_says_so_in_words(
    tiny_community: Path, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    import psycopg

    url = private_postgres.url
    for step in (
        ("migrate", "--no-input", "-v", "0"),
        *(
            ("import_csv", k, str(tiny_community / f"{k}.csv"))
            for k in ("sites", "areas", "residents")
        ),
    ):
        done = manage(url, tmp_path, *step)
        assert done.returncode == 0, done.stderr

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=private_postgres.port,
            user="postgres",
            dbname="healthwatch_private",
            autocommit=True,
        )

    def stored() -> tuple[int, int, int]:
        with connect() as db:
            return tuple(  # type: ignore[return-value]
                db.execute(sql).fetchone()[0]  # type: ignore[index]
                for sql in (
                    "SELECT count(*) FROM surveys_visit",
                    "SELECT count(*) FROM surveys_observation",
                    "SELECT count(*) FROM surveys_importrecord WHERE kind = 'observations'",
                )
            )

    # Quality flags are written last, inside the import's transaction: holding their table
    # stops the import after its visits and observations are written, before it commits.
    holder = psycopg.connect(
        host="127.0.0.1", port=private_postgres.port, user="postgres", dbname="healthwatch_private"
    )
    holder.execute("LOCK TABLE surveys_dataqualityflag IN ACCESS EXCLUSIVE MODE")
    # A blood lead value above 10× its reference level makes sure the import writes a flag
    # (ordinary values of the tiny community may raise none: biomarkers are judged on logs).
    header, rows = rows_of(tiny_community)
    lead = next(row for row in rows if row[header.index("code")] == "lab.blood_lead")
    lead[header.index("value")], lead[header.index("unit")] = "150", "µg/dL"
    planted = tmp_path / "observations.csv"
    planted.write_bytes(render(header, rows))
    observations = str(planted)
    importing = spawn_manage(url, tmp_path, "import_csv", "observations", observations)
    try:
        deadline = time.monotonic() + 300
        with connect() as watcher:
            while not watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            ).fetchone():
                assert importing.poll() is None, importing.communicate()
                assert time.monotonic() < deadline, "the import never reached its writes"
                time.sleep(0.2)
        private_postgres.restart()
        out, err = importing.communicate(timeout=300)
    finally:
        if importing.poll() is None:
            importing.kill()
        with contextlib.suppress(Exception):
            holder.close()

    assert importing.returncode != 0
    # the command speaks LANGUAGE_CODE, as this test does: the message in full, in its words
    assert t(DATABASE_LOST) in err
    assert "Traceback" not in out + err
    assert stored() == (0, 0, 0)

    again = manage(url, tmp_path, "import_csv", "observations", observations)
    assert again.returncode == 0, again.stderr
    _, rows = rows_of(tiny_community)
    assert stored() == (len({(r[0], r[1]) for r in rows}), len(rows), 1)
