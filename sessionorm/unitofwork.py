"""The flush plan: what a flush will write, in which order, and why.

The plan is data. :func:`plan_saves` turns the session's pending and modified
objects into ordered steps without touching the database, so it can be printed,
tested on its own and executed by ``persistence.py``, which makes no ordering
decision of its own. Deletes are planned by :func:`plan_deletes`, which asks
Django's deletion collector (and so reads the database) which rows ``on_delete``
rules reach.

Ordering rules:

- a row is inserted after the rows its foreign keys point to when those are
  inserted in the same flush, and the generated key is copied into the foreign
  key just before the dependent row's statement (a *sync*);
- models are ordered by those dependencies; rows of a self-referencing model are
  inserted in levels, parents first;
- a cycle between rows is broken by inserting one foreign key as NULL and
  setting it afterwards (a *post-update*), choosing a nullable one; a cycle
  with no nullable foreign key cannot be written and raises :class:`FlushError`;
- all inserts come first, then updates, then deletes (children first).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sessionorm.exc import FlushError, describe

__all__ = [
    "Sync",
    "InsertStep",
    "UpdateStep",
    "PostUpdateStep",
    "DeleteStep",
    "FlushPlan",
    "SaveRow",
    "plan_saves",
]


@dataclass(frozen=True)
class Sync:
    """Copy ``parent``'s target key into ``child.<field.attname>`` before writing child."""

    child: Any
    field: Any
    parent: Any

    def __repr__(self):
        return f"{describe(self.child)}.{self.field.attname} <- {describe(self.parent)}"


@dataclass
class SaveRow:
    """One object the flush inserts or updates (the planner's input)."""

    obj: Any
    state: Any
    alias: str
    attnames: tuple = ()  # updates: changed attributes; inserts: unused

    @property
    def model(self):
        return self.state.info.concrete_model


@dataclass
class InsertStep:
    model: type
    alias: str
    objects: list
    states: list
    syncs: list = field(default_factory=list)
    nulled: list = field(default_factory=list)  # (obj, fk field) inserted as NULL
    reason: str = ""

    kind = "insert"

    def describe(self) -> str:
        label = self.model._meta.label
        return f"INSERT {len(self.objects)} {label} into {self.alias!r}: {self.reason}"


@dataclass
class UpdateStep:
    model: type
    alias: str
    objects: list
    states: list
    attnames: list  # per object: the attributes to write
    syncs: list = field(default_factory=list)
    reason: str = "changed attributes of persistent objects"

    kind = "update"

    def describe(self) -> str:
        columns = sorted({name for names in self.attnames for name in names})
        return (
            f"UPDATE {len(self.objects)} {self.model._meta.label} in {self.alias!r} "
            f"({', '.join(columns)}): {self.reason}"
        )


@dataclass
class PostUpdateStep:
    model: type
    alias: str
    syncs: list  # Sync rows to write after their parents were inserted
    reason: str = ""

    kind = "post_update"

    def describe(self) -> str:
        return f"UPDATE {len(self.syncs)} {self.model._meta.label} in {self.alias!r}: {self.reason}"


@dataclass
class DeleteStep:
    """The deletes of one database, as Django's collector found them.

    ``batches`` is ``[(model, [objects])]`` children first; ``checked`` is the set
    of states (the session's own objects) whose row must exist, or the flush
    raises :class:`StaleDataError`.
    """

    alias: str
    batches: list
    fast_deletes: list
    field_updates: list  # [(field, value, [querysets or objects])]
    states: list  # [(state, obj)] of the session's own objects among the rows
    origin: Any = None
    reason: str = "objects passed to session.delete() and what on_delete rules reach"

    kind = "delete"

    def describe(self) -> str:
        parts = [f"{len(objs)} {model._meta.label}" for model, objs in self.batches]
        extra = f", {len(self.fast_deletes)} fast deletes" if self.fast_deletes else ""
        return f"DELETE {', '.join(parts)} from {self.alias!r}{extra}: {self.reason}"


@dataclass
class FlushPlan:
    steps: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def describe(self) -> list[str]:
        return [f"{i}. {step.describe()}" for i, step in enumerate(self.steps, 1)]

    def __str__(self) -> str:
        return "\n".join(self.describe()) or "(nothing to flush)"

    def as_dict(self) -> list[dict]:
        return [
            {"kind": step.kind, "description": step.describe(), "model": _label(step)}
            for step in self.steps
        ]


def _label(step):
    model = getattr(step, "model", None)
    return model._meta.label if model is not None else None


# -- dependency discovery ------------------------------------------------------


@dataclass(eq=False)
class _Edge:
    child: SaveRow
    parent: SaveRow
    field: Any
    hard: bool  # the parent's key is generated by its INSERT


def _dependencies(rows: list[SaveRow], inserting: dict) -> tuple[list[_Edge], list[Sync]]:
    """Edges to rows inserted in this flush, and syncs from already-saved parents."""
    edges, syncs = [], []
    for row in rows:
        obj = row.obj
        cache = obj._state.__dict__.get("fields_cache")
        if not cache:
            continue
        for fk in row.state.info.fk_fields:
            parent = cache.get(fk.name)
            if parent is None:
                continue
            target = fk.target_field.attname
            parent_row = inserting.get(id(parent))
            if parent_row is not None and parent_row.state is not row.state:
                hard = parent.__dict__.get(target) is None
                edges.append(_Edge(row, parent_row, fk, hard))
            elif parent_row is None:
                key = parent.__dict__.get(target)
                if key is None:
                    raise FlushError(
                        f"{describe(obj)}.{fk.attname}: the related {describe(parent)} was never "
                        "added to this session, so its key is unknown and the row cannot be "
                        f"written. Add it with session.add(), or assign a saved "
                        f"{type(parent).__name__} to {type(obj).__name__}.{fk.name}."
                    )
                if obj.__dict__.get(fk.attname) in fk.empty_values:
                    syncs.append(Sync(obj, fk, parent))
    return edges, syncs


def _strongly_connected(nodes, successors) -> list[list]:
    """Tarjan's algorithm; components come out in reverse topological order."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in successors.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member is node:
                    break
            out.append(component)

    for node in nodes:
        if node not in index:
            visit(node)
    return out


def _levels(rows: list[SaveRow], edges: list[_Edge]) -> tuple[list[list[SaveRow]], list[_Edge]]:
    """Group rows into levels, parents before children; break cycles if needed.

    Returns the levels and the edges that were broken (to post-update).
    """
    live = [e for e in edges if e.hard]
    broken: list[_Edge] = []
    members = {id(r.state) for r in rows}
    live = [e for e in live if id(e.child.state) in members and id(e.parent.state) in members]
    remaining = list(rows)
    levels: list[list[SaveRow]] = []
    while remaining:
        blocked = {id(e.child.state) for e in live}
        level = [r for r in remaining if id(r.state) not in blocked]
        if not level:
            core = _cycle_core(remaining, live)
            cyclic = [e for e in live if id(e.child.state) in core and id(e.parent.state) in core]
            edge = next((e for e in cyclic if e.field.null), None)
            if edge is None:
                raise _cycle_error(cyclic)
            # Break that foreign key in every cycle at once, so the flush sends the
            # same few statements however many cycles it holds.
            cut = {id(e) for e in cyclic if e.field is edge.field}
            broken.extend(e for e in cyclic if id(e) in cut)
            live = [e for e in live if id(e) not in cut]
            continue
        levels.append(level)
        done = {id(r.state) for r in level}
        remaining = [r for r in remaining if id(r.state) not in done]
        live = [e for e in live if id(e.parent.state) not in done]
    return levels, broken


def _cycle_core(rows: list[SaveRow], edges: list[_Edge]) -> set:
    """ids of the row states on cycles (or between them): what is left after
    removing, again and again, the rows no other row depends on."""
    members = {id(r.state) for r in rows}
    dependents: dict = defaultdict(int)
    parents: dict = defaultdict(list)
    for e in edges:
        dependents[id(e.parent.state)] += 1
        parents[id(e.child.state)].append(id(e.parent.state))
    free = [m for m in members if not dependents[m]]
    while free:
        member = free.pop()
        members.discard(member)
        for parent in parents[member]:
            dependents[parent] -= 1
            if not dependents[parent]:
                free.append(parent)
    return members


def _cycle_error(edges: list[_Edge]) -> FlushError:
    links = "; ".join(
        f"{describe(e.child.obj)}.{e.field.attname} -> {describe(e.parent.obj)}" for e in edges[:6]
    )
    return FlushError(
        f"Cannot order the flush: these new rows refer to each other through foreign keys "
        f"that are all NOT NULL and whose keys the database generates ({links}). Make one of "
        "these foreign keys nullable (null=True) so it can be set after both rows exist, "
        "or give the objects their primary keys before flushing."
    )


# -- the save plan --------------------------------------------------------------


def plan_saves(inserts: list[SaveRow], updates: list[SaveRow]) -> list:
    """Steps that insert ``inserts`` and update ``updates`` in dependency order."""
    inserting = {id(row.obj): row for row in inserts}
    insert_edges, insert_syncs = _dependencies(inserts, inserting)
    update_edges, update_syncs = _dependencies(updates, inserting)
    edges_by_child: dict = defaultdict(list)
    for e in insert_edges:
        edges_by_child[id(e.child.obj)].append(e)
    syncs_by_child: dict = defaultdict(list)
    for s in insert_syncs:
        syncs_by_child[id(s.child)].append(s)

    steps: list = []
    post_updates: list[Sync] = []
    for levels, broken in _ordered_insert_groups(inserts, insert_edges):
        broken_ids = {id(e) for e in broken}
        for level_rows in levels:
            steps.extend(_insert_steps(level_rows, edges_by_child, syncs_by_child, broken_ids))
        post_updates.extend(Sync(e.child.obj, e.field, e.parent.obj) for e in broken)
    update_syncs += [Sync(e.child.obj, e.field, e.parent.obj) for e in update_edges]
    steps.extend(_update_steps(updates, update_syncs))
    steps.extend(_post_update_steps(post_updates, inserting))
    return steps


def _ordered_insert_groups(rows: list[SaveRow], edges: list[_Edge]):
    """Yield (levels of rows, broken edges) per group of models, in insert order."""
    by_model: dict = defaultdict(list)
    for row in rows:
        by_model[row.model].append(row)
    successors: dict = defaultdict(set)
    self_referencing = set()
    for e in edges:
        if not e.hard and e.child.model is not e.parent.model:
            successors[e.parent.model].add(e.child.model)
        elif e.hard:
            if e.child.model is e.parent.model:
                self_referencing.add(e.child.model)
            else:
                successors[e.parent.model].add(e.child.model)
    components = _strongly_connected(list(by_model), successors)
    for component in reversed(components):
        if len(component) == 1 and component[0] not in self_referencing:
            yield [by_model[component[0]]], []
            continue
        group = [row for model in component for row in by_model[model]]
        group_ids = {id(r.state) for r in group}
        group_edges = [
            e for e in edges if id(e.child.state) in group_ids and id(e.parent.state) in group_ids
        ]
        yield _levels(group, group_edges)


def _insert_steps(rows, edges_by_child, syncs_by_child, broken_ids) -> list[InsertStep]:
    groups: dict = defaultdict(list)
    for row in rows:
        groups[(row.model, row.alias)].append(row)
    steps = []
    for (model, alias), group in groups.items():
        syncs, nulled = [], []
        for row in group:
            key = id(row.obj)
            syncs.extend(syncs_by_child.get(key, ()))
            for e in edges_by_child.get(key, ()):
                if id(e) in broken_ids:
                    nulled.append((row.obj, e.field))
                else:
                    syncs.append(Sync(row.obj, e.field, e.parent.obj))
        reason = "new objects"
        parents = sorted({s.field.related_model._meta.label for s in syncs})
        if parents:
            reason = f"new objects, after their {', '.join(parents)} (foreign keys copied)"
        steps.append(
            InsertStep(
                model=model,
                alias=alias,
                objects=[r.obj for r in group],
                states=[r.state for r in group],
                syncs=syncs,
                nulled=nulled,
                reason=reason,
            )
        )
    return steps


def _update_steps(rows: list[SaveRow], syncs: list[Sync]) -> list[UpdateStep]:
    syncs_by_child: dict = defaultdict(list)
    for s in syncs:
        syncs_by_child[id(s.child)].append(s)
    groups: dict = defaultdict(list)
    for row in rows:
        groups[(row.model, row.alias)].append(row)
    steps = []
    for (model, alias), group in groups.items():
        attnames = []
        for row in group:
            names = set(row.attnames)
            names.update(s.field.attname for s in syncs_by_child.get(id(row.obj), ()))
            attnames.append(tuple(sorted(names)))
        steps.append(
            UpdateStep(
                model=model,
                alias=alias,
                objects=[r.obj for r in group],
                states=[r.state for r in group],
                attnames=attnames,
                syncs=[s for r in group for s in syncs_by_child.get(id(r.obj), ())],
            )
        )
    return steps


def _post_update_steps(syncs: list[Sync], inserting: dict) -> list[PostUpdateStep]:
    groups: dict = defaultdict(list)
    for s in syncs:
        row = inserting[id(s.child)]
        groups[(row.model, row.alias)].append(s)
    return [
        PostUpdateStep(
            model=model,
            alias=alias,
            syncs=group,
            reason="foreign keys of a cycle between new rows, set once both rows exist",
        )
        for (model, alias), group in groups.items()
    ]
