"""Named locks across every web and worker process: the one chokepoint for "one at a time".

Two shapes over one key space (`lock_key(name)`), so the same name taken either way excludes:

- `transaction_lock(name)`: for the rest of the current transaction (e.g. the public comment
  limit: count, then insert). PostgreSQL: pg_advisory_xact_lock, released at commit or
  rollback. SQLite: nothing to do, because HealthWatch's SQLite transactions begin IMMEDIATE
  (settings), which already admits one writing transaction at a time.
- `session_lock(name)`: for a block that spans several transactions of its own (an import
  decides which rows are new by reading what is stored, then writes them; two imports that both
  read before either writes would both store every row). PostgreSQL: a session-level advisory
  lock (pg_advisory_lock) held by this connection, shared by every process on every machine and
  released by the server if the connection dies. SQLite (the embedded default, one machine by
  construction): an exclusive flock on a file in VAR_DIR/locks, released by the kernel when the
  process dies. SQLite's own locks cannot serve: a read transaction does not exclude another
  reader, and holding a write transaction (BEGIN IMMEDIATE) through a long import would block
  every other write (visit forms) for its length.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger("healthwatch.locks")


class LockBusy(RuntimeError):
    """Another process holds the lock (only with blocking=False)."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (PostgreSQL's advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def transaction_lock(name: str) -> None:
    """Serialize the rest of the current transaction with every other one locking `name`."""
    if not connection.in_atomic_block:
        raise RuntimeError("transaction_lock() must be called inside transaction.atomic().")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])


@contextlib.contextmanager
def session_lock(name: str, *, blocking: bool = True) -> Iterator[None]:
    """Hold the lock `name` for the duration of the block (LockBusy if taken and not blocking).

    Must be entered outside any transaction on PostgreSQL (the lock belongs to the session, and
    the block's own transactions start and commit inside it).
    """
    if connection.vendor == "postgresql":
        with _advisory_lock(lock_key(name), blocking=blocking):
            yield
        return
    with _file_lock(_lock_file(name), blocking=blocking):
        yield


def _lock_file(name: str) -> Path:
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    readable = re.sub(r"[^A-Za-z0-9_.-]", "-", name)  # the key keeps distinct names apart
    return folder / f"{readable}-{lock_key(name) & 0xFFFFFFFF:08x}.lock"


@contextlib.contextmanager
def _advisory_lock(key: int, *, blocking: bool) -> Iterator[None]:
    with connection.cursor() as cursor:
        if blocking:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise LockBusy("the lock is held by another process")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:
            # The connection is gone (e.g. the server restarted): so is the session's lock.
            log.warning("lock %s not released: the database connection was lost", key)


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockBusy("the lock is held by another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
