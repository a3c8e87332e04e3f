"""Planning deletes with Django's deletion collector.

``session.delete(obj)`` must honour the ``on_delete`` rules Django users rely on
(CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, SET(), DO_NOTHING), so the
flush asks Django's :class:`~django.db.models.deletion.Collector` which rows they
reach, before anything is written. A ``ProtectedError`` or ``RestrictedError``
therefore surfaces with nothing half-written.

Two changes to the collector keep the identity map true: rows the session holds
objects for are never "fast deleted" (the flush must know which of its objects
went), and every collected row the session holds is replaced by the session's
own object, so signals and the session see one object per row.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models.deletion import Collector

from sessionorm.unitofwork import DeleteStep

__all__ = ["plan_deletes"]


class SessionCollector(Collector):
    def __init__(self, session, using, origin=None, going=None):
        super().__init__(using=using, origin=origin)
        self.session = session
        # concrete model -> primary keys of the objects passed to session.delete()
        self.going: dict = going or {}

    def related_objects(self, related_model, related_fields, objs):
        """Rows that refer to ``objs``, less those the session deletes itself.

        Deleting a Loan and its Book in one flush must not trip the Loan's PROTECT
        (or RESTRICT) rule: the Loan is recorded as deleted before the Book instead.
        """
        qs = super().related_objects(related_model, related_fields, objs)
        going = self.going.get(related_model._meta.concrete_model)
        if going:
            qs = qs.exclude(pk__in=going)
            self.add_dependency(related_fields[0].remote_field.model, related_model)
        moved = _moved_away(self.session, related_model, related_fields, self.using)
        if moved:
            qs = qs.exclude(pk__in=moved)
        return qs

    def can_fast_delete(self, objs, from_field=None):
        model = getattr(objs, "model", None) or getattr(getattr(objs, "_meta", None), "model", None)
        if model is not None and self.session.identity_map.has_model(
            model._meta.concrete_model, self.using
        ):
            return False
        return super().can_fast_delete(objs, from_field=from_field)


def _moved_away(session, related_model, related_fields, alias) -> list:
    """Keys of the session's objects whose foreign key was changed in memory.

    The database still says they refer to the deleted row, but the flush
    updates them before it deletes (``book.author = other; delete(author)``),
    so ``on_delete`` must not reach them.
    """
    concrete = related_model._meta.concrete_model
    attnames = {field.attname for field in related_fields}
    return [
        state.key[1]
        for state in session._modified
        if state.key is not None
        and state.key[0] is concrete
        and state.key[2] == alias
        and state.committed_state
        and attnames.intersection(state.committed_state)
    ]


def plan_deletes(session, deleted: list) -> list[DeleteStep]:
    """One :class:`DeleteStep` per database for the ``(state, obj)`` pairs given."""
    by_alias: dict = defaultdict(list)
    for state, obj in deleted:
        by_alias[state.key[2]].append((state, obj))
    return [_plan_alias(session, alias, pairs) for alias, pairs in by_alias.items()]


def _plan_alias(session, alias, pairs) -> DeleteStep:
    roots = [obj for _state, obj in pairs]
    going: dict = defaultdict(list)
    for obj in roots:
        going[obj._meta.concrete_model].append(obj.pk)
    collector = SessionCollector(
        session, using=alias, origin=roots[0] if len(roots) == 1 else None, going=going
    )
    by_model: dict = defaultdict(list)
    for obj in roots:
        by_model[type(obj)].append(obj)
    for objs in by_model.values():
        collector.collect(objs)
    collector.sort()
    identity = session.identity_map
    batches, states = [], list(pairs)
    seen = {id(obj) for obj in roots}
    for model, instances in collector.data.items():
        concrete = model._meta.concrete_model
        objects = []
        for instance in instances:
            state = identity.get_state((concrete, instance.pk, alias))
            mapped = state.obj() if state is not None else None
            if mapped is not None:
                if id(mapped) not in seen:
                    seen.add(id(mapped))
                    states.append((state, mapped))
                objects.append(mapped)
            else:
                objects.append(instance)
        batches.append((model, objects))
    field_updates = [
        (field, value, targets) for (field, value), targets in collector.field_updates.items()
    ]
    return DeleteStep(
        alias=alias,
        batches=batches,
        fast_deletes=list(collector.fast_deletes),
        field_updates=field_updates,
        states=states,
        origin=collector.origin,
    )
