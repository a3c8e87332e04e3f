"""Run a unit of work again when the database aborts it for concurrency reasons.

Under ``SERIALIZABLE`` (or ``REPEATABLE READ``) isolation, and wherever two
transactions lock rows in opposite orders, PostgreSQL may abort a transaction
that did nothing wrong: running it again from the start is the documented cure::

    from sessionorm.retry import retrying, run_in_transaction

    def transfer(session):
        source = session.get(Account, 1, with_for_update=True)
        target = session.get(Account, 2, with_for_update=True)
        source.balance -= 10
        target.balance += 10

    run_in_transaction(transfer, session_factory=sessionmaker(isolation_level="SERIALIZABLE"))

    @retrying(attempts=5)
    def close_account(session, pk):
        session.delete(session.get(Account, pk))

    close_account(42)

Each try gets a new session in a new transaction, so nothing of a failed try is
left, in the database or in memory. Only the errors that mean "try again" are
retried (:class:`~sessionorm.exc.SerializationError` and
:class:`~sessionorm.exc.DeadlockError` by default); any other error is raised at
once. ``fn`` may run more than once: keep side effects outside the database (mail,
HTTP calls) out of it, or in ``transaction.on_commit`` callbacks.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

from sessionorm.exc import DeadlockError, InvalidRequestError, SerializationError
from sessionorm.session import sessionmaker

__all__ = ["run_in_transaction", "retrying", "RETRY_ON"]

T = TypeVar("T")

RETRY_ON = (SerializationError, DeadlockError)


def run_in_transaction(
    fn: Callable[..., T],
    *,
    attempts: int = 3,
    session_factory=None,
    backoff: float = 0.05,
    retry_on: tuple[type[BaseException], ...] = RETRY_ON,
) -> T:
    """Call ``fn(session)`` in a new session transaction, committed when it returns.

    When the try raises one of ``retry_on``, wait a little (``backoff`` seconds,
    doubled on each try, with random jitter so that the sessions that collided do
    not collide again) and try again, ``attempts`` times in all; after the last, the
    last error is raised, its message saying how many tries were made. Returns what
    ``fn`` returned.

    :param session_factory: a :func:`~sessionorm.sessionmaker` (default:
        ``sessionmaker()``); its ``begin()`` gives each try its session.
    :raises InvalidRequestError: when called inside ``transaction.atomic()``: a retry
        could not undo what the enclosing transaction already did.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts!r}.")
    _refuse_inside_atomic(fn)
    if session_factory is None:
        session_factory = sessionmaker()
    for attempt in range(1, attempts + 1):
        try:
            with session_factory.begin() as session:
                return fn(session)
        except retry_on as exc:
            if attempt == attempts:
                _say_tries(exc, attempts)
                raise
            time.sleep(backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def retrying(
    fn: Callable | None = None,
    /,
    *,
    attempts: int = 3,
    session_factory=None,
    backoff: float = 0.05,
    retry_on: tuple[type[BaseException], ...] = RETRY_ON,
):
    """Decorator form of :func:`run_in_transaction`: ``@retrying`` or ``@retrying(attempts=5)``.

    The decorated function takes the session first; callers leave it out::

        @retrying(attempts=5)
        def rename(session, pk, name):
            session.get(Author, pk).name = name

        rename(3, "Ursula")
    """

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            return run_in_transaction(
                lambda session: fn(session, *args, **kwargs),
                attempts=attempts,
                session_factory=session_factory,
                backoff=backoff,
                retry_on=retry_on,
            )

        return run

    return decorate(fn) if fn is not None else decorate


def _refuse_inside_atomic(fn) -> None:
    blocked = [c.alias for c in connections.all(initialized_only=True) if c.in_atomic_block]
    if blocked:
        name = getattr(fn, "__qualname__", repr(fn))
        raise InvalidRequestError(
            f"run_in_transaction({name}) was called inside transaction.atomic() on database "
            f"{', '.join(map(repr, blocked))}. A retry cannot undo what the enclosing "
            "transaction did before the failure, and under SERIALIZABLE a retry inside it "
            "sees the same snapshot and fails again. Call it outside the atomic block "
            "(with ATOMIC_REQUESTS, mark the view @transaction.non_atomic_requests)."
        )


def _say_tries(exc: BaseException, attempts: int) -> None:
    """Put the number of tries in ``exc``'s message (its class and cause stay)."""
    exc.attempts = attempts
    tries = f"Gave up after {attempts} {'try' if attempts == 1 else 'tries'}."
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{tries} {exc.args[0]}", *exc.args[1:])
    else:
        exc.add_note(tries)
