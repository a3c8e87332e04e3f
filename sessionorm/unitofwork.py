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
from sessionorm.instrumentation import STATE_ATTR

__all__ = [
    "RowGroup",
    "group_rows",
    "Sync",
    "InsertStep",
    "UpdateStep",
    "PostUpdateStep",
    "DeleteStep",
    "FlushPlan",
    "plan_saves",
    "interned_names",
]


@dataclass(frozen=True)
class Sync:
    """Copy ``parent``'s target key into ``child.<field.attname>`` before writing child."""

    child: Any
    field: Any
    parent: Any

    def __repr__(self):
        return f"{describe(self.child)}.{self.field.attname} <- {describe(self.parent)}"


@dataclass(eq=False)
class RowGroup:
    """The objects of one concrete model in one database that a flush writes.

    The planner's input. Rows are held in parallel lists, not as an object per
    row: a flush of 100,000 objects then allocates nothing per row to plan them
    (every allocation that survives feeds CPython's cyclic garbage collector).
    ``attnames`` is, for updates, each object's changed attributes.
    """

    model: type
    alias: str
    objects: list = field(default_factory=list)
    states: list = field(default_factory=list)
    attnames: list | None = None

    @property
    def info(self):
        return self.states[0].info

    def __len__(self) -> int:
        return len(self.objects)


def group_rows(rows) -> list[RowGroup]:
    """``[(obj, state, alias[, attnames])]`` as RowGroups, in first-seen order."""
    groups: dict = {}
    for obj, state, alias, *names in rows:
        key = (state.info.concrete_model, alias)
        group = groups.get(key)
        if group is None:
            group = groups[key] = RowGroup(key[0], alias, attnames=[] if names else None)
        group.objects.append(obj)
        group.states.append(state)
        if names:
            group.attnames.append(tuple(names[0]))
    return list(groups.values())


@dataclass(eq=False)
class SaveRow:
    """One row of a group whose rows must be ordered among themselves (a cycle)."""

    obj: Any
    state: Any
    group: RowGroup

    @property
    def model(self):
        return self.group.model


@dataclass
class InsertStep:
    """INSERT ``objects``; first copy into each of their ``copies`` foreign keys the
    key of the related object (``book.author_id = book.author.pk``), and write the
    ``nulled`` foreign keys as NULL (a post-update sets them)."""

    model: type
    alias: str
    objects: list
    states: list
    copies: list = field(default_factory=list)  # foreign key fields
    nulled: list = field(default_factory=list)  # (obj, fk field) inserted as NULL

    kind = "insert"

    @property
    def syncs(self) -> list[Sync]:
        """The keys the step will copy, one :class:`Sync` per object and field."""
        nulled = {(id(obj), fk) for obj, fk in self.nulled}
        return [
            Sync(obj, fk, parent)
            for fk in self.copies
            for obj, parent in related_objects(self.objects, fk)
            if (id(obj), fk) not in nulled and needs_copy(obj, fk, parent)
        ]

    @property
    def reason(self) -> str:
        parents = sorted({s.field.related_model._meta.label for s in self.syncs})
        if parents:
            return f"new objects, after their {', '.join(parents)} (foreign keys copied)"
        return "new objects"

    def describe(self) -> str:
        label = self.model._meta.label
        return f"INSERT {len(self.objects)} {label} into {self.alias!r}: {self.reason}"


def related_objects(objects, fk):
    """``(obj, related object)`` for the objects whose ``fk`` holds an object."""
    name = fk.name
    for obj in objects:
        cache = obj._state.__dict__.get("fields_cache")  # Django creates it on first read
        if cache:
            parent = cache.get(name)
            if parent is not None:
                yield obj, parent


def needs_copy(obj, fk, parent) -> bool:
    """True if ``obj.<fk.attname>`` must take ``parent``'s key at the flush.

    Always for a parent inserted by the same flush; for a saved parent only when
    the column is empty, as ``Model.save()`` does it.
    """
    current = obj.__dict__.get(fk.attname)
    if current in fk.empty_values:
        return True
    state = parent.__dict__.get(STATE_ATTR)
    return state is not None and state.key is None and state.session_id is not None


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
class _Links:
    """What one insert group's foreign keys point at."""

    parents: set = field(default_factory=set)  # other groups inserted first
    copies: list = field(default_factory=list)  # fields whose keys the insert copies
    self_referencing: bool = False  # a row points at a new row of the same group


def _insert_links(groups: list[RowGroup], group_of: dict) -> dict:
    """``{group: _Links}``: one pass over each group's foreign keys."""
    links = {}
    for group in groups:
        found = links[group] = _Links()
        for fk in group.info.fk_fields:
            target = fk.target_field.attname
            copy = False
            for obj, parent in related_objects(group.objects, fk):
                parent_group = group_of.get(id(parent))
                if parent_group is None:
                    if parent.__dict__.get(target) is None:
                        raise _unknown_key_error(obj, fk, parent)
                    copy = copy or obj.__dict__.get(fk.attname) in fk.empty_values
                elif parent is not obj:
                    copy = True
                    if parent_group is not group:
                        found.parents.add(parent_group)
                    elif parent.__dict__.get(target) is None:
                        found.self_referencing = True
            if copy:
                found.copies.append(fk)
    return links


def _unknown_key_error(obj, fk, parent) -> FlushError:
    return FlushError(
        f"{describe(obj)}.{fk.attname}: the related {describe(parent)} was never added to "
        "this session, so its key is unknown and the row cannot be written. Add it with "
        f"session.add(), or assign a saved {type(parent).__name__} to "
        f"{type(obj).__name__}.{fk.name}."
    )


@dataclass(eq=False)
class _Edge:
    child: SaveRow
    parent: SaveRow
    field: Any
    hard: bool  # the parent's key is generated by its INSERT


def _row_edges(rows: list[SaveRow]) -> list[_Edge]:
    """Edges between these rows (the rows of a cycle of groups)."""
    row_of = {id(row.obj): row for row in rows}
    edges = []
    for row in rows:
        cache = row.obj._state.__dict__.get("fields_cache")
        if not cache:
            continue
        for fk in row.group.info.fk_fields:
            parent_row = row_of.get(id(cache.get(fk.name)))
            if parent_row is not None and parent_row is not row:
                hard = parent_row.obj.__dict__.get(fk.target_field.attname) is None
                edges.append(_Edge(row, parent_row, fk, hard))
    return edges


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


def plan_saves(inserts: list[RowGroup], updates: list[RowGroup]) -> list:
    """Steps that insert ``inserts`` and update ``updates`` in dependency order."""
    group_of = {id(obj): group for group in inserts for obj in group.objects}
    links = _insert_links(inserts, group_of)
    steps: list = []
    post_updates: list[Sync] = []
    for component in _ordered_components(inserts, links):
        if len(component) == 1 and not links[component[0]].self_referencing:
            group = component[0]
            copies = links[group].copies
            steps.append(InsertStep(group.model, group.alias, group.objects, group.states, copies))
            continue
        leveled, broken = _leveled_insert_steps(component, links)
        steps.extend(leveled)
        post_updates.extend(broken)
    steps.extend(_update_step(group, group_of) for group in updates)
    steps.extend(_post_update_steps(post_updates, group_of))
    return steps


def _ordered_components(groups: list[RowGroup], links: dict) -> list[list[RowGroup]]:
    """The groups in insert order; groups on a cycle come together, as one component."""
    successors: dict = defaultdict(set)
    for group in groups:
        for parent in links[group].parents:
            successors[parent].add(group)
    return list(reversed(_strongly_connected(groups, successors)))


def _leveled_insert_steps(component: list[RowGroup], links: dict):
    """Steps for groups whose rows point at each other: levels, parents first.

    Returns the steps and the :class:`Sync` of each foreign key the levels had to
    break (inserted as NULL, set by a post-update).
    """
    rows = [
        SaveRow(obj, state, group)
        for group in component
        for obj, state in zip(group.objects, group.states, strict=True)
    ]
    levels, broken = _levels(rows, _row_edges(rows))
    nulled: dict = defaultdict(list)
    for e in broken:
        nulled[id(e.child.obj)].append((e.child.obj, e.field))
    steps = []
    for level in levels:
        by_group: dict = defaultdict(list)
        for row in level:
            by_group[row.group].append(row)
        for group, group_rows in by_group.items():
            steps.append(
                InsertStep(
                    group.model,
                    group.alias,
                    [r.obj for r in group_rows],
                    [r.state for r in group_rows],
                    links[group].copies,
                    [pair for r in group_rows for pair in nulled.get(id(r.obj), ())],
                )
            )
    return steps, [Sync(e.child.obj, e.field, e.parent.obj) for e in broken]


_interned_names: dict = {}


def _update_step(group: RowGroup, group_of: dict) -> UpdateStep:
    """The group's UPDATE, with the foreign keys its objects take from new or saved
    parents (``author.publisher = Publisher()``) added to what each row writes."""
    syncs = []
    for fk in group.info.fk_fields:
        for obj, parent in related_objects(group.objects, fk):
            if id(parent) in group_of:
                syncs.append(Sync(obj, fk, parent))
            elif parent.__dict__.get(fk.target_field.attname) is None:
                raise _unknown_key_error(obj, fk, parent)
            elif obj.__dict__.get(fk.attname) in fk.empty_values:
                syncs.append(Sync(obj, fk, parent))
    attnames = group.attnames
    if syncs:
        attnames = list(attnames)
        index = {id(obj): i for i, obj in enumerate(group.objects)}
        for sync in syncs:
            i = index[id(sync.child)]
            attnames[i] = interned_names({*attnames[i], sync.field.attname})
    return UpdateStep(group.model, group.alias, group.objects, group.states, attnames, syncs)


_interned_names: dict = {}


def interned_names(names) -> tuple:
    """``names`` as a sorted tuple, the same tuple object for the same names: rows
    that change the same columns share one (and group by it cheaply)."""
    key = tuple(sorted(names))
    return _interned_names.setdefault(key, key)


def _post_update_steps(syncs: list[Sync], group_of: dict) -> list[PostUpdateStep]:
    groups: dict = defaultdict(list)
    for s in syncs:
        group = group_of[id(s.child)]
        groups[(group.model, group.alias)].append(s)
    return [
        PostUpdateStep(
            model=model,
            alias=alias,
            syncs=group,
            reason="foreign keys of a cycle between new rows, set once both rows exist",
        )
        for (model, alias), group in groups.items()
    ]
