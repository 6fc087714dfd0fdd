"""Multi-row INSERT … RETURNING id without building model instances.

It is the statement Django's bulk_create emits (and, like bulk_create, it relies on the rows
coming back in the order of VALUES), minus the per-object ORM work that dominates a
million-row import. Used for observations only; values must already be database-ready
(ints, floats, bools, str, None). Falls back to bulk_create where RETURNING is unavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router

ROWS_PER_STATEMENT = 1000


def insert_returning_ids(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    if not rows:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    if not connection.features.can_return_rows_from_bulk_insert:  # pragma: no cover
        objects = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        model._default_manager.using(alias).bulk_create(objects)
        return [o.pk for o in objects]
    if connection.vendor == "postgresql":
        return _copy_with_ids(connection, model, fields, rows)
    quote = connection.ops.quote_name
    meta = model._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)  # type: ignore[union-attr,arg-type]
    max_params = connection.features.max_query_params
    per_statement = ROWS_PER_STATEMENT
    if max_params:
        per_statement = max(1, min(per_statement, max_params // len(fields)))
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Identifiers come from the model (quoted), values are parameters.
    sql_head = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
    sql_tail = f" RETURNING {quote(meta.pk.column)}"
    ids: list[int] = []
    statement_for: dict[int, str] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            sql = statement_for.get(len(batch))
            if sql is None:
                sql = statement_for[len(batch)] = (
                    sql_head + ", ".join([one_row] * len(batch)) + sql_tail
                )
            cursor.execute(sql, [value for row in batch for value in row])
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _copy_with_ids(
    connection: Any, model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """PostgreSQL: take the ids from the table's sequence, then COPY the rows with them.

    COPY streams the rows instead of sending statements that psycopg must parse and bind (a
    1,000-row VALUES statement is too long for psycopg's query cache, so each one was parsed
    again in Python: most of the import's time). Runs inside the import's transaction.
    """
    quote = connection.ops.quote_name
    meta = model._meta
    table = quote(meta.db_table)
    columns = ", ".join(
        [quote(meta.pk.column)] + [quote(meta.get_field(name).column) for name in fields]  # type: ignore[union-attr,misc]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row((pk, *row))
    return ids
