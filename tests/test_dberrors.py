"""Which database errors become which sessionorm errors (no database needed).

The faults themselves, raised by a real PostgreSQL server, are in test_faults.py.
"""

import pytest
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError

from sessionorm import dberrors
from sessionorm.exc import (
    ConnectionLostError,
    DatabaseFaultError,
    DeadlockError,
    SerializationError,
    SessionORMError,
    StatementTimeoutError,
)


class DriverError(Exception):
    """Stands for a psycopg2 error: a message and a ``pgcode``."""

    def __init__(self, message, pgcode):
        super().__init__(message)
        self.pgcode = pgcode


def django_error(cls, message, pgcode):
    """What Django raises: its own class, the driver's error as ``__cause__``."""
    error = cls(message)
    error.__cause__ = DriverError(message, pgcode)
    return error


@pytest.mark.parametrize(
    ("pgcode", "expected", "retryable"),
    [
        ("40001", SerializationError, True),
        ("40P01", DeadlockError, True),
        ("57014", StatementTimeoutError, False),
        ("55P03", StatementTimeoutError, False),
        ("57P01", ConnectionLostError, False),
        ("08006", ConnectionLostError, False),
    ],
)
def test_sqlstate_decides_the_class(pgcode, expected, retryable):
    original = django_error(OperationalError, "aborted\nDETAIL: more", pgcode)
    fault = dberrors.translate(original, "flush")
    assert type(fault) is expected and fault.retryable is retryable
    # Code that catches Django's class, or sessionorm's, keeps working.
    assert isinstance(fault, OperationalError) and isinstance(fault, SessionORMError)
    assert fault.orig is original and fault.sqlstate == pgcode and fault.operation == "flush"
    assert str(fault).startswith("During flush, the ")
    assert f" (SQLSTATE {pgcode}). " in str(fault)
    assert str(fault).endswith("Original error: DriverError: aborted")  # first line only


def test_a_lost_connection_is_also_an_interface_error():
    assert issubclass(ConnectionLostError, InterfaceError)
    assert issubclass(ConnectionLostError, DatabaseFaultError)


def test_messages_say_what_to_do():
    def message(pgcode, operation="flush"):
        return str(dberrors.translate(django_error(OperationalError, "x", pgcode), operation))

    assert "sessionorm.retry.run_in_transaction(fn)" in message("40001")
    assert "same order everywhere" in message("40P01")
    assert "lock_timeout" in message("55P03")
    assert "rolled the transaction back. Call session.rollback()" in message("57P01")
    assert "may have committed" not in message("57P01")
    assert "may have committed" in message("57P01", "commit")
    assert "sessionorm_recover" in message("57P01", "prepare")


@pytest.mark.parametrize(
    "error",
    [
        django_error(IntegrityError, "duplicate key", "23505"),
        django_error(OperationalError, "disk full", "53100"),
        django_error(DatabaseError, "no code", None),
        ValueError("not a database error"),
    ],
)
def test_other_errors_are_not_faults(error):
    assert dberrors.translate(error, "execute") is None


def test_an_error_translated_already_is_kept():
    fault = dberrors.translate(django_error(OperationalError, "x", "40P01"), "flush")
    assert dberrors.translate(fault, "commit") is fault


def test_sqlstate_of_psycopg3_errors():
    class Psycopg3Error(Exception):
        sqlstate = "40001"

    error = OperationalError("x")
    error.__cause__ = Psycopg3Error()
    assert dberrors.sqlstate(error) == "40001"
    assert dberrors.sqlstate(OperationalError("no cause")) is None
