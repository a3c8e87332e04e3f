"""The benchmark database: its server, Django, SQLAlchemy and psycopg2 on it.

``prepare()`` makes sure ``DATABASE_URL`` names a server (starting a throwaway one with
``tests/pgserver.py`` when it is unset), creates a fresh database of its own on it,
sets Django up with ``settings.bench`` and builds the tables with ``migrate
--run-syncdb``. :class:`Env` then holds the three ways in: Django's ``default``
connection (sessionorm and the Django contenders), a SQLAlchemy engine (psycopg2) and a
raw psycopg2 connection, plus an autocommit ``admin`` connection for truncating,
seeding and checking.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Iterator

import psycopg2
import psycopg2.extensions
from django.db.backends.signals import connection_created

TABLES = ("bench_author", "bench_book", "bench_review", "bench_tag")


def prepare(database: str) -> None:
    """Point Django at a new, empty database ``database`` and build the tables."""
    from tests.pgserver import ensure_database_url

    ensure_database_url()
    os.environ["SESSIONORM_BENCH_DATABASE"] = database
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings.bench"
    import django

    django.setup()
    _recreate(database)

    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def drop(database: str) -> None:
    """Drop the benchmark database (every connection to it must be closed)."""
    from django.db import connections

    connections.close_all()
    with _server_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')


def _recreate(database: str) -> None:
    with _server_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')
        cursor.execute(f'CREATE DATABASE "{database}"')


@contextlib.contextmanager
def _server_connection():
    """An autocommit connection to the database ``DATABASE_URL`` names (to create ours)."""
    from django.conf import settings

    params = _params(settings.DATABASES["default"])
    params["dbname"] = _url_database()
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def _url_database() -> str:
    import dj_database_url

    return dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"] or "postgres"


def _params(db: dict) -> dict:
    params = {"dbname": db["NAME"], "user": db.get("USER") or None}
    for key, name in (("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if db.get(key):
            params[name] = db[key]
    return params


class StatementCounter:
    """Counts the statements every connection sends while ``enabled``."""

    def __init__(self):
        self.enabled = False
        self.count = 0


class CountingCursor(psycopg2.extensions.cursor):
    """A psycopg2 cursor that reports each statement it sends to ``counter``.

    Counting at the driver covers every path to the server (Django's cursor wrapper,
    SQLAlchemy's, ``COPY`` through the raw cursor), and counts an ``executemany`` of
    n parameter sets as n statements, which is what psycopg2 sends.
    """

    counter: StatementCounter | None = None

    def _count(self, n: int = 1) -> None:
        if self.counter is not None and self.counter.enabled:
            self.counter.count += n

    def execute(self, query, vars=None):
        self._count()
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        vars_list = list(vars_list)
        self._count(len(vars_list))
        return super().executemany(query, vars_list)

    def copy_expert(self, sql, file, size=8192):
        self._count()
        return super().copy_expert(sql, file, size)

    def copy_from(self, *args, **kwargs):
        self._count()
        return super().copy_from(*args, **kwargs)

    def copy_to(self, *args, **kwargs):
        self._count()
        return super().copy_to(*args, **kwargs)


class Env:
    """The connections a benchmark case works through (see the module docstring)."""

    def __init__(self):
        from django.conf import settings
        from django.db import connections

        self.alias = "default"
        self.django = connections[self.alias]
        self.settings = settings.DATABASES[self.alias]
        self.counter = StatementCounter()
        self.admin = psycopg2.connect(**_params(self.settings))
        self.admin.autocommit = True
        with self.admin.cursor() as cursor:
            # A case that left a transaction open would make TRUNCATE wait for ever.
            cursor.execute("SET lock_timeout = '20s'")
        # Every connection a contender uses makes its cursors count statements.
        self.cursor_class = type("Cursor", (CountingCursor,), {"counter": self.counter})
        self.raw = psycopg2.connect(**_params(self.settings), cursor_factory=self.cursor_class)
        connection_created.connect(self._counting_django_cursors, weak=False)
        if self.django.connection is not None:
            self.django.connection.cursor_factory = self.cursor_class
        self._engine = None

    def _counting_django_cursors(self, sender, connection, **kwargs) -> None:
        if connection.alias == self.alias and hasattr(connection.connection, "cursor_factory"):
            connection.connection.cursor_factory = self.cursor_class

    @property
    def engine(self):
        """A SQLAlchemy engine (psycopg2) on the benchmark database, made on first use."""
        if self._engine is None:
            import sqlalchemy
            from sqlalchemy.engine import URL

            db = self.settings
            host = db.get("HOST") or None
            query = {}
            if host and host.startswith("/"):  # a unix socket directory
                host, query = None, {"host": db["HOST"]}
            url = URL.create(
                "postgresql+psycopg2",
                username=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=host,
                port=int(db["PORT"]) if db.get("PORT") else None,
                database=db["NAME"],
                query=query,
            )
            self._engine = sqlalchemy.create_engine(
                url, connect_args={"cursor_factory": self.cursor_class}
            )
            with self._engine.connect():  # first-connect introspection, outside any count
                pass
        return self._engine

    def close(self) -> None:
        self.raw.close()
        self.admin.close()
        if self._engine is not None:
            self._engine.dispose()

    @contextlib.contextmanager
    def counting(self, enabled: bool = True) -> Iterator[StatementCounter]:
        """Count the statements sent inside the block (Django, SQLAlchemy and psycopg2)."""
        counter = self.counter
        counter.count = 0
        counter.enabled = enabled
        try:
            yield counter
        finally:
            counter.enabled = False

    # -- state between runs --------------------------------------------------------------

    def truncate(self) -> None:
        self.sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")

    def sql(self, statement: str, params=None) -> list[tuple]:
        """Run one statement on the admin connection; its rows (or [])."""
        with self.admin.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def copy_rows(self, table: str, columns: Iterable[str], rows: Iterable[tuple]) -> None:
        """Load ``rows`` (with their primary keys) and move the key sequence past them."""
        columns = list(columns)
        buffer = io.StringIO()
        buffer.writelines(copy_line(row) for row in rows)
        buffer.seek(0)
        with self.admin.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce(max(id), 0) + 1, false) FROM {table}"
            )

    def count(self, table: str) -> int:
        return self.sql(f"SELECT count(*) FROM {table}")[0][0]

    def rows(self, table: str, columns: str) -> dict[int, tuple]:
        """``{id: (columns...)}`` of every row of ``table``."""
        return {row[0]: row[1:] for row in self.sql(f"SELECT id, {columns} FROM {table}")}

    def server_version(self) -> str:
        return self.sql("SHOW server_version")[0][0]


def copy_line(row: tuple) -> str:
    """One line of COPY's text format."""
    return "\t".join(_copy_value(value) for value in row) + "\n"


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text
