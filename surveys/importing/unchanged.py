"""A file imported before, and nothing written since: known to be stored, row for row.

An import that succeeded stored every row of its file (new or unchanged; with any error it
stores nothing, not even its ImportRecord). If not a byte of the file differs and nothing was
written to the analysed tables since that import committed (surveys.models.DataChange logs every
write, whoever makes it), every row is still stored with the same values: importing the file
again would find every row unchanged. The import then skips reading the rows and says so with
the earlier import's counts (issue #20: a re-import costs one pass of sha256 over the file).

The proof is the data change marker kept on the earlier ImportRecord (`data_marker`), set only
when nothing but that import wrote between the start of its validation and its commit:
- on PostgreSQL each writing statement logs a row, so the rows written by the import's own
  transaction (xmin) are told apart from everyone else's; the others must be exactly what was
  there before validation began;
- elsewhere (SQLite: one writer at a time, only the latest log row kept) only for an import
  that wrote nothing to the analysed tables, with the marker the same before and after.

Everything else goes the full path: another kind than observations, a user who does not see
every resident (the scope decides what a row may refer to), a dry run's record, a stream that
cannot be read twice, another pseudonym key version, or any write since.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from surveys.models import ImportRecord
from surveys.selectors import data_change_marker, sees_all_records

#: Kinds whose validation reads nothing but the analysed tables, the file and the user's scope.
KINDS = frozenset({"observations"})
#: Bumped when validation changes what it accepts: earlier markers then prove nothing.
RULES_VERSION = 1
_BLOCK = 1 << 20


def applies(kind: str, user: User | None) -> bool:
    """Whether an unchanged re-import may be recognised for this kind and user (who must see
    every resident, as the operator at the command line does)."""
    return kind in KINDS and (user is None or sees_all_records(user))


def file_sha256(stream: BinaryIO) -> str | None:
    """The sha256 of the rest of the stream (as CsvSource hashes it), the stream left where it
    was; None when it cannot be read twice."""
    try:
        if not stream.seekable():
            return None
        start = stream.tell()
    except (AttributeError, OSError, ValueError):
        return None
    digest = hashlib.sha256()
    while block := stream.read(_BLOCK):
        digest.update(block)
    stream.seek(start)
    return digest.hexdigest()


def marker() -> str:
    """The current data change marker, with what else decides a row's validity."""
    return _qualified(data_change_marker())


def _qualified(data: str) -> str:
    return f"r{RULES_VERSION}:k{settings.HEALTHWATCH_PSEUDONYM_KEY_VERSION}:{data}"


def earlier_import(kind: str, sha256: str, current: str) -> ImportRecord | None:
    """The latest stored import of this very file whose marker is still `current`."""
    return (
        ImportRecord.objects.filter(kind=kind, sha256=sha256, dry_run=False, data_marker=current)
        .order_by("-pk")
        .first()
    )


def marker_after_own_writes(before: str, wrote: bool) -> str:
    """Inside the import's transaction, after its writes: the marker to keep on its record
    (what data_change_marker will say once it commits), or "" when someone else wrote since
    `before` was read (or that cannot be told apart here)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # xmin is the writing transaction's id (32 bits); a write of this import inside a
            # savepoint has another one and counts as someone else's (no marker: safe).
            cursor.execute(
                "WITH mine AS (SELECT mod(txid_current(), 4294967296)::text AS xid) "
                "SELECT count(*) FILTER (WHERE d.xmin::text <> mine.xid), "
                "max(d.id) FILTER (WHERE d.xmin::text <> mine.xid), count(*), max(d.id) "
                "FROM surveys_datachange d, mine"
            )
            others, others_latest, count, latest = cursor.fetchone()
        if _qualified(f"{others}:{others_latest or 0}") != before:
            return ""
        return _qualified(f"{count}:{latest or 0}")
    if wrote:
        return ""
    now = marker()
    return now if now == before else ""
