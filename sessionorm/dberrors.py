"""Which database errors end the session's transaction, and what the session raises.

Errors leaving ``flush()``, ``execute()``/``scalar()`` and ``commit()`` pass through
:func:`translate`. Those that mean the database has ended the transaction become a
:class:`~sessionorm.exc.DatabaseFaultError` subclass raised ``from`` the original;
every other error is left as it is. PostgreSQL names the fault in its SQLSTATE
(psycopg2 ``pgcode``, psycopg 3 ``sqlstate``, on the driver's error that Django's
error wraps); a broken connection often has none, so the driver connection's
``closed`` flag decides. This is machinery: catch the classes in ``sessionorm.exc``.
"""

from __future__ import annotations

from django.db import Error, InterfaceError, OperationalError, connections

from sessionorm.exc import (
    ConnectionLostError,
    DatabaseFaultError,
    DeadlockError,
    SerializationError,
    StatementTimeoutError,
)

__all__ = ["sqlstate", "drivers", "translate"]

# SQLSTATE -> class. Class 08 (connection exception) and 57P01-57P03 (the server is
# shutting down or restarting) are the lost connections.
_BY_SQLSTATE = {
    "40001": SerializationError,  # serialization_failure
    "40P01": DeadlockError,  # deadlock_detected
    "57014": StatementTimeoutError,  # query_canceled: statement_timeout, pg_cancel_backend
    "55P03": StatementTimeoutError,  # lock_not_available: lock_timeout, NOWAIT
    "57P01": ConnectionLostError,  # admin_shutdown: pg_terminate_backend, smart shutdown
    "57P02": ConnectionLostError,  # crash_shutdown
    "57P03": ConnectionLostError,  # cannot_connect_now
}

# What happened, and what to do: the two halves of each message.
_WHAT = {
    ConnectionLostError: "the connection to the database was lost",
    StatementTimeoutError: (
        "the database canceled a statement that ran longer than statement_timeout, "
        "waited longer than lock_timeout for a lock held by another transaction, or was "
        "canceled on request"
    ),
    DeadlockError: (
        "the database found a deadlock between this transaction and another one and "
        "aborted this one"
    ),
    SerializationError: (
        "the database could not serialize this transaction with a concurrent one "
        "(SERIALIZABLE or REPEATABLE READ isolation) and aborted it"
    ),
}
_RETRY = (
    "Call session.rollback() and run the unit of work again: "
    "sessionorm.retry.run_in_transaction(fn) does both, a bounded number of times."
)
_TODO = {
    ConnectionLostError: (
        "The server rolled the transaction back. Call session.rollback(); the next use "
        "of the session opens a new connection."
    ),
    StatementTimeoutError: (
        "The transaction was rolled back; call session.rollback(). Make the statement "
        "faster, raise the timeout, or find what holds the lock (pg_stat_activity)."
    ),
    DeadlockError: _RETRY + " Taking row locks in the same order everywhere avoids it.",
    SerializationError: _RETRY,
}
_IN_DOUBT = (
    "It broke during {operation}, so the database may have committed the transaction "
    "(or, with twophase=True, left it prepared: `manage.py sessionorm_recover` lists "
    "it): check before running the work again. Call session.rollback(); the next use "
    "of the session opens a new connection."
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error or of the driver error it wraps, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
        if isinstance(code, str):
            return code
        exc = exc.__cause__
    return None


def drivers(aliases) -> dict:
    """``{alias: driver connection}`` now: to tell later whether those connections broke.

    Needed where Django may replace a broken connection before the error reaches the
    session: a failed COMMIT makes Django roll back, drop the dead connection and
    open a new one for autocommit, all before it re-raises.
    """
    return {alias: connections[alias].connection for alias in aliases}


def _lost(drivers: dict) -> list[str]:
    """The aliases whose driver connection is closed (psycopg sets ``closed``) or gone."""
    return [alias for alias, raw in drivers.items() if raw is None or getattr(raw, "closed", False)]


def translate(
    exc: BaseException, operation: str, aliases=(), before: dict | None = None
) -> DatabaseFaultError | None:
    """The sessionorm error for ``exc``, or None when ``exc`` is not a fault.

    ``aliases`` are the databases the session's transaction uses; ``before`` is
    :func:`drivers` of them taken before the operation, when Django may have
    replaced a broken connection meanwhile. A connection found broken is closed in
    Django too (inside an atomic block Django finishes that when the block exits),
    so its next use connects again.
    """
    if isinstance(exc, DatabaseFaultError):
        return exc  # translated already (a flush inside commit)
    if not isinstance(exc, Error):
        return None
    code = sqlstate(exc)
    cls = _BY_SQLSTATE.get(code) or (ConnectionLostError if (code or "")[:2] == "08" else None)
    before = before if before is not None else drivers(dict.fromkeys(aliases))
    lost = _lost(before) if isinstance(exc, (OperationalError, InterfaceError)) else []
    if lost:
        cls = ConnectionLostError
        for alias in lost:
            if connections[alias].connection is before[alias]:
                connections[alias].close()
    if cls is None:
        return None
    named = lost or (list(before) if len(before) == 1 else [])
    where = f" on database {', '.join(map(repr, named))}" if named else ""
    driver_error = exc.__cause__ or exc  # the driver's error, which Django's wraps
    detail = (str(driver_error).strip() or "no message").splitlines()[0]
    message = f"During {operation}{where}, {_WHAT[cls]}"
    message += f" (SQLSTATE {code}). " if code else ". "
    if cls is ConnectionLostError and operation in ("commit", "prepare"):
        message += _IN_DOUBT.format(operation=operation)
    else:
        message += _TODO[cls]
    message += f" Original error: {type(driver_error).__name__}: {detail}"
    fault = cls(message)
    fault.orig, fault.sqlstate, fault.operation = exc, code, operation
    return fault
