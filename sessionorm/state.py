"""Per-object bookkeeping: lifecycle state, attribute history, expiry.

Every model instance that meets a session carries one :class:`InstanceState` in
its ``__dict__``. The state holds a *weak* reference to its object; the session
holds the state. While the object has unflushed changes (pending, modified or
marked for deletion) the state also holds the object strongly, so the session
keeps what it still has to write and lets go of clean objects.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import NamedTuple

from sessionorm.exc import DetachedInstanceError, describe
from sessionorm.instrumentation import STATE_ATTR, ModelInfo, instance_info

__all__ = ["InstanceState", "History", "inspect", "NO_VALUE", "new_state", "state_of"]


class _NoValue:
    __slots__ = ()

    def __repr__(self):
        return "NO_VALUE"

    def __reduce__(self):
        return "NO_VALUE"


#: The old value of an attribute that was not loaded when it was changed.
NO_VALUE = _NoValue()

# Sessions by id, weakly: states refer to their session by id so that objects
# never keep a session alive.
_sessions: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class History(NamedTuple):
    """An attribute's change since it was loaded: ``(added, unchanged, deleted)``."""

    added: tuple
    unchanged: tuple
    deleted: tuple

    def has_changes(self) -> bool:
        return bool(self.added or self.deleted)


class AttributeState:
    """``inspect(obj).attrs[name]``: one attribute's loaded value and history."""

    __slots__ = ("_state", "_obj", "key")

    def __init__(self, state, obj, key):
        self._state, self._obj, self.key = state, obj, key

    @property
    def loaded_value(self):
        return self._obj.__dict__.get(self.key, NO_VALUE)

    @property
    def value(self):
        return getattr(self._obj, self.key)

    @property
    def history(self) -> History:
        return self._state.history(self._obj, self.key)


class _Attrs:
    __slots__ = ("_state", "_obj")

    def __init__(self, state, obj):
        self._state, self._obj = state, obj

    def _attname(self, name):
        info = self._state.info
        if name in info.tracked:
            return name
        try:
            return info.model._meta.get_field(name).attname
        except Exception:
            raise KeyError(name) from None

    def __getitem__(self, name) -> AttributeState:
        return AttributeState(self._state, self._obj, self._attname(name))

    def __getattr__(self, name) -> AttributeState:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def keys(self):
        return list(self._state.info.attnames)

    def __iter__(self):
        return (self[name] for name in self._state.info.attnames)


class InstanceState(weakref.ref):
    """Lifecycle and change record of one model instance.

    The state *is* the weak reference to its object (``state.obj()`` or
    ``state()`` returns the object, or None once it was collected): one
    allocation per tracked object instead of three (state, weakref, bound
    callback), which matters when a flush or a load touches 100,000 of them.
    Equality and hashing are by identity, not by the referent as for a plain
    ``weakref.ref``: states are dictionary keys, and unsaved model instances
    are unhashable.

    The five states follow from three facts: whether the object has an identity
    ``key`` (a row it came from or was written to), whether it is attached to a
    session, and whether its DELETE was flushed.

    ============  =====  ========  ========
    state         key    session   deleted
    ============  =====  ========  ========
    transient     no     no
    pending       no     yes
    persistent    yes    yes       no
    deleted       yes    yes       yes
    detached      yes    no
    ============  =====  ========  ========
    """

    __slots__ = (
        "_strong",
        "info",
        "session_id",
        "key",
        "committed_state",
        "expired_attributes",
        "modified",
        "deleted",
        "was_deleted",
        "_loading",
    )

    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    obj = weakref.ref.__call__  # the object, or None once collected

    def __init__(self, obj, callback):
        # Built by new_state(obj, info): weakref.ref's own constructor takes the
        # referent and the callback, and a Python __new__ to pass them would double
        # the cost of creating a state, which every loaded and added object pays.
        if callback is not _on_collected:
            raise TypeError("create states with new_state(obj, info)")
        self._strong = None
        self.session_id: int | None = None
        self.key: tuple | None = None
        # attname -> value before the first change since load/flush; None when clean.
        self.committed_state: dict | None = None
        # attnames removed from the object's __dict__, to load on next access
        # (immutable: a full expiry shares ModelInfo.expirable_set).
        self.expired_attributes: frozenset | None = None
        self.modified = False
        self.deleted = False
        self.was_deleted = False
        self._loading = False

    def __reduce__(self):
        # A pickled or deep-copied object leaves its session behind: it comes
        # back transient, and session.merge() brings it into a session again.
        return (_lost_state, ())

    def __deepcopy__(self, memo):
        return None

    def __repr__(self):
        return f"<InstanceState {self.status} {self.key!r}>"

    # -- lifecycle ---------------------------------------------------------

    @property
    def session(self):
        sid = self.session_id
        return _sessions.get(sid) if sid is not None else None

    @property
    def transient(self) -> bool:
        return self.key is None and self.session_id is None

    @property
    def pending(self) -> bool:
        return self.key is None and self.session_id is not None

    @property
    def persistent(self) -> bool:
        return self.key is not None and self.session_id is not None and not self.deleted

    @property
    def detached(self) -> bool:
        return self.key is not None and self.session_id is None

    @property
    def status(self) -> str:
        if self.key is None:
            return "pending" if self.session_id is not None else "transient"
        if self.session_id is None:
            return "detached"
        return "deleted" if self.deleted else "persistent"

    @property
    def has_identity(self) -> bool:
        return self.key is not None

    @property
    def identity(self) -> tuple | None:
        """The primary key as a tuple (SQLAlchemy's form), or None before a flush."""
        if self.key is None:
            return None
        pk = self.key[1]
        return pk if isinstance(pk, tuple) else (pk,)

    @property
    def identity_key(self):
        return self.key

    @property
    def object(self):
        return self.obj()

    @property
    def attrs(self) -> _Attrs:
        return _Attrs(self, self.obj())

    @property
    def unloaded(self) -> set:
        obj = self.obj()
        return {name for name in self.info.attnames if name not in obj.__dict__}

    # -- change tracking ---------------------------------------------------

    def on_set(self, obj, name) -> None:
        """Called by the class's ``__setattr__`` before ``obj.name`` changes."""
        if name not in self.info.tracked or self._loading or self.obj() is not obj:
            return
        expired = self.expired_attributes
        if expired and name in expired:
            self.expired_attributes = expired - {name} or None
            old = NO_VALUE
        else:
            old = obj.__dict__.get(name, NO_VALUE)
        if self.key is None:
            return  # pending: the whole object is inserted, no history needed
        committed = self.committed_state
        if committed is None:
            committed = self.committed_state = {}
        if name not in committed:
            committed[name] = old
        if not self.modified:
            session = self.session
            if session is not None:
                self.modified = True
                self._strong = obj
                session._modified.add(self)

    def on_assign_related(self, obj, related) -> None:
        """Save-update cascade at assignment, as SQLAlchemy does it.

        An object assigned to a foreign key of an object in a session joins that
        session when it is in none (transient, or detached).
        """
        if related is None or self.obj() is not obj or not hasattr(related, "_meta"):
            return
        session = self.session
        related_state = state_of(related)
        if session is not None and (related_state is None or related_state.session_id is None):
            session.add(related)

    @contextlib.contextmanager
    def loading(self):
        """Write loaded values into the object without recording them as changes."""
        previous, self._loading = self._loading, True
        try:
            yield
        finally:
            self._loading = previous
            expired = self.expired_attributes
            if expired:
                self.expired_attributes = expired.difference(self.obj().__dict__) or None

    def changes(self, obj) -> dict:
        """attname -> new value for attributes whose value really changed."""
        committed = self.committed_state
        if not committed:
            return {}
        data = obj.__dict__
        changed = {}
        for name, old in committed.items():
            if name not in data:
                continue  # expired again since the change: nothing to write
            new = data[name]
            if old is NO_VALUE or not _same(old, new):
                changed[name] = new
        return changed

    def history(self, obj, attname) -> History:
        data = obj.__dict__
        if attname not in data:
            return History((), (), ())
        value = data[attname]
        if self.key is None:
            return History((value,), (), ())
        committed = self.committed_state or {}
        if attname in committed:
            old = committed[attname]
            if old is NO_VALUE:
                return History((value,), (), ())
            if not _same(old, value):
                return History((value,), (), (old,))
        return History((), (value,), ())

    def mark_clean(self) -> None:
        """Forget recorded changes after a flush wrote them (or discarded them)."""
        self.committed_state = None
        self.modified = False
        self._strong = None

    # -- expiry ------------------------------------------------------------

    @property
    def expired(self) -> bool:
        return bool(self.expired_attributes)

    def is_expired(self, obj, attname) -> bool:
        expired = self.expired_attributes
        return bool(expired) and attname in expired and self.obj() is obj

    def expire(self, obj, attnames=None) -> None:
        """Drop loaded values (and unflushed changes) so they load again on access."""
        info = self.info
        # Primary keys identify the row and never expire (see ModelInfo.expirable).
        data = obj.__dict__
        if attnames is None:
            names = info.expirable
            # Expiring everything is what commit does to every object: all of them
            # share the model's one frozenset instead of a set each.
            self.expired_attributes = info.expirable_set
        else:
            names = attnames
            expired = self.expired_attributes
            self.expired_attributes = expired.union(names) if expired else frozenset(names)
        for name in names:
            data.pop(name, None)
        if self.committed_state:
            for name in names:
                self.committed_state.pop(name, None)
            if attnames is None:
                # What is left are key columns: undo their unflushed change instead.
                for name, old in self.committed_state.items():
                    if old is not NO_VALUE:
                        data[name] = old
                self.committed_state = None
            elif not self.committed_state:
                self.committed_state = None
        cache = obj._state.__dict__.get("fields_cache")
        if cache:
            if attnames is None:
                cache.clear()
            else:
                for field in info.fk_fields:
                    if field.attname in names:
                        cache.pop(field.name, None)

    def load_expired(self, obj) -> None:
        """Load every expired attribute of ``obj`` in one SELECT through its session."""
        session = self.session
        if session is None:
            raise DetachedInstanceError(
                f"{describe(obj)} is detached from its session, so its expired attributes "
                f"({', '.join(sorted(self.expired_attributes))}) cannot load. Add it to a "
                "session (session.add(obj)) or use session.merge(obj) first."
            )
        session._load_attributes(obj, self, sorted(self.expired_attributes), autoflush=False)


def new_state(obj, info: ModelInfo) -> InstanceState:
    """A new state for ``obj`` (transient until a session takes it)."""
    state = InstanceState(obj, _on_collected)
    state.info = info
    return state


def _on_collected(state) -> None:
    """The object of ``state`` was garbage-collected: its row leaves the identity map."""
    session = state.session
    if session is not None:
        session.identity_map._discard_collected(state)


def _lost_state():
    return None


def _same(old, new) -> bool:
    try:
        return bool(old == new) and type(old) is type(new)
    except Exception:
        return old is new


def state_of(obj) -> InstanceState | None:
    """The object's state if it has one (never creates one)."""
    try:
        state = obj.__dict__.get(STATE_ATTR)
    except AttributeError:
        return None
    if state is not None and state.obj() is not obj:
        return None  # a copy.copy() of a tracked object: it starts transient
    return state


def ensure_state(obj) -> InstanceState:
    """The object's state, creating one for a model instance seen for the first time.

    An object Django itself saved or loaded (``objects.get()``, ``objects.create()``:
    ``_state.adding`` is False and it has a primary key) has a row, so it starts
    *detached*, keyed by the database Django used; ``session.add()`` then makes it
    persistent instead of inserting it again. Its values are taken as the row's:
    changes made before it joined a session are not known to it (use
    ``session.merge(obj)`` to compare them with the row).
    """
    state = state_of(obj)
    if state is None:
        info = instance_info(obj)
        state = new_state(obj, info)
        django_state = obj._state
        if not django_state.adding and django_state.db is not None:
            pk = obj.pk
            if pk is not None and not (isinstance(pk, tuple) and None in pk):
                state.key = (info.concrete_model, pk, django_state.db)
        obj.__dict__[STATE_ATTR] = state
    return state


def inspect(obj) -> InstanceState:
    """The lifecycle and history of a model instance::

    state = inspect(book)
    state.pending, state.persistent, state.key
    state.attrs.title.history   # History(added=(...), unchanged=(), deleted=(...))
    """
    return ensure_state(obj)
