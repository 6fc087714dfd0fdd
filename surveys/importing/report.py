"""What an import says back: counts and every problem, by row and column."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.utils.translation import gettext, ngettext

#: At most this many errors are kept (a wrong file can have one per row); the count of all
#: errors is always exact (ImportReport.error_count) and the last kept error says how many more.
MAX_ERRORS = 100_000
#: At most this many errors go into a web page or an API answer (a 10⁶-column header would
#: otherwise make a body of megabytes); the last listed error counts the rest.
HTTP_ERROR_LIMIT = 1000


@dataclass(frozen=True)
class RowError:
    """One problem of one cell. `row` counts file rows with the header as row 1.

    `value` is the cell as given, except for study IDs, which are never echoed.
    """

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return gettext("row %(row)s, column %(column)s, value '%(value)s': %(reason)s") % {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    import_record_id: int | None = None
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def for_http(self, limit: int = HTTP_ERROR_LIMIT) -> ImportReport:
        """The report with at most `limit` errors listed, then one line counting the rest."""
        if len(self.errors) <= limit:
            return self
        listed = self.errors[:limit]
        rest = self.error_count - len(listed)
        note = RowError(
            0,
            "",
            "",
            not_listed(rest, self.error_count),
        )
        return replace(self, errors=[*listed, note])

    def summary(self) -> str:
        """One line for the person who ran the import, in the active language (`kind` is the
        code they typed)."""
        values = {
            "kind": self.kind,
            "rows": self.rows,
            "errors": self.error_count,
            "created": self.created,
            "unchanged": self.unchanged,
        }
        if not self.ok:
            return (
                ngettext(
                    "%(kind)s: %(errors)s error (rows read: %(rows)s); nothing was imported.",
                    "%(kind)s: %(errors)s errors (rows read: %(rows)s); nothing was imported.",
                    self.error_count,
                )
                % values
            )
        if not self.dry_run and self.created == 0:
            return (
                ngettext(
                    "%(kind)s: %(rows)s row read, nothing new: every row is already stored "
                    "(unchanged: %(unchanged)s).",
                    "%(kind)s: %(rows)s rows read, nothing new: every row is already stored "
                    "(unchanged: %(unchanged)s).",
                    self.rows,
                )
                % values
            )
        if self.dry_run:
            return (
                ngettext(
                    "%(kind)s: %(rows)s row read; new: %(created)s, unchanged: %(unchanged)s "
                    "(dry run, nothing written).",
                    "%(kind)s: %(rows)s rows read; new: %(created)s, unchanged: %(unchanged)s "
                    "(dry run, nothing written).",
                    self.rows,
                )
                % values
            )
        return (
            ngettext(
                "%(kind)s: %(rows)s row read; new: %(created)s, unchanged: %(unchanged)s "
                "(written).",
                "%(kind)s: %(rows)s rows read; new: %(created)s, unchanged: %(unchanged)s "
                "(written).",
                self.rows,
            )
            % values
        )


def not_listed(rest: int, total: int) -> str:
    """The last listed error's reason when `rest` of `total` errors are left out."""
    return ngettext(
        "%(rest)s more error is not listed (%(total)s in all); fix the ones above and try again.",
        "%(rest)s more errors are not listed (%(total)s in all); fix the ones above and try again.",
        rest,
    ) % {"rest": rest, "total": total}


class ErrorSink:
    """Collects RowErrors up to MAX_ERRORS and counts them all."""

    def __init__(self, limit: int = MAX_ERRORS) -> None:
        self.errors: list[RowError] = []
        self.count = 0
        self.limit = limit

    def add(self, row: int, column: str, value: str, reason: str) -> None:
        self.count += 1
        if len(self.errors) < self.limit:
            self.errors.append(RowError(row, column, value, reason))

    def __bool__(self) -> bool:
        return self.count > 0

    def finish(self) -> list[RowError]:
        errors = list(self.errors)
        if self.count > len(errors):
            errors.append(
                RowError(
                    0,
                    "",
                    "",
                    not_listed(self.count - len(errors), self.count),
                )
            )
        return errors
