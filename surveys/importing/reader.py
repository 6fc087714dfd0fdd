"""Streaming CSV reading: bytes in, (row number, cells) out, never the whole file in memory.

The file is read in blocks, hashed (SHA-256, for the ImportRecord) as it goes, split into
lines on b"\\n" (so CRLF and LF both work), decoded strictly as UTF-8 line by line — which lets
a bad byte be reported with its byte offset and line — and parsed with the csv module (quoted
fields, embedded commas, quotes and newlines). A UTF-8 BOM is dropped. Blank rows (no cells, or
only empty cells, e.g. trailing blank lines) are skipped but still counted, so row numbers are
those a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from django.utils.translation import gettext, ngettext

from surveys.importing.report import ErrorSink

BLOCK_SIZE = 1 << 16
UTF8_BOM = b"\xef\xbb\xbf"


class NotUtf8(Exception):
    def __init__(self, offset: int, line: int, byte: int) -> None:
        super().__init__(f"byte 0x{byte:02X} at byte offset {offset} (line {line})")
        self.offset, self.line, self.byte = offset, line, byte


class CsvSource:
    """One CSV file being read. Iterate `rows()` once; `sha256` is final when it is exhausted."""

    def __init__(self, stream: BinaryIO, columns: tuple[str, ...], sink: ErrorSink) -> None:
        self.stream = stream
        self.columns = columns
        self.sink = sink
        self._hash = hashlib.sha256()
        self.index: dict[str, int] = {}
        self.data_rows = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def drain(self) -> None:
        """Read (and hash) whatever is left of the stream."""
        while block := self.stream.read(BLOCK_SIZE):
            self._hash.update(block)

    def _lines(self) -> Iterator[str]:
        offset = 0
        line_no = 0
        pending = b""
        first = True
        while True:
            block = self.stream.read(BLOCK_SIZE)
            if block:
                self._hash.update(block)
                pending += block
                if first and len(pending) < 3 and UTF8_BOM.startswith(pending):
                    continue  # not sure yet whether this is a BOM
                if first:
                    first = False
                    if pending.startswith(UTF8_BOM):
                        pending = pending[3:]
                        offset = 3
                *complete, pending = pending.split(b"\n")
                raw_lines = [line + b"\n" for line in complete]
            else:
                raw_lines = [pending] if pending else []
                pending = b""
            try:
                # the whole block at once (one decode, not one per line) …
                text = b"".join(raw_lines).decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                lines = text.splitlines(keepends=True)
                if len(lines) == len(raw_lines):  # no other line breaks (\r, \x85, …) inside
                    line_no += len(raw_lines)
                    offset += sum(map(len, raw_lines))
                    yield from lines
                    if not block:
                        return
                    continue
            for raw in raw_lines:  # … or line by line, to locate a bad byte
                line_no += 1
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise NotUtf8(offset + error.start, line_no, raw[error.start]) from None
                offset += len(raw)
            if not block:
                return

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows as (row number, cells in contract column order); header problems and
        broken files go to the sink (then nothing is yielded after them)."""
        reader = csv.reader(self._lines(), strict=True)
        record = 0
        try:
            for cells in reader:
                record += 1
                if record == 1:
                    if not self._header(cells):
                        return
                    positions = [self.index[c] for c in self.columns]
                    in_order = positions == list(range(len(self.header)))
                    continue
                if not (cells and cells[0].strip()) and not any(c.strip() for c in cells):
                    continue  # blank row (e.g. trailing blank lines)
                self.data_rows += 1
                if len(cells) != len(self.header):
                    self.sink.add(
                        record,
                        "",
                        "",
                        ngettext(
                            "this row has %(cells)s cell but the header has %(header)s; "
                            "check for a missing or extra comma.",
                            "this row has %(cells)s cells but the header has %(header)s; "
                            "check for a missing or extra comma.",
                            len(cells),
                        )
                        % {"cells": len(cells), "header": len(self.header)},
                    )
                    continue
                yield record, cells if in_order else [cells[i] for i in positions]
        except NotUtf8 as error:
            utf16 = error.offset < 2 and error.byte in (0xFF, 0xFE)
            where = {"byte": f"0x{error.byte:02X}", "offset": error.offset, "line": error.line}
            if utf16:
                message = gettext(
                    "the file is not UTF-8 text (it looks like UTF-16): byte %(byte)s at byte "
                    "offset %(offset)s (line %(line)s); save it as UTF-8 (in a spreadsheet: "
                    "'CSV UTF-8') and import it again."
                )
            else:
                message = gettext(
                    "the file is not UTF-8 text: byte %(byte)s at byte offset %(offset)s "
                    "(line %(line)s); save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and "
                    "import it again."
                )
            self.sink.add(record + 1, "", "", message % where)
            return
        except csv.Error as error:
            self.sink.add(
                record + 1,
                "",
                "",
                gettext("the file is not valid CSV: %(error)s.") % {"error": error},
            )
            return
        if record == 0:
            self.sink.add(
                1,
                "",
                "",
                gettext("the file is empty; the first row must name the columns: %(columns)s.")
                % {"columns": ", ".join(self.columns)},
            )

    def _header(self, cells: list[str]) -> bool:
        names = [cell.strip().lower() for cell in cells]
        self.header = names
        ok = True
        seen: set[str] = set()
        for position, name in enumerate(names):
            if name in seen:
                self.sink.add(
                    1,
                    name,
                    cells[position],
                    gettext("column '%(column)s' is named twice.") % {"column": name},
                )
                ok = False
            seen.add(name)
            if name not in self.columns:
                shown = (
                    name
                    if name
                    else gettext("(empty name, column %(position)s)") % {"position": position + 1}
                )
                self.sink.add(
                    1,
                    shown,
                    cells[position],
                    gettext("unknown column '%(column)s'; the columns are: %(columns)s.")
                    % {"column": shown, "columns": ", ".join(self.columns)},
                )
                ok = False
            else:
                self.index.setdefault(name, position)
        for name in self.columns:
            if name not in seen:
                self.sink.add(
                    1, name, "", gettext("missing column '%(column)s'.") % {"column": name}
                )
                ok = False
        return ok
