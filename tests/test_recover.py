"""Prepared transactions in doubt: sessionorm.recovery and ``manage.py sessionorm_recover``.

The in-doubt transactions come from a session killed between prepare and commit
(tests/twophase_helpers.py), or are prepared by hand with a gid of sessionorm's form
(so the output can be compared literally) or of someone else's.
"""

import datetime
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from sessionorm import recovery
from sessionorm.twophase import parse_xid
from tests.testapp.models import Author, Publisher
from tests.twophase_helpers import (
    crash_between_prepare_and_commit,
    prepare_foreign,
    prepared_gids,
    rollback_all_prepared,
)

pytestmark = pytest.mark.django_db(databases=["default", "other"], transaction=True)
postgresql = pytest.mark.postgresql


JSON_FIELDS = {
    *("alias", "database", "gid", "owner", "prepared_at", "age_seconds", "sessionorm"),
    *("group", "group_key", "created", "host", "pid", "session", "state", "error"),
}


def run(*args) -> str:
    out = io.StringIO()
    call_command("sessionorm_recover", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def nothing_left_prepared():
    """Roll back what a test left prepared: it would keep the test databases from flushing."""
    yield
    if connections["default"].vendor == "postgresql":
        rollback_all_prepared()


@pytest.fixture(autouse=True)
def three_days_later(monkeypatch):
    """Ages are measured three days after now, so every one prints as ``3d``."""
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3, hours=1)
    monkeypatch.setattr(recovery, "_now", lambda: later)


@pytest.fixture
def tag():
    """Makes hand-made gids unique on the server (gids are unique across its databases)."""
    return uuid.uuid4().hex[:6]


def sessionorm_gid(tag, alias, session=17, created="20260101T000000Z"):
    return f"sessionorm:{created}:web-3:4242:{session}:{alias}:{tag}{alias[0]}{session}"


@postgresql
class TestAfterACrash:
    """A session died between PREPARE and COMMIT on ``default`` and ``other``."""

    @pytest.fixture
    def xids(self):
        return crash_between_prepare_and_commit()

    def test_dry_run_lists_both_as_one_group_and_changes_nothing(self, xids):
        assert run() == (
            "GROUP  DATABASE  AGE  STATE     GID\n"
            f"1      default   3d   prepared  {xids['default']}\n"
            f"1      other     3d   prepared  {xids['other']}\n"
            "2 prepared transactions in doubt (1 group); nothing changed. "
            "Use --commit or --rollback.\n"
        )
        assert prepared_gids("default") == [xids["default"]]
        assert prepared_gids("other") == [xids["other"]]
        assert not Author.objects.exists()
        assert not Publisher.objects.using("other").exists()

    def test_commit_makes_both_rows_visible(self, xids):
        assert run("--commit") == (
            "GROUP  DATABASE  AGE  STATE      GID\n"
            f"1      default   3d   committed  {xids['default']}\n"
            f"1      other     3d   committed  {xids['other']}\n"
            "2 prepared transactions committed (1 group).\n"
        )
        assert prepared_gids("default") == [] and prepared_gids("other") == []
        assert Author.objects.filter(name="in doubt").exists()
        assert Publisher.objects.using("other").filter(name="in doubt").exists()
        assert run() == "No prepared transactions in doubt.\n"

    def test_rollback_leaves_no_rows(self, xids):
        assert run("--rollback") == (
            "GROUP  DATABASE  AGE  STATE        GID\n"
            f"1      default   3d   rolled back  {xids['default']}\n"
            f"1      other     3d   rolled back  {xids['other']}\n"
            "2 prepared transactions rolled back (1 group).\n"
        )
        assert prepared_gids("default") == [] and prepared_gids("other") == []
        assert not Author.objects.exists()
        assert not Publisher.objects.using("other").exists()

    def test_gid_acts_on_the_named_group_only(self, xids):
        second = crash_between_prepare_and_commit(name="second")
        assert run("--commit", "--gid", second["other"], "--gid", second["default"]) == (
            "GROUP  DATABASE  AGE  STATE      GID\n"
            f"1      default   3d   committed  {second['default']}\n"
            f"1      other     3d   committed  {second['other']}\n"
            "2 prepared transactions committed (1 group).\n"
        )
        assert list(Author.objects.values_list("name", flat=True)) == ["second"]
        assert prepared_gids("default") == [xids["default"]]
        assert prepared_gids("other") == [xids["other"]]

    def test_the_library_gives_the_parts_of_each_id(self, xids):
        found = recovery.in_doubt()
        assert [(item.alias, item.gid) for item in found] == [
            ("default", xids["default"]),
            ("other", xids["other"]),
        ]
        for item in found:
            parsed = parse_xid(item.gid)
            assert (item.host, item.pid, item.session) == (parsed.host, parsed.pid, parsed.session)
            assert item.created == parsed.created and not item.foreign
            assert item.database == connections[item.alias].settings_dict["NAME"]
            assert datetime.timedelta(days=3) <= item.age < datetime.timedelta(days=3, hours=1)
        assert list(recovery.groups(found).values()) == [found]

    def test_json_output_parses_and_has_the_fields(self, xids):
        report = json.loads(run("--json"))
        assert report["action"] == "list" and report["skipped"] == {}
        assert report["summary"] == (
            "2 prepared transactions in doubt (1 group); nothing changed. "
            "Use --commit or --rollback."
        )
        parsed = parse_xid(xids["default"])
        key = f"{parsed.host}:{parsed.pid}:{parsed.session}"
        assert report["groups"] == [
            {"group": 1, "key": key, "gids": [xids["default"], xids["other"]]}
        ]
        first = report["transactions"][0]
        assert set(first) == JSON_FIELDS
        assert first["gid"] == xids["default"] and first["alias"] == "default"
        assert first["sessionorm"] is True and first["group"] == 1 and first["state"] == "prepared"
        assert (first["host"], first["pid"], first["session"]) == (
            parsed.host,
            parsed.pid,
            parsed.session,
        )
        assert first["age_seconds"] >= 3 * 86400

        committed = json.loads(run("--commit", "--json"))
        assert [row["state"] for row in committed["transactions"]] == ["committed"] * 2
        assert committed["summary"] == "2 prepared transactions committed (1 group)."

    def test_a_foreign_transaction_is_listed_and_never_touched(self, xids, tag):
        foreign = f"someone-else-{tag}"
        prepare_foreign("default", foreign, "INSERT INTO testapp_author (name) VALUES ('theirs')")
        assert run() == (
            "GROUP    DATABASE  AGE  STATE     GID\n"
            f"1        default   3d   prepared  {xids['default']}\n"
            f"1        other     3d   prepared  {xids['other']}\n"
            f"foreign  default   3d   prepared  {foreign}\n"
            "2 prepared transactions in doubt (1 group) and 1 not made by sessionorm; "
            "nothing changed. Use --commit or --rollback.\n"
        )
        assert run("--rollback") == (
            "GROUP    DATABASE  AGE  STATE        GID\n"
            f"1        default   3d   rolled back  {xids['default']}\n"
            f"1        other     3d   rolled back  {xids['other']}\n"
            f"foreign  default   3d   prepared     {foreign}\n"
            "2 prepared transactions rolled back (1 group); "
            "1 not made by sessionorm left in doubt.\n"
        )
        assert run("--commit") == (
            "GROUP    DATABASE  AGE  STATE     GID\n"
            f"foreign  default   3d   prepared  {foreign}\n"
            "No prepared transactions committed; 1 not made by sessionorm left in doubt.\n"
        )
        assert prepared_gids("default") == [foreign]
        assert not Author.objects.exists()

    def test_a_named_foreign_transaction_needs_force(self, xids, tag):
        foreign = f"someone-else-{tag}"
        prepare_foreign("default", foreign)
        with pytest.raises(CommandError) as refused:
            run("--commit", "--gid", foreign)
        assert str(refused.value) == (
            f"Refusing to commit '{foreign}' on 'default': sessionorm did not make it, so its "
            "own transaction manager should resolve it. Pass --force (force=True) to commit "
            "it anyway."
        )
        assert foreign in prepared_gids("default")
        assert run("--rollback", "--gid", foreign, "--force") == (
            "GROUP    DATABASE  AGE  STATE        GID\n"
            f"foreign  default   3d   rolled back  {foreign}\n"
            "1 prepared transaction rolled back.\n"
        )
        assert prepared_gids("default") == [xids["default"]]

    def test_older_than_selects_by_age(self, xids):
        assert run("--commit", "--older-than", str(4 * 86400)) == (
            "No prepared transactions committed.\n"
        )
        assert prepared_gids("default") == [xids["default"]]
        assert run("--commit", "--older-than", "3600").endswith(
            "2 prepared transactions committed (1 group).\n"
        )
        assert Author.objects.exists()


@postgresql
class TestGroups:
    """Hand-made gids of sessionorm's form: literal output and groups of any shape."""

    @pytest.fixture
    def two_groups(self, tag):
        gids = {
            # Session 17 began on default, and joined other three seconds later.
            "17d": sessionorm_gid(tag, "default"),
            "17o": sessionorm_gid(tag, "other", created="20260101T000003Z"),
            "18d": sessionorm_gid(tag, "default", session=18, created="20260101T000010Z"),
        }
        prepare_foreign("default", gids["17d"])
        prepare_foreign("other", gids["17o"])
        prepare_foreign("default", gids["18d"])
        return gids

    def test_a_group_is_one_sessions_transaction_across_databases(self, two_groups):
        gids = two_groups
        assert run() == (
            "GROUP  DATABASE  AGE  STATE     GID\n"
            f"1      default   3d   prepared  {gids['17d']}\n"
            f"1      other     3d   prepared  {gids['17o']}\n"
            f"2      default   3d   prepared  {gids['18d']}\n"
            "3 prepared transactions in doubt (2 groups); nothing changed. "
            "Use --commit or --rollback.\n"
        )

    def test_part_of_a_group_is_refused_without_force(self, two_groups):
        gids = two_groups
        with pytest.raises(CommandError) as refused:
            run("--commit", "--gid", gids["17d"])
        assert str(refused.value) == (
            "Refusing to commit part of a transaction group: session 17 (process 4242 on "
            f"web-3) also prepared {gids['17o']} on 'other', which is not selected. Resolving "
            "some databases of a transaction one way and the others another way leaves them "
            "inconsistent. Select the whole group (name each gid with --gid, or leave out "
            "--gid and --older-than), or pass --force (force=True) if you know how the rest "
            "was resolved."
        )
        assert len(prepared_gids("default")) == 2
        assert run("--commit", "--gid", gids["17d"], "--force") == (
            "GROUP  DATABASE  AGE  STATE      GID\n"
            f"1      default   3d   committed  {gids['17d']}\n"
            "1 prepared transaction committed (1 group).\n"
        )
        assert prepared_gids("default") == [gids["18d"]]
        assert prepared_gids("other") == [gids["17o"]]

    def test_the_group_check_looks_beyond_database(self, two_groups):
        gids = two_groups
        assert run("--database", "other") == (
            "GROUP  DATABASE  AGE  STATE     GID\n"
            f"1      other     3d   prepared  {gids['17o']}\n"
            "1 prepared transaction in doubt (1 group); nothing changed. "
            "Use --commit or --rollback.\n"
        )
        with pytest.raises(CommandError, match="part of a transaction group"):
            run("--database", "other", "--rollback")
        assert run("--database", "default", "--gid", gids["18d"], "--rollback") == (
            "GROUP  DATABASE  AGE  STATE        GID\n"
            f"1      default   3d   rolled back  {gids['18d']}\n"
            "1 prepared transaction rolled back (1 group).\n"
        )

    def test_an_alias_for_a_database_already_seen_is_skipped(self, two_groups):
        # Not monkeypatch: it undoes after the autouse cleanup, which must reach "other".
        other = connections["other"].settings_dict
        other_name, other["NAME"] = other["NAME"], connections["default"].settings_dict["NAME"]
        try:
            out = run()
        finally:
            other["NAME"] = other_name
        assert out.startswith("Skipped 'other': it is the same database as 'default'.\n")
        assert out.endswith(
            "2 prepared transactions in doubt (2 groups); nothing changed. "
            "Use --commit or --rollback.\n"
        )

    def test_a_transaction_resolved_meanwhile_is_reported(self, two_groups):
        found = recovery.in_doubt()
        rollback_all_prepared()
        results = recovery.resolve(found, "commit")
        assert [r.state for r in results] == ["failed"] * 3
        assert "does not exist" in results[0].error
        message = recovery.failures(results)
        first = two_groups["17d"]
        assert message.startswith(
            f"3 of 3 prepared transactions could not be committed: {first} on 'default': "
        )
        assert message.endswith(
            "Those still listed by `manage.py sessionorm_recover` are in doubt: fix the cause "
            "and run it again."
        )


@postgresql
def test_nothing_in_doubt():
    assert run() == "No prepared transactions in doubt.\n"
    assert run("--commit") == "No prepared transactions committed.\n"


def test_commit_and_rollback_exclude_each_other():
    with pytest.raises(CommandError, match="not allowed with argument --commit"):
        run("--commit", "--rollback")


def test_an_unknown_database_is_named():
    with pytest.raises(CommandError) as refused:
        run("--database", "nowhere")
    assert str(refused.value) == (
        "There is no database 'nowhere' in settings.DATABASES (it has default, other)."
    )


@postgresql
def test_an_unknown_gid_is_named():
    with pytest.raises(CommandError) as refused:
        run("--commit", "--gid", "sessionorm:nothing")
    assert str(refused.value) == (
        "No prepared transaction 'sessionorm:nothing' is in doubt on the databases looked at: "
        "it may have been resolved already. List them with `manage.py sessionorm_recover`."
    )


def test_an_unknown_action_is_refused():
    with pytest.raises(recovery.RecoveryError, match="action='forget' is not one of"):
        recovery.resolve([], "forget")


def test_other_backends_are_skipped_with_a_note():
    if connections["default"].vendor == "postgresql":
        pytest.skip("the databases are PostgreSQL; this is the SQLite suite's test")
    assert run() == (
        "Skipped 'default': SQLite has no prepared transactions.\n"
        "Skipped 'other': SQLite has no prepared transactions.\n"
        "No prepared transactions in doubt.\n"
    )
