"""Helpers for tests that need two transactions at once: threads, each with its own
Django connection (Django's connections are per thread), and bounded waits.

Every wait here has a timeout, and :func:`guard` caps how long the database lets a
session wait for a lock, so a test that goes wrong fails instead of hanging CI.
"""

import threading

from django.db import connections

from tests.twophase_helpers import raw_connection

__all__ = ["in_threads", "guard", "count", "names", "terminate_backend"]


def in_threads(*workers, timeout=10):
    """Run each ``worker()`` in a thread of its own; their results, in order.

    A worker that raises gives its exception as its result. Each thread closes its
    Django connections when it ends, so the test database can be dropped. A thread
    still running after ``timeout`` seconds fails the test.
    """
    results = [None] * len(workers)

    def run(index, worker):
        try:
            results[index] = worker()
        except BaseException as exc:  # handed to the test, which decides
            results[index] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(i, worker), daemon=True)
        for i, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), f"a worker ran over {timeout}s"
    return results


def guard(session, lock_timeout="5s"):
    """Begin ``session``'s transaction with a cap on lock waits (a hung test fails)."""
    session.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")


def _query(sql, params=(), alias="default"):
    raw = raw_connection(alias)
    try:
        with raw.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        raw.close()


def count(model, alias="default", **where):
    """Rows of ``model`` (``column=value`` filters), read on a connection of its own."""
    table = model._meta.db_table
    clause = " AND ".join(f"{column} = %s" for column in where) or "TRUE"
    return _query(f"SELECT count(*) FROM {table} WHERE {clause}", list(where.values()), alias)[0][0]


def names(model, alias="default"):
    """The ``name`` column of ``model``'s rows by primary key, read on its own connection."""
    sql = f"SELECT name FROM {model._meta.db_table} ORDER BY {model._meta.pk.column}"
    return [row[0] for row in _query(sql, (), alias)]


def terminate_backend(pid, alias="default"):
    """Kill the server process of another connection and wait (5 s at most) until it is gone."""
    assert _query("SELECT pg_terminate_backend(%s, 5000)", [pid], alias) == [(True,)]
