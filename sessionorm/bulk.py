"""SQLAlchemy 1.3's bulk API: the fast path that skips the unit of work.

``bulk_save_objects``, ``bulk_insert_mappings`` and ``bulk_update_mappings`` write
rows in the same batched statements as a flush (multi-row INSERT or COPY, one
``UPDATE ... FROM (VALUES ...)`` per set of columns) inside the session's
transaction, but do none of the rest: the objects do not join the identity map,
nothing cascades, no foreign keys are copied from related objects, no events or
model signals fire, and the rows are not ordered by their dependencies. Use them
to load or rewrite many rows whose keys you already have; use ``add_all()`` and a
flush for everything else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sessionorm.exc import InvalidRequestError
from sessionorm.instrumentation import instance_info, model_info
from sessionorm.persistence import (
    FlushContext,
    _insert_into,
    _split_by_table,
    _sync_parent_links,
    _update_rows,
)
from sessionorm.state import state_of

__all__ = ["bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"]


def _context(session) -> FlushContext:
    from sessionorm.session import _config

    config = _config()
    return FlushContext(
        session,
        send_signals=False,
        batch_size=config.get("BATCH_SIZE"),
        copy_threshold=config.get("COPY_THRESHOLD"),
    )


def _insert(session, model, objects) -> None:
    if not objects:
        return
    alias = session.get_bind(model)
    connection = session._connection_for_alias(alias)
    ctx = _context(session)
    for table in model_info(model).tables:
        _sync_parent_links(table, objects, ctx)
        _insert_into(table, objects, alias, connection, ctx)
    for obj in objects:
        obj._state.adding, obj._state.db = False, alias


def _update(session, model, objects, names_per_object) -> None:
    if not objects:
        return
    alias = session.get_bind(model)
    connection = session._connection_for_alias(alias)
    ctx = _context(session)
    info = model_info(model)
    groups: dict = defaultdict(list)
    for obj, names in zip(objects, names_per_object, strict=True):
        for table, table_names in _split_by_table(info, names):
            groups[(table, table_names)].append(obj)
    for (table, names), rows in groups.items():  # keyed by obj.pk: no states
        _update_rows(table, info, names, rows, None, alias, connection, ctx)


def bulk_save_objects(session, objects: Iterable, return_defaults=False, update_changed_only=True):
    """INSERT new objects and UPDATE saved ones, batched, outside the unit of work.

    An object is new when Django would insert it (``_state.adding``); a saved one
    writes the attributes changed since it was loaded if the session tracks it
    (``update_changed_only``), else all its fields. Generated keys are always set
    on the new objects (``return_defaults`` is accepted for SQLAlchemy's
    signature: PostgreSQL and SQLite return them at no extra cost).
    """
    session._autobegin()
    inserts: dict = defaultdict(list)
    updates: dict = defaultdict(list)
    for obj in objects:
        info = instance_info(obj)
        if obj._state.adding:
            inserts[type(obj)].append(obj)
            continue
        state = state_of(obj)
        if update_changed_only and state is not None and state.key is not None:
            names = tuple(sorted(state.changes(obj)))
            if not names:
                continue
        else:
            keys = {f.attname for f in info.pk_fields}
            names = tuple(n for n in info.attnames if n not in keys)
        updates[type(obj)].append((obj, names))
    for model, group in inserts.items():
        _insert(session, model, group)
    for model, pairs in updates.items():
        _update(session, model, [o for o, _ in pairs], [n for _, n in pairs])
        for obj, _names in pairs:  # what was written is no longer a pending change
            state = state_of(obj)
            if state is not None and state.committed_state:
                state.mark_clean()
                session._modified.discard(state)


def bulk_insert_mappings(session, model, mappings: Iterable[dict], return_defaults=False):
    """INSERT one row per dict of field values; with ``return_defaults`` the dicts
    receive the generated primary key."""
    session._autobegin()
    mappings = list(mappings)
    objects = [model(**mapping) for mapping in mappings]
    _insert(session, model, objects)
    if return_defaults:
        attname = model._meta.pk.attname
        for mapping, obj in zip(mappings, objects, strict=True):
            mapping[attname] = obj.pk


def bulk_update_mappings(session, model, mappings: Iterable[dict]):
    """UPDATE one row per dict; each dict names the primary key and the fields to set."""
    session._autobegin()
    opts = model._meta
    pk_names = {opts.pk.name, opts.pk.attname, "pk"}
    objects, names_per_object = [], []
    for mapping in mappings:
        key = next((mapping[name] for name in pk_names if name in mapping), None)
        if key is None:
            raise InvalidRequestError(
                f"bulk_update_mappings({model.__name__}): {mapping!r} names no primary key "
                f"({opts.pk.attname}); each dict must name the row it updates."
            )
        values = {
            opts.get_field(name).attname: value
            for name, value in mapping.items()
            if name not in pk_names
        }
        row = model()  # a carrier for the values; never added to the session
        row.__dict__.update(values)
        row.__dict__[opts.pk.attname] = key
        objects.append(row)
        names_per_object.append(tuple(sorted(values)))
    _update(session, model, objects, names_per_object)
