"""The Session's transaction stack, built on Django's own atomic blocks.

A :class:`SessionTransaction` is one level of the stack: the root (a database
transaction per alias the session uses) or a nested one (a SAVEPOINT per alias).
Each level enters a Django :class:`~django.db.transaction.Atomic` block per
database, so Django code running inside the session's transaction sees
``in_atomic_block``, makes savepoints for its own ``atomic()`` blocks, and its
``transaction.on_commit`` callbacks run when the session commits.

When the session starts while Django's connection is already inside an atomic
block (a test case, ``ATOMIC_REQUESTS``, the caller's own ``atomic()``), the
root level's Atomic is a nested one: Django makes it a SAVEPOINT, so
``session.commit()`` releases it and ``session.rollback()`` rolls back to it, and
the outer transaction is never committed or rolled back by the session.

Each level also records what its flushes changed (objects inserted, deleted and
updated) so that rolling it back restores exactly that in memory.

This is machinery: use ``Session.begin()``, ``begin_nested()``, ``commit()`` and
``rollback()``.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import weakref

from django.db import Error, connections
from django.db.transaction import Atomic

from sessionorm import dberrors, twophase
from sessionorm.exc import InvalidRequestError, PendingRollbackError, ResourceClosedError
from sessionorm.state import NO_VALUE

__all__ = ["SessionTransaction", "TransactionState"]


class TransactionState(enum.Enum):
    ACTIVE = "active"
    PREPARED = "prepared"
    COMMITTED = "committed"
    DEACTIVE = "deactive"  # a flush failed: only rollback() is allowed
    CLOSED = "closed"


_ACTIVE, _PREPARED = TransactionState.ACTIVE, TransactionState.PREPARED
_COMMITTED, _DEACTIVE = TransactionState.COMMITTED, TransactionState.DEACTIVE
_CLOSED = TransactionState.CLOSED


class _SessionRollback(Exception):
    """Passed to ``Atomic.__exit__`` to make it roll back; never raised."""


ISOLATION_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


def isolation_sql(connection, level: str) -> str:
    """``SET TRANSACTION ISOLATION LEVEL ...``, checked (PostgreSQL only)."""
    name = level.upper().replace("_", " ")
    if name not in ISOLATION_LEVELS:
        raise InvalidRequestError(
            f"isolation_level={level!r} is not one of {', '.join(ISOLATION_LEVELS)}."
        )
    if connection.vendor != "postgresql":
        raise InvalidRequestError(
            f"A per-session isolation level needs PostgreSQL; database {connection.alias!r} "
            f"is {connection.vendor}. Set it in DATABASES[...]['OPTIONS'] instead."
        )
    return f"SET TRANSACTION ISOLATION LEVEL {name}"


def _declare(*allowed: TransactionState):
    """Run the method only in one of ``allowed`` states; otherwise explain why not."""

    def decorate(method):
        @functools.wraps(method)
        def checked(self, *args, **kwargs):
            if self._state not in allowed:
                self._raise_for_state(method.__name__)
            return method(self, *args, **kwargs)

        checked._allowed_states = allowed
        return checked

    return decorate


class SessionTransaction:
    """One level of a Session's transaction stack (see the module docstring)."""

    def __init__(self, session, parent: SessionTransaction | None = None, nested=False):
        self.session = session
        self.parent = parent
        self.nested = nested
        self._state = _ACTIVE
        self._ended = False
        self._atomics: dict[str, Atomic] = {}
        self._xids: dict[str, str] = {}  # alias -> two-phase transaction id
        self._xid_stem: tuple[str, str] | None = None  # shared by all of them
        self._rollback_exception: BaseException | None = None
        # What this level's flushes did, for an exact rollback. Objects are reached
        # through their states, which hold them weakly as the identity map does: a
        # flushed object the application dropped has nothing left to restore, and
        # must not live until the transaction ends. Inserts and updates are kept as
        # lists of states (a flush extends them a step at a time).
        self._new: list = []  # states inserted here
        self._deleted = weakref.WeakValueDictionary()  # state -> obj deleted here
        self._dirty: list = []  # states updated here
        # (states, attname, values before the flush generated them), in flush order
        self._generated: list = []
        self._key_switches: dict = {}  # state -> identity key before a primary key change
        for fn in session.dispatch.after_transaction_create:
            fn(session, self)
        if nested:
            # A SAVEPOINT on every database in use, or on the default one when the
            # session has not touched any yet (Django code inside must be inside it).
            for alias in list(parent._aliases()) or [session._default_alias()]:
                self.connection_for(alias)

    def __repr__(self):
        kind = "nested" if self.nested else "root"
        return f"<SessionTransaction {kind} {self._state.value} {sorted(self._atomics)}>"

    # -- context manager ------------------------------------------------------

    def __enter__(self) -> SessionTransaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Commit when the block ends normally, roll back when it raises."""
        if self._state is _CLOSED:
            return
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise
        else:
            self.rollback()

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> TransactionState:
        return self._state

    @property
    def is_active(self) -> bool:
        return self._state is _ACTIVE

    def _raise_for_state(self, operation: str):
        if self._state is _DEACTIVE:
            undo = (
                "Call rollback() on this savepoint (the transaction you got from "
                "begin_nested()) to go on with the work outside it, or session.rollback() "
                "to end the whole transaction"
                if self.nested
                else "Call session.rollback() first; after it the session can begin again"
            )
            raise PendingRollbackError(
                f"This Session's {'savepoint' if self.nested else 'transaction'} has been "
                f"rolled back due to a previous error (in a flush, execute() or commit), so "
                f"{operation}() "
                f"cannot run. {undo}. Original exception was: {self._rollback_exception!r}"
            )
        if self._state is _CLOSED:
            raise ResourceClosedError(
                f"This transaction is closed; {operation}() cannot run on it. Begin a new one "
                "with session.begin(), or just use the session: it begins one by itself."
            )
        if self._state is _COMMITTED:
            advice = "It has already committed; the session begins a new one on its next use."
        else:
            advice = "Commit or roll back the current one first."
        raise InvalidRequestError(
            f"This transaction is {self._state.value}; {operation}() needs an active "
            f"transaction. {advice}"
        )

    def _aliases(self):
        level = self
        while level is not None:
            yield from level._atomics
            level = level.parent

    # -- connections ------------------------------------------------------------

    @_declare(_ACTIVE, _PREPARED)
    def connection_for(self, alias: str):
        """Django's connection for ``alias``, inside this level's transaction."""
        if alias not in self._atomics:
            if self._state is _PREPARED:
                raise InvalidRequestError(
                    f"This transaction is prepared, so it cannot begin work on database "
                    f"{alias!r} as well: that database would commit without being "
                    "prepared. Commit or roll back first, then use a new transaction."
                )
            if self.parent is not None:
                self.parent.connection_for(alias)
            joined = connections[alias].in_atomic_block
            atomic = Atomic(alias, savepoint=self._savepoint_for(alias), durable=False)
            atomic.__enter__()
            self._atomics[alias] = atomic
            if not self.nested:
                self._begin_database(alias, atomic, joined)
            for fn in self.session.dispatch.after_begin:
                fn(self.session, self, connections[alias])
        return connections[alias]

    def _begin_database(self, alias: str, atomic: Atomic, joined: bool) -> None:
        """Start the root transaction's options on a database it just began."""
        session = self.session
        if not (session.twophase or session.isolation_level):
            return
        connection = connections[alias]
        try:
            if joined:
                raise InvalidRequestError(
                    f"This session needs its own transaction on {alias!r} "
                    f"({'twophase=True' if session.twophase else 'isolation_level'}), but "
                    "Django's connection is already inside transaction.atomic(). Start the "
                    "session outside the atomic block."
                )
            if session.twophase:
                twophase.check_supported(connection)
                if self._xid_stem is None:
                    self._xid_stem = twophase.new_stem()
                xid = twophase.make_xid(session.hash_key, alias, self._xid_stem)
                connection.connection.tpc_begin(xid)
                self._xids[alias] = xid
            if session.isolation_level:
                with connection.cursor() as cursor:
                    cursor.execute(isolation_sql(connection, session.isolation_level))
        except BaseException:
            del self._atomics[alias]
            if alias in self._xids:
                connection.connection.tpc_rollback()
                del self._xids[alias]
            atomic.__exit__(_SessionRollback, _SessionRollback(), None)
            raise

    def _savepoint_for(self, alias: str) -> bool:
        """Whether this level's block on ``alias`` is a SAVEPOINT of its own.

        Nested levels always are. The root level joins an atomic block that Django
        code opened before it (only then does this matter) either through a
        savepoint of its own (``conditional_savepoint``, ``create_savepoint``), or
        without one (``rollback_only``, ``control_fully``): its commit then leaves
        committing to the block's owner, and its rollback marks the whole block for
        rollback, as a failed ``atomic(savepoint=False)`` block does.
        """
        if self.nested:
            return True
        return self.session.join_transaction_mode in ("conditional_savepoint", "create_savepoint")

    def _exit_atomics(self, commit: bool) -> None:
        if not commit and self._xids:
            self._tpc_rollback_all()
        errors, lost = [], []
        for alias, atomic in reversed(list(self._atomics.items())):
            connection = connections[alias]
            if not any(block is atomic for block in connection.atomic_blocks):
                # An enclosing block (another session on the same connection, opened
                # before this one and ended first) already rolled back past ours.
                lost.append(alias)
                continue
            if connection.atomic_blocks[-1] is not atomic:
                # Someone's atomic() block opened after ours is still open.
                errors.append(alias)
                if commit:
                    continue
                while connection.atomic_blocks and connection.atomic_blocks[-1] is not atomic:
                    inner = connection.atomic_blocks[-1]
                    inner.__exit__(_SessionRollback, _SessionRollback(), None)
            if commit:
                atomic.__exit__(None, None, None)
            else:
                atomic.__exit__(_SessionRollback, _SessionRollback(), None)
        if errors and commit:
            raise InvalidRequestError(
                f"Cannot commit the session: a transaction.atomic() block opened inside it "
                f"on database {', '.join(errors)!s} is still open. Leave that block first, "
                "then call session.commit()."
            )
        self._atomics.clear()
        if lost and commit:
            raise InvalidRequestError(
                f"Cannot commit the session: its transaction on database {', '.join(lost)} "
                "was already rolled back by an enclosing one (another Session or atomic() "
                "block that began before this session and ended first). Call "
                "session.rollback(), and end sessions sharing a connection in reverse order."
            )

    # -- commit / rollback -----------------------------------------------------------

    @_declare(_ACTIVE)
    def prepare(self) -> None:
        """Flush and mark the transaction ready to commit (two-phase commit's first step)."""
        if self.nested:
            raise InvalidRequestError(
                "prepare() applies to the root transaction only; this is a SAVEPOINT "
                "level. Commit or roll back the savepoint, then call session.prepare()."
            )
        self._prepare_impl()

    def _prepare_impl(self) -> None:
        session = self.session
        if not self.nested:
            for fn in session.dispatch.before_commit:
                fn(session)
        for _ in range(100):
            if not session._has_changes():
                break
            session.flush()
        else:
            raise InvalidRequestError(
                "The session stayed dirty after 100 flushes: a before_flush or after_flush "
                "listener keeps changing objects. Make the listener idempotent."
            )
        for alias in self._atomics:
            if connections[alias].needs_rollback:
                raise InvalidRequestError(
                    f"Cannot commit: a database error inside a transaction.atomic() block on "
                    f"{alias!r} marked the transaction for rollback. Call session.rollback()."
                )
        if not self.nested:
            if self._xids:
                self._tpc_prepare()
            self._state = _PREPARED

    # -- two-phase commit ----------------------------------------------------------

    def _tpc_prepare(self) -> None:
        """PREPARE every database; if one fails, roll every one of them back."""
        try:
            for alias in self._xids:
                connection = connections[alias]
                with connection.wrap_database_errors:
                    connection.connection.tpc_prepare()
        except BaseException as exc:
            fault = dberrors.translate(exc, "prepare", list(self._xids))
            self._flush_failed(fault or exc)
            if fault is not None:
                raise fault from exc
            raise

    def _tpc_commit(self) -> None:
        done = []
        for alias in list(self._xids):
            connection = connections[alias]
            try:
                with connection.wrap_database_errors:
                    connection.connection.tpc_commit()
            except BaseException as exc:
                in_doubt = [x for a, x in self._xids.items() if a not in done]
                self._xids.clear()
                raise InvalidRequestError(
                    f"Two-phase commit failed on {alias!r} after {len(done)} database(s) "
                    f"committed ({', '.join(done) or 'none'}). These prepared transactions are "
                    f"in doubt: {', '.join(in_doubt)}. Resolve them with "
                    "`manage.py sessionorm_recover --commit` (they were all prepared)."
                ) from exc
            done.append(alias)
            del self._xids[alias]

    def _tpc_rollback_all(self) -> None:
        for alias in list(self._xids):
            # A lost connection has rolled back by itself (or left it prepared: recover).
            with contextlib.suppress(Exception):
                connections[alias].connection.tpc_rollback()
        self._xids.clear()

    @_declare(_ACTIVE, _PREPARED)
    def commit(self) -> None:
        session = self.session
        for inner in self._open_levels_above():  # as SQLAlchemy: inner savepoints first
            inner.commit()
        if self._state is _ACTIVE:
            self._prepare_impl()
        if self._xids:
            self._tpc_commit()
        self._commit_atomics()
        self._state = _COMMITTED
        if self.nested:
            self._merge_into_parent()
        else:
            for fn in session.dispatch.after_commit:
                fn(session)
            session._after_root_commit(self)
        self.close()

    def _commit_atomics(self) -> None:
        """COMMIT (or RELEASE SAVEPOINT) on each database this level uses."""
        before = dberrors.drivers(self._atomics)
        try:
            self._exit_atomics(commit=True)
        except Error as exc:
            # Django's Atomic rolled back the database whose COMMIT failed (a
            # serialization failure, a deferred constraint, a lost connection):
            # this transaction is over, and only rollback() may follow.
            fault = dberrors.translate(exc, "commit", before=before)
            self._flush_failed(fault or exc)
            if fault is not None:
                raise fault from exc
            raise

    def rollback(self) -> None:
        """Roll back this level, and the savepoints still open above it."""
        if self._state in (_CLOSED, _COMMITTED):
            self.close()  # nothing left to undo: a committed level stays committed
            return
        for inner in self._open_levels_above():
            inner.rollback()
        session = self.session
        if self._atomics:
            self._exit_atomics(commit=False)
        session._restore_snapshot(self)
        if not self.nested:
            for fn in session.dispatch.after_rollback:
                fn(session)
        self._state = _CLOSED
        for fn in session.dispatch.after_soft_rollback:
            fn(session, self)
        self.close()

    def _flush_failed(self, exc: BaseException) -> None:
        """A flush failed: undo its database work now, refuse work until rollback()."""
        if self._atomics:
            self._exit_atomics(commit=False)
        self._state = _DEACTIVE
        self._rollback_exception = exc

    def close(self) -> None:
        for inner in self._open_levels_above():
            inner.close()
        if self._atomics:
            self._exit_atomics(commit=False)
        self._state = _CLOSED
        session = self.session
        if session._transaction is self:
            session._transaction = self.parent
        if not self._ended:
            self._ended = True
            for fn in session.dispatch.after_transaction_end:
                fn(session, self)

    def _open_levels_above(self) -> list:
        """The session's levels nested inside this one, innermost first."""
        levels, level = [], self.session._transaction
        while level is not None and level is not self:
            levels.append(level)
            level = level.parent
        return levels if level is self else []

    def _merge_into_parent(self) -> None:
        parent = self.parent
        parent._new.extend(self._new)
        parent._deleted.update(self._deleted)
        parent._dirty.extend(self._dirty)
        parent._generated.extend(self._generated)
        for state, key in self._key_switches.items():
            parent._key_switches.setdefault(state, key)

    # -- records kept by the flush ------------------------------------------------

    def record_inserted(self, states) -> None:
        self._new.extend(states)

    def record_updated(self, states) -> None:
        self._dirty.extend(states)

    def record_generated(self, states, attname, old_values) -> None:
        """``attname`` of ``states``' objects was generated; these were its values."""
        self._generated.append((states, attname, old_values))

    def restore_generated(self, objects: dict) -> None:
        """Put back, on ``{state: obj}``, the values from before the flushes of this
        level generated them (the earliest, where one attribute was generated twice)."""
        for states, attname, olds in reversed(self._generated):
            for state, old in zip(states, olds, strict=True):
                obj = objects.get(state)
                if obj is None:
                    continue
                if old is NO_VALUE:
                    obj.__dict__.pop(attname, None)
                else:
                    obj.__dict__[attname] = old
