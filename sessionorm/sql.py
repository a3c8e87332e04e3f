"""Multi-row UPDATE and DELETE statements that Django's compiler does not build.

INSERTs go through Django's own ``InsertQuery`` (which already batches rows and
returns generated keys). For UPDATE, Django can only set one value for all rows,
so the flush writes a batch of rows whose changed columns are the same with one
statement that joins a ``VALUES`` list:

- PostgreSQL: ``UPDATE t SET c = v.c0 FROM (VALUES (...), ...) AS v (k0, c0)
  WHERE t.id = v.k0 RETURNING t.id``; the first row carries casts so the
  server knows each column's type;
- SQLite (3.33+): the same through a ``WITH v (k0, c0) AS (VALUES ...)`` prefix.

Values are prepared by each field's ``get_db_prep_save`` and every statement
returns the keys it touched, so a row that did not match (gone, or a newer
version) is named in :class:`~sessionorm.exc.StaleDataError`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UpdateStatement", "DeleteStatement", "supports_batched_update", "max_rows"]


def supports_batched_update(connection) -> bool:
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35, 0)
    return False


def supports_returning(connection) -> bool:
    return connection.vendor in ("postgresql", "sqlite") and supports_batched_update(connection)


def max_rows(connection, params_per_row: int, configured: int | None) -> int:
    """How many rows one statement may carry on this backend."""
    limit = connection.features.max_query_params
    rows = max(1, limit // max(1, params_per_row)) if limit else 10_000
    if configured:
        rows = min(rows, configured)
    return rows


@dataclass
class UpdateStatement:
    """``UPDATE`` of the same ``set_fields`` on many rows of one table."""

    opts: object  # the table's model _meta
    key_fields: list
    set_fields: list
    version_field: object | None  # checked against the old value when given

    def sql(self, connection, nrows: int) -> str:
        qn = connection.ops.quote_name
        table = qn(self.opts.db_table)
        names = [f"k{i}" for i in range(len(self.key_fields))]
        names += [f"c{i}" for i in range(len(self.set_fields))]
        typed = list(self.key_fields) + list(self.set_fields)
        if self.version_field is not None:
            names.append("ov")
            typed.append(self.version_field)
        assignments = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(self.set_fields))
        where = [f"{table}.{qn(f.column)} = v.k{i}" for i, f in enumerate(self.key_fields)]
        if self.version_field is not None:
            where.append(f"{table}.{qn(self.version_field.column)} = v.ov")
        returning = ", ".join(f"{table}.{qn(f.column)}" for f in self.key_fields)
        plain = "(" + ", ".join(["%s"] * len(names)) + ")"
        if connection.vendor == "postgresql":
            first = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in typed) + ")"
            values = ", ".join([first] + [plain] * (nrows - 1))
            return (
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "
                f"({', '.join(names)}) WHERE {' AND '.join(where)} RETURNING {returning}"
            )
        values = ", ".join([plain] * nrows)
        return (
            f"WITH v ({', '.join(names)}) AS (VALUES {values}) UPDATE {table} SET "
            f"{assignments} FROM v WHERE {' AND '.join(where)} RETURNING {returning}"
        )

    @property
    def params_per_row(self) -> int:
        extra = 1 if self.version_field is not None else 0
        return len(self.key_fields) + len(self.set_fields) + extra


@dataclass
class DeleteStatement:
    """``DELETE`` of many rows of one table by key (and version)."""

    opts: object
    key_fields: list
    version_field: object | None

    @property
    def columns(self) -> list:
        fields = list(self.key_fields)
        if self.version_field is not None:
            fields.append(self.version_field)
        return fields

    def sql(self, connection, nrows: int, returning: bool) -> str:
        qn = connection.ops.quote_name
        table = qn(self.opts.db_table)
        columns = [f"{table}.{qn(f.column)}" for f in self.columns]
        if len(columns) == 1:
            target = columns[0]
            values = ", ".join(["%s"] * nrows)
        else:
            target = "(" + ", ".join(columns) + ")"
            row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            values = ", ".join([row] * nrows)
        sql = f"DELETE FROM {table} WHERE {target} IN ({values})"
        if returning:
            sql += " RETURNING " + ", ".join(f"{table}.{qn(f.column)}" for f in self.key_fields)
        return sql
