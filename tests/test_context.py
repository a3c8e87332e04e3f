"""current_session() and session_scope() outside requests.

Each test that leaves a Session current runs in a fresh ``contextvars.Context`` so
nothing leaks into the next test.
"""

import contextvars
import threading

import pytest
from django.db import connection, connections

from demo.models import Publisher
from sessionorm import current_session
from sessionorm.context import current_scope, session_scope


def in_fresh_context(function):
    return contextvars.Context().run(function)


def committed_names():
    fresh = connections.create_connection("default")
    try:
        with fresh.cursor() as cursor:
            cursor.execute(f"SELECT name FROM {Publisher._meta.db_table}")
            return {name for (name,) in cursor.fetchall()}
    finally:
        fresh.close()


def test_current_session_outside_a_scope_is_kept_for_the_context():
    def run():
        first = current_session()
        assert current_session() is first
        return first

    assert in_fresh_context(run) is not in_fresh_context(run)


def test_each_thread_has_its_own_current_session():
    seen = []

    def run():
        seen.append(current_session())

    def in_thread():
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()

    in_thread()
    in_thread()
    assert len(seen) == 2 and seen[0] is not seen[1]


@pytest.mark.django_db(transaction=True)
def test_session_scope_commits_and_is_current_inside():
    before = current_scope()
    with session_scope() as session:
        assert current_session() is session
        session.add(Publisher(name="scoped"))
    assert current_scope() is before
    assert committed_names() == {"scoped"}
    assert not session.in_transaction() and len(session) == 0
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_session_scope_rolls_back_on_error():
    with pytest.raises(RuntimeError), session_scope() as session:
        session.add(Publisher(name="doomed"))
        session.flush()
        raise RuntimeError("the block failed after a flush")
    assert committed_names() == set()
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_session_scope_without_commit_is_a_dry_run():
    with session_scope(commit=False) as session:
        session.add(Publisher(name="dry"))
        session.flush()
        assert Publisher.objects.filter(name="dry").exists()
    assert committed_names() == set()


def test_nested_scopes_restore_the_outer_session():
    def run():
        with session_scope() as outer:
            with session_scope() as inner:
                assert current_session() is inner
            assert current_session() is outer
        assert current_scope() is None

    in_fresh_context(run)
