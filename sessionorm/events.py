"""Session events: ``listen``, ``listens_for`` and ``remove``.

A listener is registered on a target: a :class:`~sessionorm.Session` instance, a
:func:`~sessionorm.sessionmaker` factory (every session it makes), or the
``Session`` class or a subclass (every session of that class). The event names and
their arguments are SQLAlchemy's.

Dispatch is on the flush's hot path (``pending_to_persistent`` fires once per
inserted row), so each session caches its resolved listener lists and only
rebuilds them when a registration anywhere changes.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable

from sessionorm.exc import InvalidRequestError

__all__ = ["EVENT_NAMES", "listen", "listens_for", "remove", "contains"]

EVENT_NAMES = frozenset(
    {
        "after_transaction_create",
        "after_transaction_end",
        "after_begin",
        "before_commit",
        "after_commit",
        "after_rollback",
        "after_soft_rollback",
        "before_flush",
        "after_flush",
        "after_flush_postexec",
        "before_attach",
        "after_attach",
        "after_bulk_update",
        "after_bulk_delete",
        "transient_to_pending",
        "pending_to_transient",
        "pending_to_persistent",
        "persistent_to_detached",
        "persistent_to_deleted",
        "deleted_to_detached",
        "deleted_to_persistent",
        "detached_to_persistent",
        "loaded_as_persistent",
        "persistent_to_transient",
    }
)

# target -> {event name -> [listener, ...]}; weak so that a discarded session or
# factory takes its listeners with it.
_registry: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check(target, name: str) -> None:
    if name not in EVENT_NAMES:
        raise InvalidRequestError(
            f"No session event named {name!r}. Known events: {', '.join(sorted(EVENT_NAMES))}."
        )
    from sessionorm.session import Session, sessionmaker

    is_session_class = isinstance(target, type) and issubclass(target, Session)
    if not (is_session_class or isinstance(target, (Session, sessionmaker))):
        raise InvalidRequestError(
            f"Cannot listen for {name!r} on {target!r}: the target must be a Session, "
            "a sessionmaker, or the Session class (or a subclass)."
        )


def _bump() -> None:
    for dispatcher in list(_dispatchers):
        dispatcher._forget()


def listen(target, name: str, fn: Callable) -> None:
    """Call ``fn`` whenever event ``name`` fires for ``target``."""
    _check(target, name)
    _registry.setdefault(target, defaultdict(list))[name].append(fn)
    _bump()


def listens_for(target, name: str) -> Callable[[Callable], Callable]:
    """Decorator form of :func:`listen`::

    @event.listens_for(Session, "after_commit")
    def log_commit(session): ...
    """

    def decorate(fn: Callable) -> Callable:
        listen(target, name, fn)
        return fn

    return decorate


def remove(target, name: str, fn: Callable) -> None:
    """Undo :func:`listen`; raises if ``fn`` was not registered there."""
    listeners = _registry.get(target, {}).get(name, [])
    if fn not in listeners:
        raise InvalidRequestError(f"{fn!r} is not listening for {name!r} on {target!r}.")
    listeners.remove(fn)
    _bump()


def contains(target, name: str, fn: Callable) -> bool:
    """True if ``fn`` is registered for ``name`` on ``target``."""
    return fn in _registry.get(target, {}).get(name, [])


class SessionDispatch:
    """The resolved listeners of one session.

    ``session.dispatch.after_commit`` is the list of listeners for that event
    (empty when nobody listens). The first access resolves the list and stores it
    as a plain attribute, so later accesses, once per object on the flush's hot
    path, are ordinary attribute reads; any listen() or remove() anywhere drops
    every session's stored lists.
    """

    def __init__(self, session):
        self._session_ref = weakref.ref(session)
        _dispatchers.add(self)

    def _targets(self, session):
        yield from reversed(type(session).__mro__)
        if session._factory is not None:
            yield session._factory
        yield session

    def _resolve(self, name: str) -> list[Callable]:
        session = self._session_ref()
        fns: list[Callable] = []
        for target in self._targets(session):
            try:
                entries = _registry.get(target)
            except TypeError:  # some classes in the MRO cannot be weakly referenced
                entries = None
            if entries:
                fns.extend(entries.get(name, ()))
        return fns

    def __getattr__(self, name: str) -> list[Callable]:
        if name.startswith("_") or name not in EVENT_NAMES:
            raise AttributeError(name)
        fns = self._resolve(name)
        self.__dict__[name] = fns
        return fns

    def has(self, name: str) -> bool:
        return bool(getattr(self, name))

    def _forget(self) -> None:
        session_ref = self._session_ref
        self.__dict__.clear()
        self._session_ref = session_ref


# Every live dispatcher, so a registration change can drop their stored lists.
_dispatchers: weakref.WeakSet = weakref.WeakSet()
