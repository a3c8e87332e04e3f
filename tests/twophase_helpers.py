"""Helpers for tests of two-phase commit: prepared transactions seen from outside.

A prepared transaction outlives the connection and the process that made it, so
tests that make one must remove it (``rollback_all_prepared()`` in an autouse
fixture): it holds locks that keep the test database from being flushed or dropped.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connections

__all__ = [
    "raw_connection",
    "prepared_gids",
    "prepare_foreign",
    "rollback_all_prepared",
    "crash_between_prepare_and_commit",
]


def raw_connection(alias):
    """A connection of its own (autocommit): the session's may be busy or prepared."""
    wrapper = connections[alias]
    raw = wrapper.get_new_connection(wrapper.get_connection_params())
    raw.autocommit = True
    return raw


def prepared_gids(alias="default"):
    """The gids prepared in ``alias``'s database (not the server's other databases)."""
    raw = raw_connection(alias)
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
            return [row[0] for row in cursor.fetchall()]
    finally:
        raw.close()


def prepare_foreign(alias, gid, sql="SELECT 1"):
    """Leave a prepared transaction that sessionorm did not make (another XA manager's)."""
    raw = raw_connection(alias)
    try:
        raw.autocommit = False
        with raw.cursor() as cursor:
            cursor.execute(sql)
            cursor.execute("PREPARE TRANSACTION %s", [gid])
    finally:  # the transaction stays prepared on the server after the connection closes
        raw.close()


def rollback_all_prepared(aliases=("default", "other")):
    """Roll back whatever is left prepared in the test databases."""
    for alias in aliases:
        gids = prepared_gids(alias)
        if not gids:
            continue
        raw = raw_connection(alias)
        try:
            with raw.cursor() as cursor:
                for gid in gids:
                    cursor.execute("ROLLBACK PREPARED %s", [gid])
        finally:
            raw.close()


CRASH_AFTER_PREPARE = """
import json, os, django
django.setup()
from django.db import connections
for alias in ("default", "other"):
    connections[alias].settings_dict["NAME"] = os.environ["TEST_DB_" + alias]
from sessionorm import Session
from tests.testapp.models import Author, Publisher
name = os.environ["CRASH_NAME"]
session = Session(twophase=True, binds={Publisher: "other"})
session.add_all([Publisher(name=name), Author(name=name)])
session.prepare()
print(json.dumps(session.get_transaction()._xids))
os._exit(0)  # the process dies between prepare and commit
"""


def crash_between_prepare_and_commit(name="in doubt") -> dict:
    """Run a session in another process that dies after PREPARE; its transaction ids.

    The session adds ``Author(name=name)`` (``default``) and ``Publisher(name=name)``
    (``other``) and prepares both; the result is ``{"default": gid, "other": gid}``.
    Costs a Python start-up (about a second).
    """
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "CRASH_NAME": name}
    for alias in ("default", "other"):
        env["TEST_DB_" + alias] = connections[alias].settings_dict["NAME"]
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_PREPARE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
