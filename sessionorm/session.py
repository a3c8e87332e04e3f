"""The Session: identity map, object lifecycle and unit of work for Django models.

A :class:`Session` collects the changes an application makes to model objects
and writes them in one dependency-ordered, batched flush inside its transaction::

    with Session() as session:
        author = Author(name="Ursula")
        session.add_all([author, Book(title="The Dispossessed", author=author)])
        session.commit()          # INSERT author, then book with its author_id

The flow of a flush, from :meth:`Session.flush` downwards: cascade new related
objects into the session, group the rows to write by model and database
(``_groups_to_insert``, ``_groups_to_update``), plan
(``unitofwork.plan_saves`` and ``deletion.plan_deletes``), execute
(``persistence.execute``), then record the new states (``_finalize_flush``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator

from django.db import DEFAULT_DB_ALIAS, DatabaseError, Error, connections, router
from django.db.models import signals

from sessionorm import dberrors, events
from sessionorm.deletion import plan_deletes
from sessionorm.exc import (
    InvalidRequestError,
    ObjectDeletedError,
    SessionORMError,
    describe,
)
from sessionorm.identity import IdentityMap
from sessionorm.instrumentation import STATE_ATTR, _infos, instance_info, model_info
from sessionorm.persistence import FlushContext, execute
from sessionorm.query import BulkContext, session_queryset
from sessionorm.state import NO_VALUE, InstanceState, _sessions, ensure_state, new_state, state_of
from sessionorm.transaction import SessionTransaction, TransactionState
from sessionorm.unitofwork import FlushPlan, RowGroup, interned_names, plan_saves

__all__ = [
    "Session",
    "sessionmaker",
    "object_session",
    "close_all_sessions",
    "make_transient",
    "make_transient_to_detached",
]

JOIN_MODES = ("conditional_savepoint", "create_savepoint", "rollback_only", "control_fully")

_session_ids = itertools.count(1)
_MISSING = object()


def _config():
    try:
        from sessionorm.conf import get_config
    except ImportError:  # pragma: no cover - conf.py is part of the package
        return {}
    return get_config()


class Session:
    """Manages persistence operations for Django model objects.

    :param using: the database alias for every model (default: binds, then the
        routers' ``db_for_write``).
    :param binds: ``{Model | "app_label.Model" | "app_label": alias}``.
    :param autoflush: flush before queries and loads.
    :param expire_on_commit: expire every object after ``commit()`` so the next
        access reads what the database now holds.
    :param info: a dict for the application's own use (``session.info``).
    :param join_transaction_mode: what to do when Django's connection is already
        inside ``transaction.atomic()``; see the transactions documentation.
    :param twophase: commit every database with two-phase commit (PostgreSQL).
    :param isolation_level: ``"SERIALIZABLE"``, ``"REPEATABLE READ"``, ... for the
        transactions this session begins (PostgreSQL).
    """

    def __init__(
        self,
        using: str | None = None,
        binds: dict | None = None,
        autoflush: bool = True,
        expire_on_commit: bool = True,
        twophase: bool = False,
        info: dict | None = None,
        join_transaction_mode: str = "conditional_savepoint",
        isolation_level: str | None = None,
        *,
        _factory=None,
    ):
        if join_transaction_mode not in JOIN_MODES:
            raise InvalidRequestError(
                f"join_transaction_mode={join_transaction_mode!r} is not one of "
                f"{', '.join(JOIN_MODES)}."
            )
        self.using = using
        self._binds: dict = dict(binds or {})
        self.autoflush = autoflush
        self.expire_on_commit = expire_on_commit
        self.twophase = twophase
        self.join_transaction_mode = join_transaction_mode
        self.isolation_level = isolation_level
        self.info = dict(info or {})
        self._factory = _factory
        self.hash_key = next(_session_ids)
        _sessions[self.hash_key] = self
        self.identity_map = IdentityMap()
        self._new: dict[InstanceState, object] = {}  # pending, in add() order
        self._deleted: dict[InstanceState, object] = {}  # marked, not yet flushed
        self._modified: set[InstanceState] = set()
        self._transaction: SessionTransaction | None = None
        self._flushing = False
        self._no_autoflush = 0
        self._bind_cache: dict = {}
        self.dispatch = events.SessionDispatch(self)

    def __repr__(self):
        return f"<Session {self.hash_key} objects={len(self.identity_map)} new={len(self._new)}>"

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    # -- databases -----------------------------------------------------------------

    def get_bind(self, model) -> str:
        """The database alias this session uses for ``model``."""
        alias = self._bind_cache.get(model)
        if alias is None:
            alias = self._bind_cache[model] = self._resolve_bind(model)
        return alias

    def _resolve_bind(self, model) -> str:
        alias = self._explicit_bind(model)
        return alias if alias is not None else router.db_for_write(model)

    def _explicit_bind(self, model) -> str | None:
        """The alias ``binds`` or ``using`` give ``model``, or None: the routers decide."""
        binds = self._binds
        if binds:
            for klass in model.__mro__:
                if klass in binds:
                    return binds[klass]
            opts = model._meta
            for name in (opts.label, opts.label_lower, opts.app_label):
                if name in binds:
                    return binds[name]
        return self.using

    def bind_model(self, model, alias: str) -> None:
        """Use database ``alias`` for ``model`` (and its subclasses) from now on."""
        self._binds[model] = alias
        self._bind_cache.clear()

    def _alias_for_new(self, obj) -> str:
        """A new object's database: its bind, else the routers with it as the hint."""
        if self._binds or self.using is not None:
            alias = self._explicit_bind(type(obj))
            if alias is not None:
                return alias
        elif not router.routers:  # what db_for_write answers without routers, minus the call
            return obj._state.db or DEFAULT_DB_ALIAS
        return router.db_for_write(type(obj), instance=obj)

    def connection(self, model=None, *, using: str | None = None):
        """Django's connection for ``model`` (or ``using``), inside this session's transaction."""
        alias = using or (self.get_bind(model) if model is not None else self._default_alias())
        return self._connection_for_alias(alias)

    def _default_alias(self) -> str:
        return self.using or "default"

    def _connection_for_alias(self, alias: str):
        return self._work_transaction("connection").connection_for(alias)

    def execute(self, sql: str, params=None, *, model=None, using: str | None = None):
        """Run raw SQL in this session's transaction (after autoflush).

        Returns a :class:`Result`: ``rows`` (for statements that return rows) and
        ``rowcount``.
        """
        self._autoflush()
        connection = self.connection(model, using=using)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
                return Result(rows, cursor.rowcount, cursor.description)
        except Error as exc:
            fault = dberrors.translate(exc, "execute", [connection.alias])
            if fault is None:
                raise
            self._transaction._flush_failed(fault)  # the database ended the transaction
            raise fault from exc

    def scalar(self, sql: str, params=None, *, model=None, using: str | None = None):
        """The first column of the first row of ``sql``, or None."""
        return self.execute(sql, params, model=model, using=using).scalar()

    # -- transactions -------------------------------------------------------------

    def _autobegin(self) -> SessionTransaction:
        if self._transaction is None:
            self._transaction = SessionTransaction(self)
        return self._transaction

    def _work_transaction(self, operation: str) -> SessionTransaction:
        transaction = self._autobegin()
        if transaction.state is not TransactionState.ACTIVE:
            transaction._raise_for_state(operation)
        return transaction

    def begin(self, nested: bool = False) -> SessionTransaction:
        """Begin a transaction explicitly; ``with session.begin():`` commits at the end.

        The session also begins one by itself on first use (autobegin), so this is
        only needed to make the transaction's extent visible in code.
        """
        if nested:
            return self.begin_nested()
        if self._transaction is not None:
            raise InvalidRequestError(
                "A transaction is already begun on this Session (it begins one by itself "
                "on first use). Use session.begin_nested() for a SAVEPOINT, or call "
                "commit() / rollback() before begin()."
            )
        return self._autobegin()

    def begin_nested(self) -> SessionTransaction:
        """Begin a SAVEPOINT; rolling it back undoes only what happened inside it."""
        parent = self._work_transaction("begin_nested")
        self.flush()  # the savepoint starts from what the database holds
        self._transaction = SessionTransaction(self, parent=parent, nested=True)
        return self._transaction

    def get_transaction(self) -> SessionTransaction | None:
        """The root transaction, or None."""
        transaction = self._transaction
        while transaction is not None and transaction.parent is not None:
            transaction = transaction.parent
        return transaction

    def get_nested_transaction(self) -> SessionTransaction | None:
        """The innermost SAVEPOINT transaction, or None."""
        transaction = self._transaction
        return transaction if transaction is not None and transaction.nested else None

    def in_transaction(self) -> bool:
        return self._transaction is not None

    def in_nested_transaction(self) -> bool:
        return self.get_nested_transaction() is not None

    @property
    def is_active(self) -> bool:
        """False only while a failed flush waits for ``rollback()``."""
        transaction = self._transaction
        return transaction is None or transaction.state is not TransactionState.DEACTIVE

    def commit(self) -> None:
        """Flush, then commit the whole transaction (nested levels included)."""
        transaction = self._autobegin()
        while transaction.nested:
            transaction.commit()
            transaction = self._transaction
        transaction.commit()

    def rollback(self) -> None:
        """Roll back the whole transaction and restore the objects' state."""
        while self._transaction is not None:
            self._transaction.rollback()

    def prepare(self) -> None:
        """Flush and prepare the root transaction for commit."""
        transaction = self._autobegin()
        if transaction.nested:
            raise InvalidRequestError("prepare() applies to the root transaction only.")
        transaction.prepare()

    def close(self) -> None:
        """Detach every object and end the transaction; the session stays usable.

        What was not committed is rolled back in the database. As in SQLAlchemy,
        objects keep the values they hold, so what a ``with Session()`` block loaded
        stays readable after it; only objects whose INSERT is rolled back change:
        they become transient again, without the keys the database generated.
        """
        try:
            level = self._transaction
            while level is not None:
                self._undo_inserts(level)
                level = level.parent
            self.expunge_all()
        finally:
            while self._transaction is not None:
                self._transaction.close()

    def invalidate(self) -> None:
        """Close the session and the database connections it used (for broken connections)."""
        aliases = set()
        transaction = self._transaction
        while transaction is not None:
            aliases.update(transaction._atomics)
            transaction = transaction.parent
        try:
            self.close()
        except DatabaseError:
            pass
        finally:
            for alias in aliases:
                connections[alias].close()

    # -- lifecycle ---------------------------------------------------------------

    def add(self, obj) -> None:
        """Put ``obj`` in the session: transient becomes pending, detached persistent.

        Related objects assigned to its foreign keys that are in no session are
        added too (cascade).
        """
        self._add(obj, set())

    def add_all(self, objects: Iterable) -> None:
        seen: set = set()
        for obj in objects:
            self._add(obj, seen)

    def _add(self, obj, seen: set) -> None:
        key = id(obj)
        if key in seen:
            return
        seen.add(key)
        state = ensure_state(obj)
        self._attach(state, obj)
        cache = obj._state.__dict__.get("fields_cache")  # Django creates it on first read
        if cache:
            self._cascade(state, cache, seen)

    def _cascade(self, state, cache: dict, seen: set) -> None:
        """Add the related objects of ``state``'s foreign keys that are in no session."""
        for fk in state.info.fk_fields:
            related = cache.get(fk.name)
            if related is None or id(related) in seen:
                continue
            related_state = state_of(related)
            if related_state is None or related_state.session_id is None:
                self._add(related, seen)

    def _attach(self, state: InstanceState, obj) -> None:
        if state.session_id is None and state.key is None:
            self._attach_transient(state, obj)
            return
        if state.session_id == self.hash_key:
            if state.deleted:
                raise InvalidRequestError(
                    f"{describe(obj)} was deleted in this session's transaction; it cannot be "
                    "added back. Roll back, or use make_transient(obj) and add it as a new object."
                )
            return
        other = state.session
        if other is not None:
            raise InvalidRequestError(
                f"{describe(obj)} is already attached to session {other.hash_key} (this is "
                f"session {self.hash_key}). Expunge it from that session first "
                "(other.expunge(obj)), or use session.merge(obj) to copy its state here."
            )
        if state.key is None:  # pending in a session that no longer exists
            self._attach_transient(state, obj)
            return
        for fn in self.dispatch.before_attach:
            fn(self, obj)
        existing = self.identity_map.get(state.key)
        if existing is not None and existing is not obj:
            raise InvalidRequestError(
                f"Cannot attach {describe(obj)}: this session already holds another object "
                "for that row. Use session.merge(obj) to copy its state onto the session's "
                "object."
            )
        state.session_id = self.hash_key
        self.identity_map.add(state)
        if state.committed_state:
            state.modified = True
            state._strong = obj
            self._modified.add(state)
        for fn in self.dispatch.detached_to_persistent:
            fn(self, obj)
        for fn in self.dispatch.after_attach:
            fn(self, obj)

    def _attach_transient(self, state: InstanceState, obj) -> None:
        """transient -> pending (the common case of add(), kept short)."""
        dispatch = self.dispatch
        for fn in dispatch.before_attach:
            fn(self, obj)
        state.session_id = self.hash_key
        state._strong = obj
        self._new[state] = obj
        for fn in dispatch.transient_to_pending:
            fn(self, obj)
        for fn in dispatch.after_attach:
            fn(self, obj)

    def delete(self, obj) -> None:
        """Mark a persistent object for deletion at the next flush.

        ``on_delete`` rules of foreign keys pointing at it are applied then.
        """
        state = state_of(obj)
        if state is None or state.key is None:
            raise InvalidRequestError(
                f"{describe(obj)} is not persisted, so there is no row to delete. To drop "
                "a pending object from the session, use session.expunge(obj)."
            )
        if state.session_id != self.hash_key:
            self._attach(state, obj)
        if state.deleted or state in self._deleted:
            return
        self._deleted[state] = obj
        state._strong = obj

    def expunge(self, obj) -> None:
        """Remove ``obj`` from the session: pending becomes transient, persistent detached."""
        state = state_of(obj)
        if state is None or state.session_id != self.hash_key:
            raise InvalidRequestError(f"{describe(obj)} is not present in this Session.")
        self._detach(state, obj)

    def _detach(self, state: InstanceState, obj) -> None:
        was_pending = state.key is None
        self._new.pop(state, None)
        self._deleted.pop(state, None)
        self._modified.discard(state)
        if not was_pending:
            self.identity_map.discard(state)
        state.session_id = None
        state.modified = False
        state._strong = None
        name = "pending_to_transient" if was_pending else "persistent_to_detached"
        for fn in getattr(self.dispatch, name):
            fn(self, obj)

    def expunge_all(self) -> None:
        """Detach every object; pending ones become transient."""
        for state in self.identity_map.all_states() + list(self._new):
            obj = state.obj()
            if obj is not None:
                self._detach(state, obj)
            else:
                state.session_id = None
        self.identity_map.clear()
        self._new.clear()
        self._deleted.clear()
        self._modified.clear()

    @property
    def new(self) -> list:
        """Pending objects, in the order they were added."""
        return list(self._new.values())

    @property
    def dirty(self) -> list:
        """Persistent objects with attribute changes (see ``is_modified`` for net changes)."""
        return [
            obj
            for obj in (s.obj() for s in self._modified if s not in self._deleted)
            if obj is not None
        ]

    @property
    def deleted(self) -> list:
        """Objects marked with ``delete()`` and not flushed yet."""
        return list(self._deleted.values())

    def is_modified(self, obj) -> bool:
        """True if a loaded attribute of ``obj`` has a value other than the one loaded."""
        state = ensure_state(obj)
        if state.key is None:
            return True  # a new object: all of it is still to be written
        return bool(state.changes(obj))

    def __contains__(self, obj) -> bool:
        state = state_of(obj)
        if state is None or state.session_id != self.hash_key:
            return False
        return state in self._new or state.persistent

    def __iter__(self) -> Iterator:
        return iter(self.identity_map.values() + list(self._new.values()))

    def __len__(self) -> int:
        return len(self.identity_map) + len(self._new)

    # -- loading --------------------------------------------------------------------

    def query(self, model):
        """A QuerySet of ``model`` (its default manager's) bound to this session."""
        model_info(model)
        return session_queryset(self, model, alias=self.get_bind(model))

    def get(self, model, pk, *, populate_existing=False, with_for_update=False, using=None):
        """The object of ``model`` with primary key ``pk``, or None.

        An object already in the session is returned without SQL. ``using`` names
        the database (a shard, say) instead of :meth:`get_bind`.
        """
        cached = self._bind_cache.get(("get", model))
        if cached is None:
            info = model_info(model)
            cached = self._bind_cache[("get", model)] = (info.concrete_model, self.get_bind(model))
        concrete, alias = cached
        if using is not None:
            alias = using
        if not (populate_existing or with_for_update):
            state = self.identity_map._dict.get((concrete, pk, alias))
            if state is not None:
                obj = state.obj()
                if obj is not None:
                    return self._get_mapped(obj, state)
        return self._get_load(model, concrete, alias, pk, populate_existing, with_for_update)

    def _get_mapped(self, obj, state):
        if state.deleted or state in self._deleted:
            return None
        if state.expired_attributes:
            try:
                self._load_attributes(obj, state, sorted(state.expired_attributes), autoflush=True)
            except ObjectDeletedError:
                return None
        return obj

    def _get_load(self, model, concrete, alias, pk, populate_existing, with_for_update):
        pk_field = model._meta.pk
        if not isinstance(pk, tuple):
            pk = pk_field.to_python(pk)
        if not (populate_existing or with_for_update):
            state = self.identity_map._dict.get((concrete, pk, alias))
            if state is not None and state.obj() is not None:
                return self._get_mapped(state.obj(), state)
        qs = session_queryset(self, model, manager=model._base_manager, alias=alias).filter(pk=pk)
        if populate_existing:
            qs = qs.populate_existing()
        if with_for_update:
            options = with_for_update if isinstance(with_for_update, dict) else {}
            qs = qs.select_for_update(**options)
        rows = list(qs)
        return rows[0] if rows else None

    def refresh(self, obj, attribute_names=None, with_for_update=False) -> None:
        """Reload ``obj`` (or the named attributes) from the database now."""
        state = state_of(obj)
        if state is None or state.session_id != self.hash_key or state.key is None:
            raise InvalidRequestError(
                f"{describe(obj)} is not persistent within this Session, so it cannot be "
                "refreshed. Add it with session.add(obj) or load it with session.get()."
            )
        names = self._attnames(state, attribute_names)
        self._load_attributes(obj, state, names, autoflush=True, for_update=with_for_update)

    def _attnames(self, state, attribute_names):
        if attribute_names is None:
            return list(state.info.expirable)
        names = []
        for name in attribute_names:
            if name in state.info.tracked:
                names.append(name)
                continue
            try:
                names.append(state.info.model._meta.get_field(name).attname)
            except Exception:
                raise InvalidRequestError(
                    f"{state.info.label} has no field {name!r}; name a concrete field."
                ) from None
        return names

    def _load_attributes(self, obj, state, attnames, autoflush, for_update=False) -> None:
        """Read ``attnames`` of ``obj``'s row in one SELECT and write them onto it."""
        if autoflush:
            self._autoflush()
        alias = state.key[2]
        self._connection_for_alias(alias)
        info = state.info
        model = type(obj)
        qs = model._base_manager.db_manager(alias).filter(pk=state.key[1])
        names = [info.field_for_attname[a].name for a in attnames]
        if set(attnames) != set(info.attnames):
            qs = qs.only(*names)
        if for_update:
            qs = qs.select_for_update(**(for_update if isinstance(for_update, dict) else {}))
        rows = list(qs)
        if not rows:
            raise ObjectDeletedError(
                f"{describe(obj)}: its row no longer exists in database {alias!r} (deleted by "
                "another transaction, or its insert was rolled back), so its expired "
                "attributes cannot load. Expunge it, or roll back the session."
            )
        loaded = rows[0].__dict__
        data = obj.__dict__
        committed = state.committed_state
        with state.loading():
            for name in attnames:
                if name in loaded:
                    data[name] = loaded[name]
                    if committed:
                        committed.pop(name, None)
        if committed is not None and not committed:
            state.committed_state = None

    def _register_loaded(self, obj, alias, populate_existing=False, annotations=()):
        """The session's object for a row Django just loaded as ``obj``."""
        info = _infos.get(type(obj)) or instance_info(obj)
        pk = obj.__dict__.get(info.pk_attname, _MISSING) if info.simple_pk else _MISSING
        key = (info.concrete_model, obj.pk if pk is _MISSING else pk, alias)
        identity = self.identity_map._dict
        state = identity.get(key)
        existing = state.obj() if state is not None else None
        if existing is None:
            dead, state = state, new_state(obj, info)
            state.key = key
            state.session_id = self.hash_key
            obj.__dict__[STATE_ATTR] = state
            self.identity_map._put(key, state, dead)
            for fn in self.dispatch.loaded_as_persistent:
                fn(self, obj)
            self._register_related(obj, obj, alias)
            return obj
        if populate_existing:
            self._overwrite(existing, state, obj)
        elif state.expired_attributes:
            self._fill_expired(existing, state, obj)
        for name in annotations:
            existing.__dict__[name] = obj.__dict__.get(name)
        self._register_related(obj, existing, alias)
        return existing

    def _register_related(self, loaded, target, alias) -> None:
        cache = loaded._state.__dict__.get("fields_cache")
        if not cache:
            return
        target_cache = target._state.fields_cache
        for name, related in list(cache.items()):
            if related is None or not hasattr(related, "_meta") or state_of(related) is not None:
                continue
            mapped = self._register_loaded(related, alias)
            if target is loaded or name not in target_cache:
                target_cache[name] = mapped

    def _adopt_prefetched(self, obj, alias, seen=None) -> None:
        """Replace the objects ``prefetch_related`` cached on ``obj`` by the session's."""
        seen = set() if seen is None else seen
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for qs in getattr(obj, "_prefetched_objects_cache", {}).values():
            rows = getattr(qs, "_result_cache", None)
            if not rows or not hasattr(rows[0], "_meta"):
                continue
            qs._result_cache = [self._adopt_one(row, alias, seen) for row in rows]
        for name, related in list(obj._state.fields_cache.items()):
            if related is not None and hasattr(related, "_meta"):
                obj._state.fields_cache[name] = self._adopt_one(related, alias, seen)

    def _adopt_one(self, row, alias, seen):
        state = state_of(row)
        if state is not None and state.session_id == self.hash_key:
            mapped = row
        else:
            mapped = self._register_loaded(row, alias)
            cache = getattr(row, "_prefetched_objects_cache", None)
            if mapped is not row and cache:
                merged = getattr(mapped, "_prefetched_objects_cache", {})
                mapped._prefetched_objects_cache = {**cache, **merged}
        self._adopt_prefetched(mapped, alias, seen)
        return mapped

    def _overwrite(self, existing, state, loaded) -> None:
        data, source = existing.__dict__, loaded.__dict__
        with state.loading():
            for name in state.info.attnames:
                if name in source:
                    data[name] = source[name]
        if state.committed_state:
            for name in state.info.attnames:
                if name in source:
                    state.committed_state.pop(name, None)
            if not state.committed_state and state not in self._new:
                state.mark_clean()
                self._modified.discard(state)

    def _fill_expired(self, existing, state, loaded) -> None:
        data, source = existing.__dict__, loaded.__dict__
        with state.loading():
            for name in list(state.expired_attributes):
                if name in source:
                    data[name] = source[name]

    # -- expiry ---------------------------------------------------------------------

    def expire(self, obj, attribute_names=None) -> None:
        """Forget loaded values (and unflushed changes); they load again on access."""
        state = state_of(obj)
        if state is None or state.session_id != self.hash_key or state.key is None:
            raise InvalidRequestError(
                f"{describe(obj)} is not persistent within this Session; only objects with "
                "a row can be expired."
            )
        names = None if attribute_names is None else self._attnames(state, attribute_names)
        self._expire_state(state, obj, names)

    def _expire_state(self, state, obj, names=None) -> None:
        state.expire(obj, names)
        if not state.committed_state and state.modified:
            state.mark_clean()
            self._modified.discard(state)

    def expire_all(self) -> None:
        """Expire every persistent object in the session."""
        for state in self.identity_map.all_states():
            obj = state.obj()
            if obj is not None:
                self._expire_state(state, obj)

    # -- merge ---------------------------------------------------------------------

    def merge(self, obj, load: bool = True):
        """Copy ``obj``'s state onto the session's object for the same row; return that object.

        ``obj`` itself is not added. With ``load=False`` no SQL is sent: the object
        must be clean, and its values are trusted as the row's.
        """
        return self._merge(obj, load, {})

    def _merge(self, obj, load, memo):
        if id(obj) in memo:
            return memo[id(obj)]
        info = instance_info(obj)
        source_state = state_of(obj)
        if source_state is not None and source_state.session_id == self.hash_key:
            return obj
        if not load and source_state is not None and source_state.committed_state:
            raise InvalidRequestError(
                f"merge(load=False) cannot merge {describe(obj)}: it has unflushed changes. "
                "Flush them in its own session first, or merge with load=True."
            )
        pk = obj.pk
        pk_known = pk is not None and not (isinstance(pk, tuple) and None in pk)
        target = None
        if pk_known:
            alias = self.get_bind(type(obj))
            target = self.identity_map.get((info.concrete_model, pk, alias))
            if target is None and load:
                target = self.get(type(obj), pk)
            if target is None and not load:
                target = self._merge_as_persistent(obj, info, pk, alias)
        if target is None:
            target = type(obj)()
            memo[id(obj)] = target
            self._copy_values(obj, target)
            self.add(target)
        else:
            memo[id(obj)] = target
            if load:
                self._copy_values(obj, target)
        self._merge_related(obj, target, load, memo)
        return target

    def _merge_as_persistent(self, obj, info, pk, alias):
        target = type(obj)()
        data = obj.__dict__
        target_data = target.__dict__
        for name in info.attnames:
            if name in data:
                target_data[name] = data[name]
            else:
                target_data.pop(name, None)
        target._state.adding = False
        target._state.db = alias
        state = ensure_state(target)
        state.key = (info.concrete_model, pk, alias)
        missing = [n for n in info.expirable if n not in target_data]
        if missing:
            state.expired_attributes = frozenset(missing)
        self._attach(state, target)
        return target

    def _copy_values(self, source, target) -> None:
        data = source.__dict__
        for name in instance_info(source).attnames:
            if name in data and target.__dict__.get(name, NO_VALUE) != data[name]:
                setattr(target, name, data[name])

    def _merge_related(self, source, target, load, memo) -> None:
        cache = source._state.fields_cache
        if not cache:
            return
        for fk in instance_info(source).fk_fields:
            related = cache.get(fk.name)
            if related is not None:
                target._state.fields_cache[fk.name] = self._merge(related, load, memo)

    # -- bulk operations (no unit of work; see sessionorm/bulk.py) --------------------

    def bulk_save_objects(self, objects, return_defaults=False, update_changed_only=True):
        """INSERT new and UPDATE saved objects in batches, skipping the unit of work."""
        from sessionorm import bulk

        bulk.bulk_save_objects(self, objects, return_defaults, update_changed_only)

    def bulk_insert_mappings(self, model, mappings, return_defaults=False):
        """INSERT one row per dict of field values, in batches."""
        from sessionorm import bulk

        bulk.bulk_insert_mappings(self, model, mappings, return_defaults)

    def bulk_update_mappings(self, model, mappings):
        """UPDATE one row per dict (primary key plus the fields to set), in batches."""
        from sessionorm import bulk

        bulk.bulk_update_mappings(self, model, mappings)

    # -- autoflush -------------------------------------------------------------------

    @property
    @contextlib.contextmanager
    def no_autoflush(self):
        """``with session.no_autoflush:`` queries inside do not flush first."""
        self._no_autoflush += 1
        try:
            yield self
        finally:
            self._no_autoflush -= 1

    def _has_changes(self) -> bool:
        return bool(self._new or self._modified or self._deleted)

    def _autoflush(self) -> None:
        if not self.autoflush or self._flushing or self._no_autoflush or not self._has_changes():
            return
        try:
            self.flush()
        except (SessionORMError, DatabaseError) as exc:
            exc.add_note(
                "This error was raised by the session's autoflush before a query or load. "
                "If the flush happens too early, wrap the code in `with session.no_autoflush:`."
            )
            raise

    # -- flush -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every pending change to the database, in dependency order, batched."""
        if self._flushing:
            raise InvalidRequestError(
                "flush() was called while this session is already flushing (from a signal "
                "receiver or a flush event listener). Do that work in an after_flush_postexec "
                "listener, or after the flush returns."
            )
        if not self._has_changes():
            return
        self._flushing = True
        try:
            self._flush()
        finally:
            self._flushing = False

    def _flush(self) -> None:
        transaction = self._work_transaction("flush")
        config = _config()
        ctx = FlushContext(
            self,
            send_signals=config.get("SEND_SIGNALS", True),
            batch_size=config.get("BATCH_SIZE"),
            copy_threshold=config.get("COPY_THRESHOLD"),
        )
        for fn in self.dispatch.before_flush:
            fn(self, ctx, None)
        try:
            plan = self._plan_flush(ctx)
            if plan:
                ctx.writing = True
                execute(plan, ctx)
        except BaseException as exc:
            ctx.undo()
            # A fault (lost connection, timeout, deadlock...) ended the transaction
            # even when it struck a query of the planning phase.
            fault = dberrors.translate(exc, "flush", transaction._aliases())
            if ctx.writing or fault is not None:
                transaction._flush_failed(fault or exc)
            if fault is not None:
                raise fault from exc
            raise
        for fn in self.dispatch.after_flush:
            fn(self, ctx)
        self._finalize_flush(ctx, plan, transaction)
        for fn in self.dispatch.after_flush_postexec:
            fn(self, ctx)

    def _plan_flush(self, ctx) -> FlushPlan:
        deletes = plan_deletes(self, list(self._deleted.items())) if self._deleted else []
        going = {id(obj) for step in deletes for _state, obj in step.states}
        inserts = self._groups_to_insert(ctx)
        updates = self._groups_to_update(ctx, going)
        saves = plan_saves(inserts, updates)
        if deletes and _replaces_deleted_rows(inserts, self._deleted):
            # delete(old); add(New(pk=old.pk)): Django's order, delete then create.
            return FlushPlan(deletes + saves)
        return FlushPlan(saves + deletes)

    def _groups_to_insert(self, ctx) -> list[RowGroup]:
        """The pending objects by (concrete model, database), after their pre_save."""
        groups: dict = {}
        # Two lists, not items(): a pre_save receiver may add objects (they wait for
        # the next flush), and no tuple per object stays alive through the loop.
        states, objects = list(self._new), list(self._new.values())
        signalled = ctx.listening(signals.pre_save, objects)
        for state, obj in zip(states, objects, strict=True):
            alias = self._alias_for_new(obj)
            if signalled and type(obj) in signalled:
                signals.pre_save.send(
                    sender=type(obj), instance=obj, raw=False, using=alias, update_fields=None
                )
            model = state.info.concrete_model
            group = groups.get((model, alias))
            if group is None:
                group = groups[(model, alias)] = RowGroup(model, alias)
            group.objects.append(obj)
            group.states.append(state)
        return list(groups.values())

    def _groups_to_update(self, ctx, going: set) -> list[RowGroup]:
        """The modified objects whose values really changed, by (model, database)."""
        groups: dict = {}
        for state in list(self._modified):
            obj = state.obj()
            if obj is None or id(obj) in going or state.deleted:
                continue
            changes = self._changes_to_write(ctx, state, obj)
            if changes is None:
                continue
            model, alias = state.key[0], state.key[2]
            group = groups.get((model, alias))
            if group is None:
                group = groups[(model, alias)] = RowGroup(model, alias, attnames=[])
            group.objects.append(obj)
            group.states.append(state)
            group.attnames.append(interned_names(changes))
        return list(groups.values())

    def _changes_to_write(self, ctx, state, obj):
        """The changed values an UPDATE of ``obj`` writes (after pre_save), or None."""
        changes = state.changes(obj)
        if not changes and not self._new_parents(state, obj):
            state.mark_clean()
            self._modified.discard(state)
            return None
        presave = state.info.update_presave_fields
        for field in presave:
            field.pre_save(obj, add=False)
        signalled = ctx.send_signals and ctx.listens(signals.pre_save, type(obj))
        if signalled:
            signals.pre_save.send(
                sender=type(obj), instance=obj, raw=False, using=state.key[2], update_fields=None
            )
        if presave or signalled:  # they may have changed values, or undone the change
            changes = state.changes(obj)
            if not changes and not self._new_parents(state, obj):
                return None
        return changes

    def _new_parents(self, state, obj) -> bool:
        """True if a foreign key of ``obj`` holds a pending object: ``author.publisher =
        Publisher()`` leaves ``publisher_id`` None, unchanged when it was None, yet the
        new key must be written."""
        cache = obj._state.fields_cache
        if not cache:
            return False
        new = self._new
        return any(state_of(cache.get(fk.name)) in new for fk in state.info.fk_fields)

    def _finalize_flush(self, ctx, plan, transaction) -> None:
        for state, obj in ctx.deleted:
            self._mark_deleted(state, obj, transaction)
        for step in ctx.inserted:
            self._record_inserted(step, transaction)
        # id(list of objects) -> their states: columns share lists, and a column over a
        # whole insert step's objects has the step's states.
        states_of = {id(step.objects): step.states for step in ctx.inserted}
        for objects, attname, olds in ctx.generated_columns():
            states = states_of.get(id(objects))
            if states is None:
                states = states_of[id(objects)] = [state_of(obj) for obj in objects]
            transaction.record_generated(states, attname, olds)
        for step in ctx.updated:
            self._record_updated(step, transaction)
        for state, obj, names in ctx.expire_after:
            state.expire(obj, names)
        self._expire_nulled_foreign_keys(plan)

    def _record_inserted(self, step, transaction) -> None:
        """The step's objects have rows now: pending -> persistent, in the identity map."""
        info = step.states[0].info
        model, alias, new = info.concrete_model, step.alias, self._new
        pk_attname = info.pk_attname if info.simple_pk else None
        for state, obj in zip(step.states, step.objects, strict=True):
            pk = obj.__dict__[pk_attname] if pk_attname is not None else obj.pk
            state.key = (model, pk, alias)
            state.mark_clean()
            del new[state]
        self.identity_map.add_all(step.states)
        transaction.record_inserted(step.states)
        for fn in self.dispatch.pending_to_persistent:
            for obj in step.objects:
                fn(self, obj)

    def _record_updated(self, step, transaction) -> None:
        """The step's rows are written: the objects are clean (and re-keyed if their
        primary key changed)."""
        identity, modified = self.identity_map, self._modified
        pk_attname = step.states[0].info.pk_attname if step.states[0].info.simple_pk else None
        for state, obj in zip(step.states, step.objects, strict=True):
            key = state.key
            pk = obj.__dict__.get(pk_attname) if pk_attname is not None else obj.pk
            if pk != key[1]:
                transaction._key_switches.setdefault(state, key)
                identity.replace_key(state, (key[0], pk, key[2]))
            state.mark_clean()
            modified.discard(state)
        transaction.record_updated(step.states)

    def _mark_deleted(self, state, obj, transaction) -> None:
        """The row of ``obj`` is gone: persistent -> deleted until the transaction ends."""
        self.identity_map.discard(state)
        self._deleted.pop(state, None)
        self._modified.discard(state)
        state.mark_clean()
        state.deleted = state.was_deleted = True
        transaction._deleted[state] = obj
        for fn in self.dispatch.persistent_to_deleted:
            fn(self, obj)

    def _expire_nulled_foreign_keys(self, plan) -> None:
        """Objects whose foreign key a SET_NULL/SET_DEFAULT rule changed reload it."""
        for step in plan.steps:
            if step.kind != "delete" or not step.field_updates:
                continue
            gone: dict = {}
            for model, objects in step.batches:
                gone.setdefault(model._meta.concrete_model, set()).update(o.pk for o in objects)
            for field, _value, _targets in step.field_updates:
                keys = gone.get(field.related_model._meta.concrete_model, set())
                for state in self.identity_map.states_of(
                    field.model._meta.concrete_model, step.alias
                ):
                    obj = state.obj()
                    if obj is not None and obj.__dict__.get(field.attname) in keys:
                        state.expire(obj, [field.attname])

    # -- bulk query operations --------------------------------------------------------

    def _mapped_keys_matching(self, queryset) -> set | None:
        concrete = queryset.model._meta.concrete_model
        if not self.identity_map.has_model(concrete, queryset.db):
            return None
        return set(
            queryset.model._base_manager.db_manager(queryset.db)
            .filter(pk__in=queryset.values("pk"))
            .values_list("pk", flat=True)
        )

    def _after_bulk_update(self, queryset, affected, values, rowcount) -> None:
        if affected:
            concrete = queryset.model._meta.concrete_model
            info = model_info(queryset.model)
            names = [queryset.model._meta.get_field(name).attname for name in values]
            names = [n for n in names if n in info.tracked]
            for pk in affected:
                state = self.identity_map.get_state((concrete, pk, queryset.db))
                obj = state.obj() if state is not None else None
                if obj is not None:
                    self._expire_state(state, obj, names)
        context = BulkContext(self, queryset, rowcount, values)
        for fn in self.dispatch.after_bulk_update:
            fn(context)

    def _bulk_delete(self, queryset):
        from sessionorm.deletion import SessionCollector

        alias = queryset.db
        collector = SessionCollector(self, using=alias, origin=queryset)
        collector.collect(queryset._chain())
        marked, keys = [], []
        for model, instances in collector.data.items():
            concrete = model._meta.concrete_model
            for instance in instances:
                keys.append((instance, instance.pk))
                state = self.identity_map.get_state((concrete, instance.pk, alias))
                if state is not None and state.obj() is not None:
                    marked.append((state, state.obj()))
        result = collector.delete()
        # Django's Collector.delete() sets each deleted instance's key to None. Put it
        # back: the session's objects keep their key as after a flushed delete (a
        # rollback brings them back), and the others' keys are what tells the objects
        # a SET_NULL rule changed (_expire_nulled_foreign_keys below).
        for instance, pk in keys:
            state = state_of(instance)
            with state.loading() if state is not None else contextlib.nullcontext():
                instance.pk = pk
        transaction = self._work_transaction("delete")
        for state, obj in marked:
            self._mark_deleted(state, obj, transaction)
        self._expire_nulled_foreign_keys(FlushPlan([_CollectedDeletes(alias, collector)]))
        context = BulkContext(self, queryset, result[0])
        for fn in self.dispatch.after_bulk_delete:
            fn(context)
        return result

    # -- transaction outcomes -----------------------------------------------------------

    def _after_root_commit(self, transaction) -> None:
        for state, obj in transaction._deleted.items():
            state.session_id = None
            state.deleted = False
            state._strong = None
            for fn in self.dispatch.deleted_to_detached:
                fn(self, obj)
        if self.expire_on_commit:
            self.expire_all()

    def _restore_snapshot(self, transaction) -> None:
        """Undo in memory what ``transaction`` did (see ``rollback()``)."""
        identity = self.identity_map
        self._undo_inserts(transaction, pending=list(self._new))
        for state, old_key in transaction._key_switches.items():
            obj = state.obj()
            if obj is None:
                continue  # collected: already out of the map, nothing to put back
            identity.replace_key(state, old_key)
            with state.loading():  # primary keys never expire: put the old one back
                obj.pk = old_key[1]
        for state, obj in list(transaction._deleted.items()) + list(self._deleted.items()):
            if state.key is None:  # inserted in this transaction too: transient above
                state.deleted = False
                self._deleted.pop(state, None)
                continue
            state.deleted = False
            state.session_id = self.hash_key
            if identity.get_state(state.key) is None:
                identity.add(state)
            state._strong = None
            self._deleted.pop(state, None)
            for fn in self.dispatch.deleted_to_persistent:
                fn(self, obj)
        self._deleted.clear()
        if transaction.nested:
            targets = {s for s in self._modified} | set(transaction._dirty)
        else:
            targets = identity.all_states()
        for state in list(targets):
            obj = state.obj()
            if obj is not None and state.key is not None and state.session_id == self.hash_key:
                self._expire_state(state, obj)

    def _undo_inserts(self, transaction, pending=()) -> None:
        """The objects ``transaction`` inserted (and ``pending`` ones) become transient,
        without the values the database generated for them: their rows are gone."""
        objects: dict = {}
        for state in itertools.chain(transaction._new, pending):
            if state not in objects:
                obj = state.obj()
                if obj is not None:
                    objects[state] = obj
        transaction.restore_generated(objects)
        for state, obj in objects.items():
            self._make_transient_after_rollback(state, obj)

    def _make_transient_after_rollback(self, state, obj) -> None:
        self.identity_map.discard(state)
        self._new.pop(state, None)
        self._modified.discard(state)
        was_persistent = state.key is not None
        state.key = None
        state.session_id = None
        state._strong = None
        state.mark_clean()
        obj._state.adding = True
        obj._state.db = None
        name = "persistent_to_transient" if was_persistent else "pending_to_transient"
        for fn in getattr(self.dispatch, name):
            fn(self, obj)


def _replaces_deleted_rows(inserts, deleted) -> bool:
    """True if a new object takes the primary key of a row deleted in the same flush."""
    gone = {state.key for state in deleted}
    return any(
        (group.model, obj.pk, group.alias) in gone for group in inserts for obj in group.objects
    )


class _CollectedDeletes:
    """Adapts a Django collector to the shape ``_expire_nulled_foreign_keys`` reads."""

    kind = "delete"

    def __init__(self, alias, collector):
        self.alias = alias
        self.batches = list(collector.data.items())
        self.field_updates = [(f, v, t) for (f, v), t in collector.field_updates.items()]


class Result:
    """The outcome of :meth:`Session.execute`."""

    def __init__(self, rows, rowcount, description):
        self.rows = rows
        self.rowcount = rowcount
        self.columns = [col[0] for col in description] if description else []

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def fetchall(self):
        return list(self.rows)

    def first(self):
        return self.rows[0] if self.rows else None

    def scalar(self):
        return self.rows[0][0] if self.rows else None

    def scalars(self):
        return [row[0] for row in self.rows]


# -- sessionmaker ---------------------------------------------------------------------


class sessionmaker:  # noqa: N801 - SQLAlchemy's name, a factory used like a class
    """A configured factory of sessions::

    Session = sessionmaker(expire_on_commit=False)
    with Session.begin() as session:   # commits at the end, rolls back on error
        session.add(obj)
    """

    def __init__(self, class_=None, **kw):
        self.class_ = class_ or Session
        self.kw = kw

    def __call__(self, **local_kw) -> Session:
        kw = {**self.kw, **local_kw}
        return self.class_(_factory=self, **kw)

    def configure(self, **kw) -> None:
        """Change the arguments of sessions made from now on."""
        self.kw.update(kw)

    @contextlib.contextmanager
    def begin(self):
        """A new session in a transaction: committed at the end, closed always."""
        with self() as session, session.begin():
            yield session

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kw.items())
        return f"sessionmaker(class_={self.class_.__name__}{', ' if args else ''}{args})"


# -- module functions -------------------------------------------------------------------


def object_session(obj) -> Session | None:
    """The session ``obj`` belongs to, or None."""
    state = state_of(obj)
    return state.session if state is not None else None


def close_all_sessions() -> None:
    """Close every session in this process (for tests and shutdown)."""
    for session in list(_sessions.values()):
        session.close()


def make_transient(obj) -> None:
    """Turn ``obj`` back into a new object: no session, no identity; its values stay."""
    state = state_of(obj)
    if state is None:
        return
    session = state.session
    was_persistent = state.key is not None and session is not None
    if session is not None:
        session._new.pop(state, None)
        session._deleted.pop(state, None)
        session._modified.discard(state)
        session.identity_map.discard(state)
    state.session_id = None
    state.key = None
    state.deleted = False
    state.expired_attributes = None
    state.mark_clean()
    obj._state.adding = True
    if was_persistent:
        for fn in session.dispatch.persistent_to_transient:
            fn(session, obj)


def make_transient_to_detached(obj) -> None:
    """Give a transient object with a primary key the identity of its row (detached)."""
    state = ensure_state(obj)
    if state.detached:
        return  # an object Django loaded or saved already has its row's identity
    if not state.transient:
        raise InvalidRequestError(f"{describe(obj)} is {state.status}, not transient.")
    pk = obj.pk
    if pk is None or (isinstance(pk, tuple) and None in pk):
        raise InvalidRequestError(
            f"{describe(obj)} has no primary key; set it before make_transient_to_detached()."
        )
    alias = obj._state.db or router.db_for_write(type(obj), instance=obj)
    state.key = (state.info.concrete_model, pk, alias)
    obj._state.adding = False
    obj._state.db = alias
    missing = [n for n in state.info.expirable if n not in obj.__dict__]
    if missing:
        state.expired_attributes = frozenset(missing)
