"""Prepared transactions left in doubt, and resolving them.

A ``Session(twophase=True)`` prepares every database (``PREPARE TRANSACTION``)
before it commits any. If the process dies between the two steps, or a
``COMMIT PREPARED`` fails half-way, the prepared transactions stay on the
servers, holding their locks, until someone commits or rolls them back: they are
*in doubt*. This module finds them and resolves them; ``manage.py
sessionorm_recover`` is its command line::

    from sessionorm import recovery

    found = recovery.in_doubt()  # every PostgreSQL database in settings.DATABASES
    for item in found:
        print(item.alias, item.gid, item.age, item.group)
    recovery.resolve([i for i in found if not i.foreign], "commit")

What to do with them: if every database of a transaction group was prepared, the
session had decided to commit, so committing the whole group is what it would have
done. Roll back instead when you know the application gave up on that unit of work.
Either way act on a whole group at once: committing some databases of a group and
rolling back the others is exactly the half-done state two-phase commit prevents.

Groups: the transaction ids of one session's transaction share its host, process
and session number (``sessionorm.twophase``); the time in the id is when that
database joined the transaction, so it may differ between them by a few seconds,
and the group is keyed without it.

Transactions that sessionorm did not make (another transaction manager's, a
``psql`` session's) are listed with ``foreign=True`` and never resolved unless
named and forced: their owner should resolve them.

Resolving runs ``COMMIT PREPARED``/``ROLLBACK PREPARED`` on a connection of its
own in autocommit mode (neither can run inside a transaction block, and Django's
connection may be inside one), connected to the database that holds the
transaction: PostgreSQL resolves a prepared transaction only from its own database.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from django.db import connections

from sessionorm.exc import InvalidRequestError
from sessionorm.twophase import TransactionId, parse_xid

__all__ = [
    "ACTIONS",
    "InDoubt",
    "RecoveryError",
    "Resolved",
    "Survey",
    "groups",
    "in_doubt",
    "resolve",
    "select",
    "survey",
]

#: What ``resolve()`` can do, and the statement that does it.
ACTIONS = {"commit": "COMMIT PREPARED %s", "rollback": "ROLLBACK PREPARED %s"}
_DONE = {"commit": "committed", "rollback": "rolled back"}

_LIST_SQL = (
    "SELECT gid, prepared, owner, database FROM pg_prepared_xacts "
    "WHERE database = current_database() ORDER BY prepared, gid"
)


class RecoveryError(InvalidRequestError):
    """A request to find or resolve prepared transactions that cannot be carried out."""


def _now() -> datetime.datetime:
    """The clock ages are measured by (this machine's; tests replace it)."""
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class InDoubt:
    """One prepared transaction found on a database.

    ``alias`` is the ``DATABASES`` alias it was found through (and must be resolved
    through), ``database`` PostgreSQL's name for that database, ``owner`` the role
    that prepared it. ``xid`` is the parsed sessionorm transaction id, None for a
    foreign one.
    """

    alias: str
    gid: str
    prepared_at: datetime.datetime
    age: datetime.timedelta
    owner: str
    database: str
    xid: TransactionId | None

    @property
    def foreign(self) -> bool:
        """True when sessionorm did not make this transaction."""
        return self.xid is None

    @property
    def group(self) -> str | None:
        """``host:pid:session``, shared by the gids of one session's transaction."""
        xid = self.xid
        return None if xid is None else f"{xid.host}:{xid.pid}:{xid.session}"

    @property
    def host(self) -> str | None:
        return None if self.xid is None else self.xid.host

    @property
    def pid(self) -> int | None:
        return None if self.xid is None else self.xid.pid

    @property
    def session(self) -> int | None:
        return None if self.xid is None else self.xid.session

    @property
    def created(self) -> datetime.datetime | None:
        """When the session began its transaction on this database."""
        return None if self.xid is None else self.xid.created


@dataclass
class Survey:
    """What ``survey()`` found: the prepared transactions and the databases it skipped."""

    items: list[InDoubt]
    skipped: dict[str, str]  # alias -> why it was not looked at


@dataclass(frozen=True)
class Resolved:
    """What ``resolve()`` did with one prepared transaction."""

    item: InDoubt
    action: str  # "commit" or "rollback"
    error: str | None = None  # the database's error when it failed

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def state(self) -> str:
        return _DONE[self.action] if self.ok else "failed"


def _connect(alias: str):
    """A new autocommit connection to ``alias``'s database (never Django's own)."""
    wrapper = connections[alias]
    raw = wrapper.get_new_connection(wrapper.get_connection_params())
    raw.autocommit = True
    return raw


def _where(settings_dict) -> tuple:
    host, port = settings_dict.get("HOST") or "", str(settings_dict.get("PORT") or "")
    return host, port, settings_dict.get("NAME")


def survey(using: str | None = None) -> Survey:
    """The prepared transactions on every PostgreSQL database (or the one named).

    Aliases that name a database already looked at (a test mirror, a second alias
    for the same server) are skipped, as are other backends and standbys (whose
    prepared transactions are their primary's, and can be resolved only there).
    """
    if using is not None and using not in connections:
        raise RecoveryError(
            f"There is no database {using!r} in settings.DATABASES "
            f"(it has {', '.join(connections)})."
        )
    items: list[InDoubt] = []
    skipped: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    now = _now()
    for alias in [using] if using is not None else list(connections):
        wrapper = connections[alias]
        if wrapper.vendor != "postgresql":
            skipped[alias] = f"{wrapper.display_name} has no prepared transactions"
            continue
        where = _where(wrapper.settings_dict)
        if where in seen:
            skipped[alias] = f"it is the same database as {seen[where]!r}"
            continue
        seen[where] = alias
        rows, standby = _read(alias)
        if standby:
            skipped[alias] = "it is a standby; resolve its primary's prepared transactions there"
            continue
        for gid, prepared, owner, database in rows:
            prepared = prepared.astimezone(datetime.UTC)
            age = max(now - prepared, datetime.timedelta(0))
            items.append(InDoubt(alias, gid, prepared, age, owner, database, parse_xid(gid)))
    return Survey(_ordered(items), skipped)


def _read(alias: str) -> tuple[list, bool]:
    try:
        raw = _connect(alias)
    except Exception as exc:
        raise RecoveryError(
            f"Cannot connect to database {alias!r} to look for prepared transactions: "
            f"{exc}. Fix the connection, or look at the other databases one at a time "
            "(using=..., or --database)."
        ) from exc
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            if cursor.fetchone()[0]:
                return [], True
            cursor.execute(_LIST_SQL)
            return cursor.fetchall(), False
    finally:
        raw.close()


def in_doubt(using: str | None = None) -> list[InDoubt]:
    """The prepared transactions in doubt (see ``survey()``), sessionorm's groups first."""
    return survey(using).items


def _ordered(items: list[InDoubt]) -> list[InDoubt]:
    """Sessionorm's by group (oldest first), each group in DATABASES order; foreign last."""
    order = {alias: n for n, alias in enumerate(connections)}
    first: dict[str, datetime.datetime] = {}
    for item in items:
        if not item.foreign:
            first[item.group] = min(first.get(item.group, item.created), item.created)

    def key(item):
        if item.foreign:
            return (1, item.prepared_at, "", order[item.alias], item.gid)
        return (0, first[item.group], item.group, order[item.alias], item.gid)

    return sorted(items, key=key)


def groups(items: list[InDoubt]) -> dict[str, list[InDoubt]]:
    """Sessionorm's transactions by group key, in ``items``' order; foreign ones left out."""
    found: dict[str, list[InDoubt]] = {}
    for item in items:
        if not item.foreign:
            found.setdefault(item.group, []).append(item)
    return found


def select(items: list[InDoubt], gids=None, older_than: float | None = None) -> list[InDoubt]:
    """The items named in ``gids`` (all when None) that are ``older_than`` seconds or more."""
    if gids:
        known = {item.gid for item in items}
        unknown = [gid for gid in gids if gid not in known]
        if unknown:
            raise RecoveryError(
                f"No prepared transaction {', '.join(map(repr, unknown))} is in doubt on the "
                "databases looked at: it may have been resolved already. List them with "
                "`manage.py sessionorm_recover`."
            )
        items = [item for item in items if item.gid in gids]
    if older_than is not None:
        items = [item for item in items if item.age.total_seconds() >= older_than]
    return items


def resolve(items: list[InDoubt], action: str, *, force: bool = False) -> list[Resolved]:
    """Commit or roll back (``action``) each prepared transaction in ``items``.

    Each database's are resolved on a new autocommit connection to it. A failure
    (one already resolved by someone else, a lost connection) is recorded in its
    ``Resolved.error`` and the others go ahead.

    Refused with :class:`RecoveryError` unless ``force``: a foreign transaction,
    and part of a group (the other members of the group, found on any database, are
    not in ``items``).
    """
    if action not in ACTIONS:
        raise RecoveryError(f"action={action!r} is not one of {', '.join(ACTIONS)}.")
    if not force:
        _refuse_foreign(items, action)
        _refuse_part_of_group(items, action)
    results = []
    by_alias: dict[str, list[InDoubt]] = {}
    for item in items:
        by_alias.setdefault(item.alias, []).append(item)
    for alias, batch in by_alias.items():
        results.extend(_resolve_on(alias, batch, action))
    order = {id(item): n for n, item in enumerate(items)}
    return sorted(results, key=lambda done: order[id(done.item)])


def _resolve_on(alias: str, batch: list[InDoubt], action: str) -> list[Resolved]:
    errors = connections[alias].Database.Error
    try:
        raw = _connect(alias)
    except errors as exc:
        return [Resolved(item, action, f"cannot connect: {exc}".strip()) for item in batch]
    results = []
    try:
        with raw.cursor() as cursor:
            for item in batch:
                try:
                    cursor.execute(ACTIONS[action], [item.gid])
                except errors as exc:
                    results.append(Resolved(item, action, str(exc).strip()))
                else:
                    results.append(Resolved(item, action))
    finally:
        raw.close()
    return results


def _refuse_foreign(items: list[InDoubt], action: str) -> None:
    foreign = [item for item in items if item.foreign]
    if foreign:
        names = ", ".join(f"{item.gid!r} on {item.alias!r}" for item in foreign)
        raise RecoveryError(
            f"Refusing to {action} {names}: sessionorm did not make it, so its own "
            "transaction manager should resolve it. Pass --force (force=True) to "
            f"{action} it anyway."
        )


def _refuse_part_of_group(items: list[InDoubt], action: str) -> None:
    wanted = {item.group for item in items if not item.foreign}
    if not wanted:
        return
    chosen = {item.gid for item in items}
    left = [
        item
        for item in in_doubt()
        if item.group in wanted and item.gid not in chosen and not item.foreign
    ]
    if left:
        first = left[0]
        names = ", ".join(f"{item.gid} on {item.alias!r}" for item in left)
        raise RecoveryError(
            f"Refusing to {action} part of a transaction group: session {first.session} "
            f"(process {first.pid} on {first.host}) also prepared {names}, which is not "
            f"selected. Resolving some databases of a transaction one way and the others "
            "another way leaves them inconsistent. Select the whole group (name each gid "
            "with --gid, or leave out --gid and --older-than), or pass --force (force=True) "
            "if you know how the rest was resolved."
        )


# -- reports (manage.py sessionorm_recover) ----------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _age(age: datetime.timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size, up_to in (("s", 1, 60), ("m", 60, 3600), ("h", 3600, 48 * 3600)):
        if seconds < up_to:
            return f"{seconds // size}{unit}"
    return f"{seconds // 86400}d"


def table(items: list[InDoubt], results: list[Resolved] = ()) -> list[str]:
    """One line per item: group number (or ``foreign``), database, age, state, gid."""
    numbers = {key: n for n, key in enumerate(groups(items), 1)}
    states = {id(done.item): done.state for done in results}
    rows = [("GROUP", "DATABASE", "AGE", "STATE", "GID")]
    for item in items:
        group = "foreign" if item.foreign else str(numbers[item.group])
        state = states.get(id(item), "prepared")
        rows.append((group, item.alias, _age(item.age), state, item.gid))
    widths = [max(len(row[n]) for row in rows) for n in range(4)]
    return [
        "  ".join([*(v.ljust(w) for v, w in zip(row[:4], widths, strict=True)), row[4]])
        for row in rows
    ]


def summary(items: list[InDoubt], action: str | None = None, results=()) -> str:
    """The one sentence the command ends with."""
    foreign = sum(item.foreign for item in items)
    if action is None:
        count, grouped = len(items) - foreign, len(groups(items))
        if not items:
            return "No prepared transactions in doubt."
        if not count:
            text = _plural(foreign, "prepared transaction")
            return f"{text} in doubt, none made by sessionorm; nothing changed."
        text = f"{_plural(count, 'prepared transaction')} in doubt ({_plural(grouped, 'group')})"
        if foreign:
            text += f" and {foreign} not made by sessionorm"
        return text + "; nothing changed. Use --commit or --rollback."
    done = [r.item for r in results if r.ok]
    untouched = len(items) - len(results)
    if done:
        grouped = len({item.group for item in done if not item.foreign})
        text = f"{_plural(len(done), 'prepared transaction')} {_DONE[action]}"
        text += f" ({_plural(grouped, 'group')})" if grouped else ""
    else:
        text = f"No prepared transactions {_DONE[action]}"
    if untouched:
        text += f"; {untouched} not made by sessionorm left in doubt"
    return text + "."


def failures(results: list[Resolved]) -> str | None:
    """The error for the results that failed (None when none did)."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    action = failed[0].action
    details = "; ".join(f"{r.item.gid} on {r.item.alias!r}: {r.error}" for r in failed)
    return (
        f"{len(failed)} of {_plural(len(results), 'prepared transaction')} could not be "
        f"{_DONE[action]}: {details}. Those still listed by `manage.py sessionorm_recover` "
        "are in doubt: fix the cause and run it again."
    )


def as_text(found: Survey, items: list[InDoubt], action=None, results=()) -> str:
    """The command's output: a note per skipped database, the table, one sentence."""
    notes = [f"Skipped {alias!r}: {why}." for alias, why in found.skipped.items()]
    rows = table(items, results) if items else []
    return "\n".join([*notes, *rows, summary(items, action, results)])


def as_json(found: Survey, items: list[InDoubt], action=None, results=()) -> str:
    """The command's ``--json`` output."""
    numbers = {key: n for n, key in enumerate(groups(items), 1)}
    done = {id(r.item): r for r in results}
    rows = []
    for item in items:
        result = done.get(id(item))
        xid = item.xid
        rows.append(
            {
                "alias": item.alias,
                "database": item.database,
                "gid": item.gid,
                "owner": item.owner,
                "prepared_at": item.prepared_at.isoformat(),
                "age_seconds": round(item.age.total_seconds(), 3),
                "sessionorm": not item.foreign,
                "group": numbers.get(item.group),
                "group_key": item.group,
                "created": xid.created.isoformat() if xid else None,
                "host": item.host,
                "pid": item.pid,
                "session": item.session,
                "state": result.state if result else "prepared",
                "error": result.error if result else None,
            }
        )
    report = {
        "action": action or "list",
        "skipped": found.skipped,
        "groups": [
            {"group": numbers[key], "key": key, "gids": [i.gid for i in members]}
            for key, members in groups(items).items()
        ],
        "transactions": rows,
        "summary": summary(items, action, results),
    }
    return json.dumps(report, indent=2)
