"""The shape every kind's importer has: validate chunks, check the whole file, write in bulk."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.utils.translation import gettext, gettext_noop

from surveys.importing.cells import Row
from surveys.importing.report import ErrorSink
from surveys.models import ImportRecord

DIFFERS = gettext_noop(
    "differs from the stored value; corrections go through the edit form with a reason."
)
#: bulk_create batch size (Django lowers it to what the database accepts, e.g. on SQLite).
BATCH_SIZE = 2000


def same(stored: Any, new: Any) -> bool:
    """Equal, with floats compared to 1e-9 relative (unit conversions round-trip)."""
    if isinstance(stored, float) and isinstance(new, float):
        return math.isclose(stored, new, rel_tol=1e-9, abs_tol=1e-12)
    return bool(stored == new)


class KindImporter:
    """Base of the seven importers.

    Subclasses set `kind` and `columns`, and implement `validate_chunk` (per-row rules with one
    query per chunk for the lookups), optionally `finish` (checks over the whole file), and
    `write` (bulk inserts, called inside the import's transaction).
    """

    kind: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    chunk_size: ClassVar[int] = 5000

    def __init__(
        self, *, user: User | None, sink: ErrorSink, today: dt.date, file_name: str
    ) -> None:
        self.user = user
        self.sink = sink
        self.today = today
        self.file_name = file_name
        self.unchanged = 0
        self._seen: dict[Any, int] = {}

    @classmethod
    def allowed(cls, user: User) -> bool:
        raise NotImplementedError

    @property
    def pending_count(self) -> int:
        raise NotImplementedError

    def validate_cells(self, chunk: list[tuple[int, list[str]]]) -> None:
        """Validate (row number, cells in contract column order) pairs; see validate_chunk."""
        self.validate_chunk(
            [
                Row(number, dict(zip(self.columns, cells, strict=True)), self.sink)
                for number, cells in chunk
            ]
        )

    def validate_chunk(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Checks that need the whole file (after the last chunk)."""

    def write(self, record: ImportRecord) -> None:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------

    def duplicate(self, row: Row, key: Any, columns: tuple[str, ...]) -> bool:
        """True (and an error) when `key` was already on an earlier row of this file."""
        first = self._seen.setdefault(key, row.rownum)
        if first == row.rownum:
            return False
        names = [gettext("study ID") if c == "study_id" else c for c in columns]
        if len(names) == 1:
            message = gettext(
                "duplicate key: the same %(what)s is also on row %(row)s; "
                "each key may appear once in a file."
            ) % {"what": names[0], "row": first}
        else:
            message = gettext(
                "duplicate key: the same %(what)s and %(last)s are also on row %(row)s; "
                "each key may appear once in a file."
            ) % {"what": ", ".join(names[:-1]), "last": names[-1], "row": first}
        row.fail(columns[0], message)
        return True

    def compare(
        self,
        row: Row,
        stored: Mapping[str, Any],
        new: Mapping[str, Any],
        columns: Mapping[str, str],
    ) -> None:
        """Count the row unchanged, or report each field that differs from what is stored.

        `columns` maps a field name to the CSV column it came from.
        """
        differing = [f for f in new if not same(stored[f], new[f])]
        if not differing:
            self.unchanged += 1
            return
        for column in dict.fromkeys(columns[f] for f in differing):
            row.fail(column, gettext(DIFFERS))

    def history_reason(self, record: ImportRecord) -> str:
        return f"CSV import #{record.pk} ({record.kind}, {record.file_name})"[:100]


def batches(items: list[Any], size: int = BATCH_SIZE) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
