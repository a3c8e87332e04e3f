"""Horizontal scale (docs/scaling.md): replicas, data split by model, data split by shard key.

The two aliases stand in for the servers: ``other`` plays the read replica, the
database some models are bound to, or the second shard. Two-phase commit needs
PostgreSQL; the rest runs on every backend.
"""

import pytest
from django.db import IntegrityError, connections
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, identity_key, inspect, sessionmaker
from tests.testapp.models import Author, Book, Publisher
from tests.twophase_helpers import prepared_gids, rollback_all_prepared

pytestmark = pytest.mark.django_db(databases=["default", "other"], transaction=True)


@pytest.fixture(autouse=True)
def nothing_left_prepared():
    """A failed two-phase test must not leave locks that keep the databases from flushing."""
    yield
    if connections["default"].vendor == "postgresql":
        rollback_all_prepared()


class captured:
    """The SQL sent to each of ``default`` and ``other`` inside the block."""

    def __enter__(self):
        self.contexts = {a: CaptureQueriesContext(connections[a]) for a in ("default", "other")}
        for context in self.contexts.values():
            context.__enter__()
        return self

    def __exit__(self, *exc):
        for context in self.contexts.values():
            context.__exit__(*exc)

    def __getitem__(self, alias):
        return [query["sql"] for query in self.contexts[alias].captured_queries]


# -- read replicas -----------------------------------------------------------------------


class PrimaryReplica:
    """Writes go to the primary (``default``), reads to the replica (``other``)."""

    def db_for_read(self, model, **hints):
        return "other"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True


class TestReadReplica:
    @pytest.fixture(autouse=True)
    def replica(self, settings):
        settings.DATABASE_ROUTERS = [PrimaryReplica()]
        # What replication would have copied: the replica holds the primary's rows.
        Author.objects.using("default").create(name="Ursula")
        Author.objects.using("other").create(name="Ursula")

    def test_a_session_reads_and_writes_through_the_write_alias(self):
        with Session() as session, captured() as sql:
            assert session.get_bind(Author) == "default"
            session.add(Author(name="Ged"))
            names = sorted(session.query(Author).values_list("name", flat=True))
            session.commit()
        # The read saw the session's own write: it went to the primary, after the autoflush.
        assert names == ["Ged", "Ursula"]
        assert sql["other"] == []
        assert any(s.startswith("INSERT") for s in sql["default"])
        assert any(s.startswith("SELECT") for s in sql["default"])

    def test_plain_querysets_read_the_replica(self):
        with Session() as session:
            session.add(Author(name="Ged"))
            session.commit()
        # Replication has not copied Ged yet: Django's querysets read the replica.
        assert sorted(Author.objects.values_list("name", flat=True)) == ["Ursula"]

    def test_a_read_only_session_uses_the_replica(self):
        with Session(using="other") as replica, captured() as sql:
            ursula = replica.query(Author).get(name="Ursula")
            assert replica.get(Author, ursula.pk) is ursula
        assert inspect(ursula).key == identity_key(Author, ursula.pk, "other")
        assert sql["default"] == []
        assert [s for s in sql["other"] if s.startswith("SELECT")] == [
            'SELECT "testapp_author"."id", "testapp_author"."name", '
            '"testapp_author"."publisher_id" FROM "testapp_author" '
            'WHERE "testapp_author"."name" = \'Ursula\' LIMIT 21'
        ]

    def test_related_objects_of_session_objects_load_from_the_primary(self):
        with Session() as session:
            session.add(Book(title="A Wizard of Earthsea", author=Author(name="Ged")))
            session.commit()
        with Session() as session, captured() as sql:
            book = session.query(Book).get(title="A Wizard of Earthsea")
            assert book.author.name == "Ged"  # not replicated yet: only the primary has it
            assert book.author is session.get(Author, book.author_id)
        assert sql["other"] == []


# -- data split by model -------------------------------------------------------------------


class PublishersElsewhere:
    """Publisher lives in ``other``, everything else in ``default``."""

    def db_for_write(self, model, **hints):
        return "other" if model is Publisher else "default"

    db_for_read = db_for_write

    def allow_relation(self, obj1, obj2, **hints):
        return True


class TestSplitByModel:
    def test_binds_put_each_model_in_its_database(self):
        with Session(binds={Publisher: "other"}) as session, captured() as sql:
            session.add_all([Publisher(name="Ace"), Author(name="Ursula")])
            session.commit()
        assert [s.split(" (")[0] for s in sql["other"] if s.startswith("INSERT")] == [
            'INSERT INTO "testapp_publisher"'
        ]
        assert [s.split(" (")[0] for s in sql["default"] if s.startswith("INSERT")] == [
            'INSERT INTO "testapp_author"'
        ]
        assert Publisher.objects.using("other").filter(name="Ace").exists()
        assert not Publisher.objects.using("default").exists()

    def test_routers_do_the_same_without_binds(self, settings):
        settings.DATABASE_ROUTERS = [PublishersElsewhere()]
        with Session() as session:
            assert (session.get_bind(Publisher), session.get_bind(Author)) == ("other", "default")
            session.add_all([Publisher(name="Ace"), Author(name="Ursula")])
            session.commit()
        assert Publisher.objects.filter(name="Ace").exists()  # the router reads "other"
        assert Author.objects.filter(name="Ursula").exists()

    @pytest.mark.postgresql
    def test_two_phase_commit_writes_both_databases(self):
        factory = sessionmaker(twophase=True, binds={Publisher: "other"})
        with factory.begin() as session:
            session.add_all([Publisher(name="Ace"), Author(name="Ursula")])
            session.flush()
            assert set(session.get_transaction()._xids) == {"default", "other"}
        assert Publisher.objects.using("other").filter(name="Ace").exists()
        assert Author.objects.filter(name="Ursula").exists()
        assert prepared_gids("default") == [] and prepared_gids("other") == []

    @pytest.mark.postgresql
    def test_a_failure_rolls_both_databases_back(self):
        factory = sessionmaker(twophase=True, binds={Publisher: "other"})
        with pytest.raises(RuntimeError), factory.begin() as session:
            session.add_all([Publisher(name="Ace"), Author(name="Ursula")])
            session.flush()  # both databases hold the rows, uncommitted
            raise RuntimeError("the unit of work failed after the flush")
        assert not Publisher.objects.using("other").exists()
        assert not Author.objects.exists()

    @pytest.mark.postgresql
    def test_a_failed_prepare_rolls_both_databases_back(self, settings):
        settings.DATABASE_ROUTERS = [PublishersElsewhere()]
        session = Session(twophase=True)
        session.add(Publisher(name="Ace"))
        # A deferred foreign key is checked at PREPARE on default: that prepare fails.
        session.add(Book(title="orphan", author_id=10**9))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.close()
        assert not Publisher.objects.using("other").exists()
        assert not Book.objects.using("default").exists()
        assert prepared_gids("default") == [] and prepared_gids("other") == []


# -- data split by a shard key ---------------------------------------------------------------


def shard_for(name: str) -> str:
    return "default" if name[:1].lower() <= "m" else "other"


class ShardByName:
    """Authors A-M live in ``default``, N-Z in ``other``; a book lives with its author.

    Only a new object tells the router which shard it belongs to (the ``instance``
    hint); without one the router has no opinion and Django picks ``default``.
    """

    def db_for_write(self, model, **hints):
        instance = hints.get("instance")
        if isinstance(instance, Author):
            return shard_for(instance.name)
        if isinstance(instance, Book) and Book.author.is_cached(instance):
            return shard_for(instance.author.name)
        return None

    db_for_read = db_for_write

    def allow_relation(self, obj1, obj2, **hints):
        return obj1._state.db == obj2._state.db


class TestShards:
    @pytest.fixture(autouse=True)
    def shards(self, settings):
        settings.DATABASE_ROUTERS = [ShardByName()]

    @pytest.fixture
    def same_pk_on_both_shards(self):
        with Session() as session:
            session.add_all([Author(pk=7, name="Alice"), Author(pk=7, name="Zoe")])
            session.commit()

    def test_new_objects_land_on_their_shard(self):
        with Session() as session:
            alice, zoe = Author(name="Alice"), Author(name="Zoe")
            session.add_all([alice, zoe])
            session.commit()
            assert inspect(alice).key[2] == "default" and inspect(zoe).key[2] == "other"
        assert list(Author.objects.using("default").values_list("name", flat=True)) == ["Alice"]
        assert list(Author.objects.using("other").values_list("name", flat=True)) == ["Zoe"]

    def test_a_new_book_follows_its_new_author(self):
        with Session() as session:
            session.add(Book(title="Tehanu", author=Author(name="Tenar")))
            session.commit()
        assert Book.objects.using("other").filter(author__name="Tenar").exists()
        assert not Book.objects.using("default").exists()

    def test_the_same_pk_on_two_shards_is_two_objects(self, same_pk_on_both_shards):
        with Session() as session:
            alice = session.query(Author).using("default").get(pk=7)
            zoe = session.query(Author).using("other").get(pk=7)
            assert (alice.name, zoe.name) == ("Alice", "Zoe")
            assert inspect(alice).key == identity_key(Author, 7, "default")
            assert inspect(zoe).key == identity_key(Author, 7, "other")
            # Loading again gives the session's object of that shard.
            assert session.query(Author).using("other").get(pk=7) is zoe
            # get() reads where get_bind(Author) points: db_for_write(Author), no instance.
            assert session.get(Author, 7) is alice

    def test_changes_go_back_to_the_objects_shard(self, same_pk_on_both_shards):
        with Session() as session:
            zoe = session.query(Author).using("other").get(pk=7)
            zoe.name = "Arha"  # the router would put a new "Arha" in default; rows stay
            session.commit()
        assert Author.objects.using("other").get(pk=7).name == "Arha"
        assert Author.objects.using("default").get(pk=7).name == "Alice"

    def test_deletes_go_to_the_objects_shard(self, same_pk_on_both_shards):
        with Session() as session:
            session.delete(session.query(Author).using("other").get(pk=7))
            session.commit()
        assert not Author.objects.using("other").exists()
        assert Author.objects.using("default").filter(pk=7).exists()

    def test_a_failed_flush_writes_no_shard(self, same_pk_on_both_shards):
        session = Session()
        session.add_all([Author(name="Bob"), Author(pk=7, name="Nemmerle")])  # 7 is taken
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.close()
        assert not Author.objects.using("default").filter(name="Bob").exists()

    def test_select_related_loads_from_the_rows_shard(self, same_pk_on_both_shards):
        Book.objects.using("other").create(title="Tehanu", author_id=7)
        with Session() as session:
            book = session.query(Book).using("other").select_related("author").get()
            assert book.author.name == "Zoe"
            assert inspect(book.author).key == identity_key(Author, 7, "other")

    @pytest.mark.postgresql
    def test_two_phase_commit_across_shards(self):
        with Session(twophase=True) as session:
            session.add_all([Author(name="Alice"), Author(name="Zoe")])
            session.flush()
            assert set(session.get_transaction()._xids) == {"default", "other"}
            session.commit()
        assert Author.objects.using("default").filter(name="Alice").exists()
        assert Author.objects.using("other").filter(name="Zoe").exists()

    def test_get_from_a_named_shard(self, same_pk_on_both_shards):
        with Session() as session:
            assert session.get(Author, 7, using="other").name == "Zoe"

    def test_binds_for_one_model_keep_the_shard_router_for_the_others(self):
        with Session(binds={Publisher: "other"}) as session:
            session.add_all([Publisher(name="Ace"), Author(name="Zoe")])
            session.commit()
        assert Author.objects.using("other").filter(name="Zoe").exists()

    def test_a_books_author_loads_from_the_books_shard(self, same_pk_on_both_shards):
        Book.objects.using("other").create(title="Tehanu", author_id=7)
        with Session() as session:
            book = session.query(Book).using("other").get(title="Tehanu")
            assert book.author.name == "Zoe"  # not Alice, who has pk 7 on default
