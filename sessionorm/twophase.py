"""Two-phase commit across databases, on the DB-API's TPC methods.

With ``Session(twophase=True)`` the session begins each database's transaction
with ``tpc_begin(xid)``; ``commit()`` first prepares every database
(``PREPARE TRANSACTION`` on PostgreSQL) and commits them only when all are
prepared. A database that fails to prepare makes every one of them roll back.

A transaction id says who made it, so one found in doubt after a crash can be
traced and resolved (``manage.py sessionorm_recover``)::

    sessionorm:20261124T103000Z:web-3:4242:17:default:9f2c1a7b
               time (UTC)       host  pid session alias random
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid
from dataclasses import dataclass

from sessionorm.exc import InvalidRequestError

__all__ = ["PREFIX", "TransactionId", "make_xid", "parse_xid", "check_supported"]

PREFIX = "sessionorm"


@dataclass(frozen=True)
class TransactionId:
    """The parts of a sessionorm transaction id."""

    created: datetime.datetime
    host: str
    pid: int
    session: int
    alias: str
    gid: str


def make_xid(session_id: int, alias: str, stem: tuple[str, str] | None = None) -> str:
    """A transaction id; ``stem`` (time, random token) is shared by one transaction's
    databases, so their ids differ only by alias (see :func:`new_stem`)."""
    now, token = stem or new_stem()
    host = socket.gethostname().replace(":", "-")[:60]
    return f"{PREFIX}:{now}:{host}:{os.getpid()}:{session_id}:{alias}:{token}"


def new_stem() -> tuple[str, str]:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ"), uuid.uuid4().hex[:8]


def parse_xid(gid: str) -> TransactionId | None:
    """The parts of ``gid``, or None when sessionorm did not make it."""
    parts = gid.split(":")
    if len(parts) != 7 or parts[0] != PREFIX:
        return None
    _prefix, created, host, pid, session, alias, _random = parts
    try:
        when = datetime.datetime.strptime(created, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        return TransactionId(when, host, int(pid), int(session), alias, gid)
    except ValueError:
        return None


def check_supported(connection) -> None:
    if connection.vendor != "postgresql":
        raise InvalidRequestError(
            f"Two-phase commit needs PostgreSQL; database {connection.alias!r} is "
            f"{connection.vendor}. Use Session(twophase=False) for it, or bind the models "
            "that need it to a PostgreSQL database."
        )
