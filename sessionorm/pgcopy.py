"""The COPY path: large INSERT batches on PostgreSQL streamed with ``COPY``.

A multi-row INSERT makes the server parse and plan one statement of thousands of
parameters; ``COPY ... FROM STDIN`` streams rows in a compact text format and is
several times faster. It cannot return generated keys, so the keys are reserved
first with ``nextval()`` over ``generate_series()`` and written with the rows:
the flush then knows every key before the statement runs, exactly as if the
INSERT had returned them.

Every guarantee of the INSERT path holds: each field's ``pre_save(obj, add=True)``
and ``get_db_prep_save()`` produce the values, keys land on the objects (and so in
the foreign keys of dependent rows), and the flush's journal can undo them. A
batch the COPY path cannot encode exactly (a SQL expression, a database default,
a value of a type it does not know) goes through INSERT instead: :func:`encode_rows`
raises :class:`NotCopyable` before anything is sent.
"""

from __future__ import annotations

import datetime
import decimal
import io
import time
import uuid

from django.conf import settings
from django.db import models

__all__ = ["NotCopyable", "copyable", "encode_rows", "reserve_keys", "copy_rows"]


class NotCopyable(Exception):
    """This batch must take the INSERT path (raised before any SQL is sent)."""


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value) -> str:
    """One value in COPY's text format (``\\N`` is NULL)."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is bool:
        return "t" if value else "f"
    plain = _PLAIN_TEXT.get(kind)
    if plain is not None:
        return plain(value)
    if kind is datetime.datetime or kind is datetime.time:
        return value.isoformat()
    if kind is datetime.timedelta:
        return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"
    if kind is bytes or kind is bytearray or kind is memoryview:
        return "\\\\x" + bytes(value).hex()
    adapted = getattr(value, "adapted", None)
    dumps = getattr(value, "dumps", None)
    if dumps is not None and adapted is not None:  # psycopg's Json/Jsonb adapters
        return dumps(adapted).translate(_ESCAPES)
    raise NotCopyable(f"no COPY text form for {kind.__name__}")


# Plain types whose COPY text is one C-level call (_encode_column maps it over a column).
_PLAIN_TEXT = {
    int: str,
    float: str,
    decimal.Decimal: str,
    uuid.UUID: str,
    datetime.date: datetime.date.isoformat,
}


def copyable(connection, returning) -> bool:
    """True when a batch of this table may take the COPY path on ``connection``.

    Only the auto-increment key may come back from the database: other returned
    columns (``db_default``, generated columns) need INSERT ... RETURNING.
    """
    return connection.vendor == "postgresql" and all(f.primary_key for f in returning)


# Field classes whose get_db_prep_save() returns a value of this exact type
# unchanged on PostgreSQL: such values skip the call (it dominates encoding).
_UNCHANGED = {
    models.CharField: str,
    models.TextField: str,
    models.SlugField: str,
    models.EmailField: str,
    models.URLField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallAutoField: int,
    models.FloatField: float,
    models.BooleanField: bool,
    models.DateField: datetime.date,
    models.UUIDField: uuid.UUID,
}


def unchanged_type(field):
    if isinstance(field, models.ForeignKey) and type(field) is models.ForeignKey:
        return unchanged_type(field.target_field)
    return _UNCHANGED.get(type(field))


def encode_rows(objects, fields, connection) -> list[str]:
    """One COPY line per object: each field's pre_save and get_db_prep_save, as INSERT.

    Encoded a column at a time: a column whose values all have one plain type is
    converted by one C-level map (``str``, ``date.isoformat``) instead of a Python
    call per cell, which made encoding the slowest part of a large flush.
    """
    columns = [_encode_column(field, objects, connection) for field in fields]
    if len(columns) == 1:
        return columns[0]
    return ["\t".join(row) for row in zip(*columns, strict=True)]


_DATE_FIELDS = (models.DateField, models.DateTimeField, models.TimeField)


def plain_pre_save(field) -> bool:
    """True if ``field.pre_save(obj, add=True)`` only reads ``obj.<attname>``.

    Field's own pre_save does, and so do the core date and time fields without
    ``auto_now``/``auto_now_add``; the flush can then read the values itself and
    need not journal them (nothing writes them).
    """
    kind = type(field)
    if kind.pre_save is models.Field.pre_save:
        return True
    return kind in _DATE_FIELDS and not field.auto_now and not field.auto_now_add


def _column_values(field, objects) -> list:
    """The value each object's INSERT would write, before get_db_prep_save."""
    attname = field.attname
    if plain_pre_save(field):
        try:
            return [obj.__dict__[attname] for obj in objects]
        except KeyError:  # a deferred value: let the descriptor load it
            pass
    return [field.pre_save(obj, True) for obj in objects]


_SPECIAL = ("\\", "\t", "\n", "\r")


def _encode_column(field, objects, connection) -> list[str]:
    values = _column_values(field, objects)
    kinds = set(map(type, values))
    unchanged = unchanged_type(field)
    if len(kinds) == 1 and unchanged in kinds:
        if unchanged is str:
            joined = "".join(values)
            if any(special in joined for special in _SPECIAL):
                return [value.translate(_ESCAPES) for value in values]
            return values
        if unchanged in _PLAIN_TEXT:
            return list(map(_PLAIN_TEXT[unchanged], values))
    aware = type(field) is models.DateTimeField and settings.USE_TZ
    return [_encode_cell(field, value, unchanged, aware, connection) for value in values]


def _encode_cell(field, value, unchanged, aware, connection) -> str:
    kind = type(value)
    if value is None or kind is unchanged or (aware and kind is datetime.datetime and value.tzinfo):
        return _text(value)
    if hasattr(value, "resolve_expression"):
        raise NotCopyable(f"{field.attname} holds a SQL expression")
    return _text(field.get_db_prep_save(value, connection))


_sequences: dict = {}


def reserve_keys(connection, meta, count: int) -> list:
    """``count`` new values of the table's key sequence, in order."""
    cache_key = (connection.alias, meta.db_table, meta.pk.column)
    sequence = _sequences.get(cache_key)
    with connection.cursor() as cursor:
        if sequence is None:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)",
                [connection.ops.quote_name(meta.db_table), meta.pk.column],
            )
            sequence = cursor.fetchone()[0]
            if sequence is None:
                raise NotCopyable(f"{meta.db_table}.{meta.pk.column} has no sequence")
            _sequences[cache_key] = sequence
        # One array, not a row per key: psycopg2 parses it into a list in C.
        cursor.execute(
            "SELECT array_agg(key ORDER BY key) FROM "
            "(SELECT nextval(%s) AS key FROM generate_series(1, %s)) AS reserved",
            [sequence, count],
        )
        return cursor.fetchone()[0]


def copy_rows(connection, meta, fields, lines: list[str]) -> None:
    """Stream ``lines`` into the table with COPY; logged like any other query."""
    text = "\n".join(lines) + "\n"
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    sql = f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN"
    start = time.monotonic()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2
            raw.copy_expert(sql, io.StringIO(text))
        else:  # psycopg 3
            with raw.copy(sql) as copy:
                copy.write(text)
    if connection.queries_logged:
        duration = time.monotonic() - start
        connection.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})
