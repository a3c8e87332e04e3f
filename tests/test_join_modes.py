"""join_transaction_mode: a Session that starts inside a Django atomic block."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from sessionorm import Session
from sessionorm.exc import InvalidRequestError
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("mode", ["conditional_savepoint", "create_savepoint"])
def test_savepoint_modes_roll_back_only_their_own_work(mode):
    with transaction.atomic():
        Author.objects.create(name="outer")
        session = Session(join_transaction_mode=mode)
        with CaptureQueriesContext(connection) as queries:
            session.add(Author(name="inner"))
            session.flush()
            session.rollback()
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert "SAVEPOINT" in sql and "ROLLBACK TO SAVEPOINT" in sql
        assert not connection.needs_rollback
        Author.objects.create(name="after")
    assert sorted(Author.objects.values_list("name", flat=True)) == ["after", "outer"]


@pytest.mark.parametrize("mode", ["conditional_savepoint", "create_savepoint"])
def test_savepoint_modes_commit_releases_and_leaves_the_outer_block_open(mode):
    with transaction.atomic():
        session = Session(join_transaction_mode=mode)
        session.add(Author(name="inner"))
        session.commit()
        assert connection.in_atomic_block
        transaction.set_rollback(True)  # the owner of the outer block decides
    assert not Author.objects.exists()


@pytest.mark.parametrize("mode", ["rollback_only", "control_fully"])
def test_joining_without_savepoint_rollback_marks_the_outer_block(mode):
    with transaction.atomic():
        Author.objects.create(name="outer")
        session = Session(join_transaction_mode=mode)
        with CaptureQueriesContext(connection) as queries:
            session.add(Author(name="inner"))
            session.flush()
            session.rollback()
        assert not any("SAVEPOINT" in q["sql"] for q in queries.captured_queries)
        assert connection.needs_rollback
    assert not Author.objects.exists()  # the whole outer transaction was rolled back


@pytest.mark.parametrize("mode", ["rollback_only", "control_fully"])
def test_joining_without_savepoint_commit_is_the_outer_blocks_to_make(mode):
    with transaction.atomic():
        session = Session(join_transaction_mode=mode)
        session.add(Author(name="inner"))
        session.commit()
        assert connection.in_atomic_block
        assert Author.objects.filter(name="inner").exists()
    assert Author.objects.filter(name="inner").exists()


def test_unknown_mode_is_refused_with_the_choices():
    with pytest.raises(InvalidRequestError, match="conditional_savepoint"):
        Session(join_transaction_mode="sometimes")
