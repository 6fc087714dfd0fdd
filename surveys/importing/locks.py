"""One import of a kind at a time, across every web and worker process.

An import decides which rows are new by reading what is stored, then writes the new ones. Two
imports of the same file that both read before either writes would both store every row, so an
import holds its kind's lock from the first read to the commit, and the second import then
finds every row stored ("nothing new").

- PostgreSQL: a session-level advisory lock (pg_advisory_lock), held by the import's own
  connection, so it is shared by every web process and worker on every machine and released by
  the server if that connection dies.
- SQLite (the embedded default, one machine by construction): an exclusive flock on a file
  beside the data in VAR_DIR; the kernel releases it when the process dies. SQLite's own locks
  cannot serve: a read transaction does not exclude another reader, and holding a write
  transaction (BEGIN IMMEDIATE) through validation would block every other write (visit forms)
  for the length of the import.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger("surveys.importing")


class ImportBusy(RuntimeError):
    """Another import of the same kind holds the lock (only with blocking=False)."""


def _advisory_key(kind: str) -> int:
    """A stable signed 64-bit key for the kind (pg_advisory_lock takes a bigint)."""
    digest = hashlib.sha256(f"healthwatch:import:{kind}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_file(kind: str) -> Path:
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"import-{kind}.lock"


@contextlib.contextmanager
def import_lock(kind: str, *, blocking: bool = True) -> Iterator[None]:
    """Hold the import lock of `kind` for the duration of the block.

    Must be entered outside any transaction on PostgreSQL (the lock belongs to the session, and
    the import's own transaction starts and commits inside the block).
    """
    if connection.vendor == "postgresql":
        with _advisory_lock(_advisory_key(kind), blocking=blocking):
            yield
        return
    with _file_lock(_lock_file(kind), blocking=blocking):
        yield


@contextlib.contextmanager
def _advisory_lock(key: int, *, blocking: bool) -> Iterator[None]:
    with connection.cursor() as cursor:
        if blocking:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise ImportBusy("another import of this kind is running")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:
            # The connection is gone (e.g. the server restarted): so is the session's lock.
            log.warning("import lock %s not released: the database connection was lost", key)


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ImportBusy("another import of this kind is running") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
