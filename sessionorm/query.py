"""Session-bound QuerySets: Django's QuerySet API over the identity map.

``session.query(Book)`` returns the model's ordinary QuerySet (its manager's own
class, so custom QuerySet methods keep working), changed in three ways:

- evaluating it autoflushes first and runs inside the session's transaction;
- every model row it returns, ``select_related`` and ``prefetch_related``
  objects included, is the session's one object for that row; an object
  already in the session keeps its in-memory state (unless
  ``populate_existing()``), and its expired attributes are filled from the row;
- ``update()`` and ``delete()`` keep the identity map true and fire the
  ``after_bulk_update`` / ``after_bulk_delete`` events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models.query import ModelIterable

__all__ = ["SessionQuerySetMixin", "SessionModelIterable", "session_queryset", "BulkContext"]


@dataclass
class BulkContext:
    """What ``after_bulk_update`` / ``after_bulk_delete`` listeners receive."""

    session: Any
    queryset: Any
    rowcount: int
    values: dict | None = None


class SessionModelIterable(ModelIterable):
    """Yields the session's object for each row instead of a fresh instance."""

    def __iter__(self):
        qs = self.queryset
        register = qs._sessionorm_session._register_loaded
        alias = qs.db
        populate = qs._sessionorm_populate_existing
        annotations = tuple(qs.query.annotation_select)
        for obj in super().__iter__():
            yield register(obj, alias, populate, annotations)


class SessionQuerySetMixin:
    _sessionorm_session = None
    _sessionorm_populate_existing = False

    def _clone(self):
        clone = super()._clone()
        clone._sessionorm_session = self._sessionorm_session
        clone._sessionorm_populate_existing = self._sessionorm_populate_existing
        return clone

    def _sessionorm_prepare(self):
        session = self._sessionorm_session
        session._autoflush()
        session._connection_for_alias(self.db)

    # -- evaluation --------------------------------------------------------------

    def _fetch_all(self):
        if self._result_cache is None:
            self._sessionorm_prepare()
        super()._fetch_all()

    def _prefetch_related_objects(self):
        super()._prefetch_related_objects()
        session = self._sessionorm_session
        for obj in self._result_cache or ():
            if hasattr(obj, "_meta"):
                session._adopt_prefetched(obj, self.db)

    def _iterator(self, use_chunked_fetch, chunk_size):
        self._sessionorm_prepare()
        yield from super()._iterator(use_chunked_fetch, chunk_size)

    def count(self):
        if self._result_cache is None:
            self._sessionorm_prepare()
        return super().count()

    def exists(self):
        if self._result_cache is None:
            self._sessionorm_prepare()
        return super().exists()

    def aggregate(self, *args, **kwargs):
        self._sessionorm_prepare()
        return super().aggregate(*args, **kwargs)

    def explain(self, *args, **kwargs):
        self._sessionorm_prepare()
        return super().explain(*args, **kwargs)

    def populate_existing(self):
        """Overwrite the in-memory state of objects already in the session."""
        clone = self._chain()
        clone._sessionorm_populate_existing = True
        return clone

    # -- bulk writes ---------------------------------------------------------------

    def update(self, **kwargs):
        session = self._sessionorm_session
        self._sessionorm_prepare()
        affected = session._mapped_keys_matching(self)
        rowcount = super().update(**kwargs)
        session._after_bulk_update(self, affected, kwargs, rowcount)
        return rowcount

    update.alters_data = True

    def delete(self):
        session = self._sessionorm_session
        self._sessionorm_prepare()
        result = session._bulk_delete(self)
        return result

    delete.alters_data = True


_classes: dict[type, type] = {}


def _session_class(base: type) -> type:
    cls = _classes.get(base)
    if cls is None:
        cls = _classes[base] = type(f"Session{base.__name__}", (SessionQuerySetMixin, base), {})
    return cls


def session_queryset(session, model, manager=None, alias=None):
    """A QuerySet of ``model`` bound to ``session`` (see the module docstring)."""
    manager = manager if manager is not None else model._default_manager
    qs = manager.db_manager(alias).all()
    qs.__class__ = _session_class(type(qs))
    qs._sessionorm_session = session
    if qs._iterable_class is ModelIterable:
        qs._iterable_class = SessionModelIterable
    return qs
