"""One import of a kind at a time, across every web and worker process.

An import decides which rows are new by reading what is stored, then writes the new ones. Two
imports of the same file that both read before either writes would both store every row, so an
import holds its kind's lock from the first read to the commit, and the second import then
finds every row stored ("nothing new"). The lock is healthwatch.locks.session_lock (a
PostgreSQL advisory lock; a file lock on SQLite), the project's one lock chokepoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from healthwatch.locks import LockBusy, session_lock

#: Another import of the same kind holds the lock (only with blocking=False).
ImportBusy = LockBusy


def import_lock_name(kind: str) -> str:
    return f"healthwatch:import:{kind}"


@contextlib.contextmanager
def import_lock(kind: str, *, blocking: bool = True) -> Iterator[None]:
    """Hold the import lock of `kind` for the duration of the block (see session_lock)."""
    with session_lock(import_lock_name(kind), blocking=blocking):
        yield
