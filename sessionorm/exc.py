"""The exceptions sessionorm raises.

Every error names what happened, the object and field involved, and what to do
next. All of them subclass :class:`SessionORMError`, so ``except SessionORMError``
catches anything the library itself decided to refuse.
"""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError

__all__ = [
    "SessionORMError",
    "InvalidRequestError",
    "UnmappedInstanceError",
    "DetachedInstanceError",
    "ObjectDeletedError",
    "ResourceClosedError",
    "FlushError",
    "StaleDataError",
    "PendingRollbackError",
    "DatabaseFaultError",
    "ConnectionLostError",
    "StatementTimeoutError",
    "DeadlockError",
    "SerializationError",
    "describe",
]


def describe(obj) -> str:
    """``Book(pk=3)``: how error messages name a model instance."""
    cls = type(obj)
    pk = None
    if hasattr(cls, "_meta"):
        data, key_fields = obj.__dict__, cls._meta.pk_fields
        if len(key_fields) > 1:  # CompositePrimaryKey: Enrollment(pk=(1, 2))
            pk = tuple(data.get(f.attname) for f in key_fields)
        else:
            pk = data.get(cls._meta.pk.attname)
    return f"{cls.__name__}(pk={pk!r})"


class SessionORMError(Exception):
    """Base class of every error raised by sessionorm."""


class InvalidRequestError(SessionORMError):
    """The session was asked to do something that cannot be done in its state."""


class UnmappedInstanceError(InvalidRequestError):
    """The object is not a Django model instance, so a Session cannot track it."""


class DetachedInstanceError(SessionORMError):
    """An attribute needs loading but the object belongs to no session."""


class ObjectDeletedError(InvalidRequestError):
    """An expired object was reloaded and its row no longer exists."""


class ResourceClosedError(InvalidRequestError):
    """The transaction or session has been closed and cannot be used again."""


class FlushError(SessionORMError):
    """The flush plan cannot be built or executed; nothing was written."""


class StaleDataError(FlushError, DatabaseError):
    """An UPDATE or DELETE matched fewer rows than the session expected.

    Either another transaction changed the row's version or removed the row since
    this session loaded it. Reload the object (``session.refresh(obj)``) and apply
    the change again.
    """


class PendingRollbackError(InvalidRequestError):
    """A flush failed; the session refuses work until ``rollback()`` is called."""


# -- database faults ---------------------------------------------------------------
# Errors from the database that end the session's transaction, translated where
# they leave flush(), execute()/scalar() and commit() (sessionorm/dberrors.py).
# Each keeps the Django class of the error it replaces, so `except OperationalError`
# still catches it; the original is its __cause__ (and .orig).


class DatabaseFaultError(SessionORMError, OperationalError):
    """The database ended the session's transaction; it has been rolled back.

    Call ``session.rollback()``; the session is usable again after it. Attributes:
    ``orig`` (Django's error), ``sqlstate`` (PostgreSQL's code or None),
    ``operation`` (``"flush"``, ``"execute"``, ``"commit"``, ``"prepare"``) and
    ``retryable`` (whether running the unit of work again can succeed as it is).
    """

    retryable = False
    orig: BaseException | None = None
    sqlstate: str | None = None
    operation: str | None = None


class ConnectionLostError(DatabaseFaultError, InterfaceError):
    """The connection to the database broke (server restart, ``pg_terminate_backend``,
    network). Also an ``InterfaceError``, the class Django raises for a closed one.

    The server rolled the transaction back unless the loss happened during commit, in
    which case it may have committed: check before running the work again.
    """


class StatementTimeoutError(DatabaseFaultError):
    """A statement ran longer than ``statement_timeout`` or waited longer than
    ``lock_timeout`` for a row lock (SQLSTATE 57014, 55P03)."""


class DeadlockError(DatabaseFaultError):
    """The database broke a deadlock between two transactions by aborting this one
    (SQLSTATE 40P01). Retry the unit of work: ``sessionorm.retry.run_in_transaction``."""

    retryable = True


class SerializationError(DatabaseFaultError):
    """A ``SERIALIZABLE`` or ``REPEATABLE READ`` transaction conflicted with a concurrent
    one (SQLSTATE 40001). Retry the unit of work: ``sessionorm.retry.run_in_transaction``."""

    retryable = True
