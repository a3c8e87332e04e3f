"""Two-phase commit across the ``default`` and ``other`` databases (PostgreSQL)."""

import pytest
from django.db import IntegrityError, connections, transaction
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, inspect
from sessionorm.exc import InvalidRequestError, PendingRollbackError
from sessionorm.twophase import parse_xid
from tests.testapp.models import Author, Book, Publisher
from tests.twophase_helpers import (
    crash_between_prepare_and_commit,
    prepared_gids,
    raw_connection,
    rollback_all_prepared,
)

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(databases=["default", "other"], transaction=True),
]


@pytest.fixture(autouse=True)
def nothing_left_prepared():
    """A failing test must not leave a prepared transaction that blocks the others."""
    yield
    rollback_all_prepared()


@pytest.fixture
def two_databases():
    session = Session(twophase=True, binds={Publisher: "other"})
    yield session
    session.close()


def test_commit_prepares_every_database_then_commits_them(two_databases):
    session = two_databases
    session.add_all([Publisher(name="p"), Author(name="a")])
    with CaptureQueriesContext(connections["default"]):
        session.flush()
    xids = dict(session.get_transaction()._xids)
    assert set(xids) == {"default", "other"}
    for alias, gid in xids.items():
        parsed = parse_xid(gid)
        assert parsed.alias == alias and parsed.session == session.hash_key
    # One transaction's ids differ only by database, so recovery can group them exactly.
    stems = {gid.replace(f":{alias}:", ":") for alias, gid in xids.items()}
    assert len(stems) == 1

    session.prepare()
    assert set(prepared_gids("default")) == {xids["default"]}
    assert set(prepared_gids("other")) == {xids["other"]}
    session.commit()

    assert prepared_gids("default") == [] and prepared_gids("other") == []
    assert Author.objects.filter(name="a").exists()
    assert Publisher.objects.using("other").filter(name="p").exists()


def test_a_failed_prepare_rolls_back_every_database(two_databases):
    session = two_databases
    session.add(Publisher(name="kept only if all prepare"))
    # The deferred foreign key is checked at PREPARE: this prepare must fail.
    session.add(Book(title="orphan", author_id=10**9))
    with pytest.raises(IntegrityError):
        session.commit()
    assert not session.is_active
    assert prepared_gids("default") == [] and prepared_gids("other") == []
    with pytest.raises(PendingRollbackError, match="IntegrityError"):
        session.execute("SELECT 1")
    session.rollback()
    assert not Publisher.objects.using("other").exists()
    assert not Book.objects.exists()


def test_rollback_after_prepare_leaves_nothing_prepared(two_databases):
    session = two_databases
    publisher = Publisher(name="p")
    session.add_all([publisher, Author(name="a")])
    session.prepare()
    session.rollback()
    assert prepared_gids("default") == [] and prepared_gids("other") == []
    assert inspect(publisher).transient and publisher.pk is None
    assert not Author.objects.exists() and not Publisher.objects.using("other").exists()


def test_prepared_transactions_outlive_a_crash_until_resolved():
    xids = crash_between_prepare_and_commit()
    assert prepared_gids("default") == [xids["default"]]
    assert prepared_gids("other") == [xids["other"]]
    assert not Author.objects.exists()  # prepared, not committed
    for alias, gid in xids.items():
        raw = raw_connection(alias)
        with raw.cursor() as cursor:
            cursor.execute("COMMIT PREPARED %s", [gid])
        raw.close()
    assert Author.objects.filter(name="in doubt").exists()
    assert Publisher.objects.using("other").filter(name="in doubt").exists()


def test_twophase_refuses_to_join_an_atomic_block():
    with transaction.atomic():
        session = Session(twophase=True)
        with pytest.raises(InvalidRequestError, match="already inside transaction.atomic"):
            session.connection(Author)
        assert connections["default"].in_atomic_block  # the caller's block is intact
        session.close()


def test_isolation_level_is_set_for_the_sessions_transaction():
    with Session(isolation_level="SERIALIZABLE") as session:
        assert session.scalar("SHOW transaction_isolation") == "serializable"
    with Session() as session:
        assert session.scalar("SHOW transaction_isolation") == "read committed"


def test_unknown_isolation_level_is_refused():
    session = Session(isolation_level="SOMETIMES")
    with pytest.raises(InvalidRequestError, match="SERIALIZABLE"):
        session.connection(Author)
    session.close()
