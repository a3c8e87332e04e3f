"""The Session of the current context: :func:`current_session` and :func:`session_scope`.

One :class:`contextvars.ContextVar` holds the current :class:`SessionScope`, so
the answer follows the code that is running rather than the thread: each request
(sync or async), each asyncio task and each thread sees its own scope, and
``asgiref``'s ``sync_to_async``/``async_to_sync`` carry it across the boundary.

Inside a request handled by :class:`sessionorm.middleware.SessionMiddleware`,
``current_session()`` is the request's Session (the one behind
``request.dbsession``). Outside a request, use :func:`session_scope`::

    from sessionorm.context import session_scope

    with session_scope() as session:      # commits on success, always closes
        session.add(Book(title="Dune", author=author))

Calling ``current_session()`` outside any scope also works, for the shell and
short scripts: it makes a Session, keeps it as the context's current one and
returns it on every later call. Nothing commits or closes that Session for you:
call ``current_session().commit()`` and ``.close()`` yourself (a management
command should prefer ``session_scope()``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sessionorm.conf import get_session_factory

if TYPE_CHECKING:
    from sessionorm.session import Session

__all__ = ["SessionScope", "current_session", "session_scope"]

logger = logging.getLogger("sessionorm")

# The scope whose Session current_session() returns; None outside any scope.
_current: contextvars.ContextVar[SessionScope | None] = contextvars.ContextVar(
    "sessionorm_current_scope", default=None
)


class SessionScope:
    """One unit of work's Session, made on first use and ended once.

    The middleware makes one per request and :func:`session_scope` one per
    ``with`` block. The Session is created by ``factory`` only when :meth:`get`
    is first called, so a request that never uses it costs one small object and
    no SQL. :meth:`finish` and :meth:`abort` end it; after that :meth:`get`
    refuses to make a new Session, because nothing would close it.

    This is machinery: use ``request.dbsession``, :func:`current_session` and
    :func:`session_scope`.
    """

    __slots__ = ("_factory", "session", "finished", "failed", "label")

    def __init__(self, factory: Callable[[], Session] | None = None, label: str = "scope"):
        self._factory = factory
        # The Session once made, else None.
        self.session: Session | None = None
        # True once finish() or abort() ran.
        self.finished = False
        # Set by whoever saw an error (the middleware's process_exception):
        # finish() then rolls back even if asked to commit.
        self.failed = False
        # Names the scope in error messages ("request GET /books/").
        self.label = label

    def __repr__(self) -> str:
        state = "finished" if self.finished else "open"
        made = "no session yet" if self.session is None else repr(self.session)
        return f"<SessionScope {self.label} {state}: {made}>"

    def get(self) -> Session:
        """Return this scope's Session, making it on first call."""
        if self.session is None:
            if self.finished:
                from sessionorm.exc import ResourceClosedError

                raise ResourceClosedError(
                    f"The Session of {self.label} is used after that scope ended "
                    "(for example by a middleware listed before SessionMiddleware, or "
                    "while a streaming response renders). Load what the response "
                    "needs inside the view, or open a session_scope() for later work."
                )
            factory = self._factory or get_session_factory()
            self.session = factory()
        return self.session

    def finish(self, success: bool = True) -> None:
        """End the scope: commit if ``success`` and there is work, else roll back;
        close the Session in every case.

        An error from commit propagates after the Session is closed (so the
        caller, e.g. Django's handler, turns it into a 500).
        """
        self.finished = True
        session = self.session
        if session is None:
            return
        try:
            if success and not self.failed:
                if _has_work(session):
                    session.commit()
            elif session.in_transaction():
                session.rollback()
        except BaseException:
            # Keep the commit's error as the one the caller sees.
            _close_quietly(session)
            raise
        session.close()

    def abort(self) -> None:
        """Roll back and close while another exception is propagating.

        Never raises: a failure here is logged, because the exception already on
        its way out is the one that explains what went wrong.
        """
        self.finished = True
        session = self.session
        if session is None:
            return
        try:
            if session.in_transaction():
                session.rollback()
        except Exception:
            logger.exception("sessionorm: rollback of %s failed", self.label)
        _close_quietly(session)


def _has_work(session: Session) -> bool:
    """True when commit() has something to do: an open transaction, or objects
    added, changed or deleted that a flush would write."""
    return bool(session.in_transaction() or session.new or session.dirty or session.deleted)


def _close_quietly(session: Session) -> None:
    try:
        session.close()
    except Exception:
        logger.exception("sessionorm: closing %r failed", session)


def bind(scope: SessionScope) -> contextvars.Token:
    """Make ``scope`` the current one; pass the token to :func:`unbind`."""
    return _current.set(scope)


def unbind(token: contextvars.Token) -> None:
    """Restore the scope that was current before :func:`bind`."""
    _current.reset(token)


def current_scope() -> SessionScope | None:
    """The current :class:`SessionScope`, or None outside any scope."""
    return _current.get()


def current_session() -> Session:
    """Return the Session of the current request, ``session_scope()`` block or
    context.

    In a view it is the Session behind ``request.dbsession`` (made now if the
    request has not used it yet). Outside any scope it makes a Session, keeps it
    as the current context's and returns it from then on; you commit and close
    that one yourself::

        session = current_session()
        session.add(obj)
        session.commit()
        session.close()
    """
    scope = _current.get()
    if scope is None or scope.finished:
        scope = SessionScope(label="the current context (no request or session_scope)")
        _current.set(scope)
    return scope.get()


@contextlib.contextmanager
def session_scope(
    *, commit: bool = True, factory: Callable[[], Session] | None = None
) -> Iterator[Session]:
    """Make a new Session current for the block and end it at the block's end.

    On success the Session commits (or, with ``commit=False``, rolls back: a dry
    run); on an exception it rolls back and the exception propagates. It is
    always closed, and the previous current Session is restored. ``factory``
    defaults to ``SESSIONORM["SESSION_FACTORY"]``.

    A Session begins its transaction on first use, so an unused block sends no
    SQL::

        with session_scope() as session:
            session.add_all(books)
    """
    scope = SessionScope(factory, label="session_scope()")
    token = bind(scope)
    try:
        try:
            yield scope.get()
        except BaseException:
            scope.abort()
            raise
        scope.finish(success=commit)
    finally:
        unbind(token)
