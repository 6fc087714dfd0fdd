"""import_csv: validate the whole file, then write everything in one transaction, or nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import logging
from collections.abc import Callable
from typing import BinaryIO, ParamSpec, TypeVar

from django.contrib.auth.models import User
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils.translation import gettext, gettext_noop

from surveys.importing import unchanged
from surveys.importing.base import KindImporter
from surveys.importing.environment import MeasurementsImporter
from surveys.importing.locks import import_lock
from surveys.importing.people import ObservationsImporter, ResidentsImporter
from surveys.importing.reader import CsvSource
from surveys.importing.reference import (
    AreasImporter,
    PopulationImporter,
    SitesImporter,
    StationsImporter,
)
from surveys.importing.report import ErrorSink, ImportReport, RowError
from surveys.models import ImportRecord
from surveys.services import AccessDenied
from surveys.signals import data_imported

logger = logging.getLogger("surveys.importing")

IMPORTERS: dict[str, type[KindImporter]] = {
    importer.kind: importer
    for importer in (
        SitesImporter,
        AreasImporter,
        PopulationImporter,
        StationsImporter,
        MeasurementsImporter,
        ResidentsImporter,
        ObservationsImporter,
    )
}
#: The kinds in dependency order (import them in this order).
KINDS: tuple[str, ...] = tuple(IMPORTERS)
COLUMNS: dict[str, tuple[str, ...]] = {kind: imp.columns for kind, imp in IMPORTERS.items()}


def may_import(user: User | None, kind: str) -> bool:
    """None is the operator at the command line (no --user): every kind."""
    return user is None or IMPORTERS[kind].allowed(user)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _cyclic_gc_paused(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `function` with Python's cyclic garbage collector paused (reference counting still
    frees everything that is not a cycle).

    An import keeps hundreds of thousands of objects alive (caches of distinct values, the
    chunk being validated), and each full collection walks all of them again: at 4.7 million
    rows that was a third of the validation time. Nothing an import allocates relies on cycle
    collection; whatever cycles there are go at the next collection after it returns.
    """

    @functools.wraps(function)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


@_cyclic_gc_paused
def import_csv(
    *,
    kind: str,
    stream: BinaryIO,
    file_name: str,
    user: User | None,
    dry_run: bool = False,
    today: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import one CSV file of `kind` (see docs/data-formats.md).

    Every row is validated before anything is written; with any error nothing is written (not
    even an ImportRecord) and every error is reported. Otherwise new rows are written in bulk in
    one transaction with an ImportRecord (also for a dry run, which writes nothing else); rows
    already stored with the same values count as unchanged, so a second import of the same
    file changes nothing. `user` None means the operator at the command line (no area scope).
    Raises AccessDenied when the user may not import this kind, ValueError for an unknown kind.
    `progress`, if given, is called with the number of rows read after each chunk.
    """
    if kind not in IMPORTERS:
        raise ValueError(f"unknown kind {kind!r}; the kinds are: {', '.join(KINDS)}.")
    if not may_import(user, kind):
        raise AccessDenied(gettext("You may not import %(kind)s.") % {"kind": kind})
    try:
        # A dry run writes only its ImportRecord, so it need not wait for a running import.
        with contextlib.nullcontext() if dry_run else import_lock(kind):
            return _validate_and_write(
                kind=kind,
                stream=stream,
                file_name=file_name,
                user=user,
                dry_run=dry_run,
                today=today or dt.date.today(),
                progress=progress,
            )
    except (OperationalError, InterfaceError) as error:
        # The database went away (restart, network): the transaction was rolled back with
        # the connection. Say so in the report's words rather than with a traceback.
        logger.error("import of %s (%s) stopped, database unreachable: %s", kind, file_name, error)
        if not connection.in_atomic_block:
            connection.close()  # the next query opens a fresh connection
        report = ImportReport(kind=kind, dry_run=dry_run, error_count=1)
        report.errors = [RowError(0, "", "", gettext(DATABASE_LOST))]
        return report


DATABASE_LOST = gettext_noop(
    "the database could not be reached or restarted during the import, so nothing was "
    "imported; import the file again when it is back (rows already stored count as unchanged)."
)


def _validate_and_write(
    *,
    kind: str,
    stream: BinaryIO,
    file_name: str,
    user: User | None,
    dry_run: bool,
    today: dt.date,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    """Validate against what is stored now, then write; under the kind's lock (see locks.py)."""
    before = unchanged.marker() if unchanged.applies(kind, user) else ""
    if before:
        again = _imported_before(kind, stream, file_name, user, dry_run, before, progress)
        if again is not None:
            return again
    importer_class = IMPORTERS[kind]
    sink = ErrorSink()
    importer = importer_class(user=user, sink=sink, today=today, file_name=file_name)
    source = CsvSource(stream, importer_class.columns, sink)
    columns = importer_class.columns
    chunk: list[tuple[int, list[str]]] = []
    for numbered in source.rows():
        chunk.append(numbered)
        if len(chunk) >= importer_class.chunk_size:
            importer.validate_cells(chunk)
            chunk = []
            if progress is not None:
                progress(source.data_rows)
    if chunk:
        importer.validate_cells(chunk)
    del chunk
    source.drain()
    if progress is not None:
        progress(source.data_rows)
    importer.finish()
    report = ImportReport(kind=kind, rows=source.data_rows, dry_run=dry_run)
    if sink:
        return _refused(report, sink, file_name, source.sha256, columns)
    report.created = importer.pending_count
    report.unchanged = importer.unchanged
    try:
        with transaction.atomic():
            record = ImportRecord.objects.create(
                kind=kind,
                file_name=file_name[:255],
                sha256=source.sha256,
                dry_run=dry_run,
                rows=report.rows,
                created=report.created,
                unchanged=report.unchanged,
                imported_by=user,
            )
            if not dry_run:
                importer.write(record)
                _keep_marker(record, before)
                if report.created:
                    record_id = record.pk
                    transaction.on_commit(lambda: _announce(record_id, kind))
    except IntegrityError:
        logger.warning("import of %s (%s) hit a conflicting concurrent change", kind, file_name)
        sink.add(
            0,
            "",
            "",
            gettext(
                "the stored data changed while this file was being imported (someone entered "
                "the same records at the same time); nothing was imported — import the file "
                "again."
            ),
        )
        report.created = report.unchanged = 0
        return _refused(report, sink, file_name, source.sha256, columns)
    report.import_record_id = record.pk
    logger.info(
        "import #%s of %s (%s, sha256 %s): %d rows, %d created, %d unchanged%s",
        record.pk,
        kind,
        file_name,
        source.sha256[:12],
        report.rows,
        report.created,
        report.unchanged,
        " (dry run)" if dry_run else "",
    )
    return report


def _imported_before(
    kind: str,
    stream: BinaryIO,
    file_name: str,
    user: User | None,
    dry_run: bool,
    before: str,
    progress: Callable[[int], None] | None,
) -> ImportReport | None:
    """The report of a file stored already by an earlier import, with nothing written since
    (surveys.importing.unchanged): every row unchanged, nothing read but the file's bytes.
    None (the stream where it was) when that cannot be proved: the full path then runs."""
    sha256 = unchanged.file_sha256(stream)
    earlier = unchanged.earlier_import(kind, sha256, before) if sha256 else None
    if sha256 is None or earlier is None:
        return None
    with transaction.atomic():
        # Read again inside the transaction: a write committed since `before` was read
        # means the full path (nothing has been written here yet).
        now = unchanged.marker_after_own_writes(before, wrote=False)
        if not now:
            return None
        record = ImportRecord.objects.create(
            kind=kind,
            file_name=file_name[:255],
            sha256=sha256,
            dry_run=dry_run,
            rows=earlier.rows,
            created=0,
            unchanged=earlier.rows,
            imported_by=user,
            data_marker="" if dry_run else now,
        )
    if progress is not None:
        progress(earlier.rows)
    report = ImportReport(kind=kind, rows=earlier.rows, dry_run=dry_run)
    report.unchanged = earlier.rows
    report.import_record_id = record.pk
    logger.info(
        "import #%s of %s (%s, sha256 %s): %d rows, all unchanged since import #%s%s",
        record.pk,
        kind,
        file_name,
        sha256[:12],
        report.rows,
        earlier.pk,
        " (dry run)" if dry_run else "",
    )
    return report


def _keep_marker(record: ImportRecord, before: str) -> None:
    """Keep the data change marker on the record when nothing but this import wrote since
    `before` (read before validation began; "" when the shortcut does not apply)."""
    if before:
        record.data_marker = unchanged.marker_after_own_writes(before, wrote=record.created > 0)
        if record.data_marker:
            record.save(update_fields=["data_marker"])


def _announce(record_id: int, kind: str) -> None:
    """Tell the after-import listeners (analysis, open data) that new data is stored.

    The import is committed by now: a listener that fails (the job queue is down) is logged
    and never turns the saved import into an error; the periodic sweep and the nightly run
    catch up.
    """
    for receiver, outcome in data_imported.send_robust(
        sender=ImportRecord, record_id=record_id, kind=kind
    ):
        if isinstance(outcome, BaseException):
            logger.error(
                "import #%s of %s is saved, but its follow-up %s failed: %s",
                record_id,
                kind,
                getattr(receiver, "__name__", receiver),
                outcome,
            )


def _refused(
    report: ImportReport,
    sink: ErrorSink,
    file_name: str,
    sha256: str,
    columns: tuple[str, ...],
) -> ImportReport:
    """Nothing is written; the errors are sorted by row, then by column as in the contract."""
    position = {column: index for index, column in enumerate(columns)}
    errors = sink.finish()
    errors.sort(key=lambda e: (e.row or 1 << 62, position.get(e.column, -1)))
    report.errors = errors
    report.error_count = sink.count
    logger.info(
        "import of %s (%s, sha256 %s) refused: %d rows, %d errors",
        report.kind,
        file_name,
        sha256[:12],
        report.rows,
        sink.count,
    )
    return report


__all__ = ["COLUMNS", "KINDS", "ImportReport", "RowError", "import_csv", "may_import"]
