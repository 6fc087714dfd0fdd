"""Bulk CSV import of the seven kinds of data contract v1 (docs/data-formats.md).

    report = import_csv(kind="observations", stream=f, file_name="obs.csv", user=request.user)

Streaming and all-or-nothing: the file is read once, validated in chunks with one query per
chunk for each lookup, and written in one transaction with bulk inserts only when no row has an
error. See surveys.importing.core.import_csv.
"""

from surveys.importing.core import COLUMNS, KINDS, import_csv, may_import
from surveys.importing.report import ImportReport, RowError

__all__ = ["COLUMNS", "KINDS", "ImportReport", "RowError", "import_csv", "may_import"]
