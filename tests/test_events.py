"""Session events: every name fires with SQLAlchemy's arguments, on every kind of target.

``SCENARIOS`` holds, for each event name, the code that makes it fire and the
arguments a listener must receive. The same table runs with the listener on the
Session instance, on a sessionmaker and on the Session class.
"""

import pytest
from django.db import connections

from sessionorm import Session, event, exc, make_transient, sessionmaker
from sessionorm.events import EVENT_NAMES
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db


def existing_author(name="Ursula"):
    return Author.objects.create(name=name)


class Recorder:
    """A listener that keeps the arguments of every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)


# Each scenario takes a fresh session, makes the event fire and returns a function that
# checks the recorded calls (a list of argument tuples).


def _transaction_create(s):
    transaction = s.begin()
    return lambda calls: calls == [(s, transaction)]


def _transaction_end(s):
    transaction = s.begin()
    s.commit()
    return lambda calls: calls == [(s, transaction)]


def _begin(s):
    s.get(Author, existing_author().pk)
    transaction = s.get_transaction()
    return lambda calls: calls == [(s, transaction, connections["default"])]


def _commit(s):
    s.add(Author(name="x"))
    s.commit()
    return lambda calls: calls == [(s,)]


def _rollback(s):
    s.add(Author(name="x"))
    s.flush()
    s.rollback()
    return lambda calls: calls == [(s,)]


def _soft_rollback(s):
    s.get(Author, existing_author().pk)
    transaction = s.get_transaction()
    s.rollback()
    return lambda calls: calls == [(s, transaction)]


def _before_flush(s):
    s.add(Author(name="x"))
    s.flush()
    return lambda calls: len(calls) == 1 and calls[0][0] is s and len(calls[0]) == 3


def _after_flush(s):
    s.add(Author(name="x"))
    s.flush()
    return lambda calls: len(calls) == 1 and calls[0][0] is s and len(calls[0]) == 2


def _attach(s):
    author = Author(name="x")
    s.add(author)
    return lambda calls: calls == [(s, author)]


def _bulk_update(s):
    author = s.get(Author, existing_author().pk)
    s.query(Author).filter(pk=author.pk).update(name="bulk")

    def check(calls):
        (context,) = calls[0]
        return len(calls) == 1 and context.session is s and context.rowcount == 1

    return check


def _bulk_delete(s):
    author = s.get(Author, existing_author().pk)
    s.query(Author).filter(pk=author.pk).delete()

    def check(calls):
        (context,) = calls[0]
        return len(calls) == 1 and context.session is s and context.rowcount == 1

    return check


def _transient_to_pending(s):
    author = Author(name="x")
    s.add(author)
    return lambda calls: calls == [(s, author)]


def _pending_to_transient(s):
    author = Author(name="x")
    s.add(author)
    s.expunge(author)
    return lambda calls: calls == [(s, author)]


def _pending_to_persistent(s):
    author = Author(name="x")
    s.add(author)
    s.flush()
    return lambda calls: calls == [(s, author)]


def _persistent_to_detached(s):
    author = s.get(Author, existing_author().pk)
    s.expunge(author)
    return lambda calls: calls == [(s, author)]


def _persistent_to_deleted(s):
    author = s.get(Author, existing_author().pk)
    s.delete(author)
    s.flush()
    return lambda calls: calls == [(s, author)]


def _deleted_to_detached(s):
    author = s.get(Author, existing_author().pk)
    s.delete(author)
    s.commit()
    return lambda calls: calls == [(s, author)]


def _deleted_to_persistent(s):
    author = s.get(Author, existing_author().pk)
    s.delete(author)
    s.flush()
    s.rollback()
    return lambda calls: calls == [(s, author)]


def _detached_to_persistent(s):
    author = s.get(Author, existing_author().pk)
    s.expunge(author)
    s.add(author)
    return lambda calls: calls == [(s, author)]


def _loaded_as_persistent(s):
    author = s.get(Author, existing_author().pk)
    return lambda calls: calls == [(s, author)]


def _persistent_to_transient(s):
    author = s.get(Author, existing_author().pk)
    make_transient(author)
    return lambda calls: calls == [(s, author)]


SCENARIOS = {
    "after_transaction_create": _transaction_create,
    "after_transaction_end": _transaction_end,
    "after_begin": _begin,
    "before_commit": _commit,
    "after_commit": _commit,
    "after_rollback": _rollback,
    "after_soft_rollback": _soft_rollback,
    "before_flush": _before_flush,
    "after_flush": _after_flush,
    "after_flush_postexec": _after_flush,
    "before_attach": _attach,
    "after_attach": _attach,
    "after_bulk_update": _bulk_update,
    "after_bulk_delete": _bulk_delete,
    "transient_to_pending": _transient_to_pending,
    "pending_to_transient": _pending_to_transient,
    "pending_to_persistent": _pending_to_persistent,
    "persistent_to_detached": _persistent_to_detached,
    "persistent_to_deleted": _persistent_to_deleted,
    "deleted_to_detached": _deleted_to_detached,
    "deleted_to_persistent": _deleted_to_persistent,
    "detached_to_persistent": _detached_to_persistent,
    "loaded_as_persistent": _loaded_as_persistent,
    "persistent_to_transient": _persistent_to_transient,
}


def test_every_event_name_has_a_scenario():
    assert set(SCENARIOS) == EVENT_NAMES


@pytest.fixture(params=["instance", "sessionmaker", "class"])
def listen_on(request):
    """``listen_on(name, fn)`` registers ``fn`` on one kind of target and returns a
    Session that target covers. Listeners are removed at teardown."""
    registered = []
    sessions = []

    def register(name, fn):
        if request.param == "instance":
            session = Session()
            target = session
        elif request.param == "sessionmaker":
            target = sessionmaker()
            session = target()
        else:
            target = Session
            session = Session()
        event.listen(target, name, fn)
        registered.append((target, name, fn))
        sessions.append(session)
        return session

    yield register
    for target, name, fn in registered:
        event.remove(target, name, fn)
    for session in reversed(sessions):
        session.close()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_event_fires_with_sqlalchemys_arguments(listen_on, name):
    recorder = Recorder()
    session = listen_on(name, recorder)
    check = SCENARIOS[name](session)
    assert recorder.calls, f"{name} did not fire"
    assert check(recorder.calls), recorder.calls


def test_flush_events_share_one_flush_context():
    session = Session()
    contexts = {}
    for name in ("before_flush", "after_flush", "after_flush_postexec"):
        event.listen(session, name, lambda s, ctx, *rest, name=name: contexts.setdefault(name, ctx))
    session.add(Author(name="x"))
    session.flush()
    session.close()
    assert contexts["after_flush"] is not None
    assert contexts["before_flush"] is contexts["after_flush"] is contexts["after_flush_postexec"]


def test_lifecycle_events_fire_in_order_for_one_object():
    session = Session()
    seen = []
    for name in EVENT_NAMES:
        event.listen(session, name, lambda *args, name=name: seen.append(name))
    author = Author(name="x")
    session.add(author)
    session.flush()
    session.delete(author)
    session.commit()
    session.close()
    lifecycle = [n for n in seen if "_to_" in n]
    assert lifecycle == [
        "transient_to_pending",
        "pending_to_persistent",
        "persistent_to_deleted",
        "deleted_to_detached",
    ]
    assert seen.index("before_commit") < seen.index("after_commit")
    assert (
        seen.index("before_flush") < seen.index("after_flush") < seen.index("after_flush_postexec")
    )


def test_rollback_of_a_flushed_insert_makes_the_object_transient_again():
    session = Session()
    recorder = Recorder()
    event.listen(session, "persistent_to_transient", recorder)
    pending = Recorder()
    event.listen(session, "pending_to_transient", pending)
    flushed, unflushed = Author(name="flushed"), Author(name="unflushed")
    session.add(flushed)
    session.flush()
    session.add(unflushed)
    session.rollback()
    assert recorder.calls == [(session, flushed)]
    assert pending.calls == [(session, unflushed)]


# -- targets ------------------------------------------------------------------------------


def test_sessionmaker_listener_fires_only_for_its_sessions():
    factory, other_factory = sessionmaker(), sessionmaker()
    recorder = Recorder()
    event.listen(factory, "transient_to_pending", recorder)
    mine, plain, other = factory(), Session(), other_factory()
    for s in (mine, plain, other):
        s.add(Author(name="x"))
    assert [args[0] for args in recorder.calls] == [mine]
    for s in (other, plain, mine):
        s.close()


def test_configure_keeps_the_sessionmakers_listeners():
    factory = sessionmaker()
    recorder = Recorder()
    event.listen(factory, "transient_to_pending", recorder)
    factory.configure(autoflush=False)
    s = factory()
    s.add(Author(name="x"))
    assert len(recorder.calls) == 1
    s.close()


def test_instance_listener_fires_only_for_that_session():
    first, second = Session(), Session()
    recorder = Recorder()
    event.listen(first, "transient_to_pending", recorder)
    first.add(Author(name="a"))
    second.add(Author(name="b"))
    assert [args[0] for args in recorder.calls] == [first]
    second.close()
    first.close()


def test_class_listener_fires_for_every_session_including_factories_sessions():
    recorder = Recorder()
    event.listen(Session, "transient_to_pending", recorder)
    try:
        plain, made = Session(), sessionmaker()()
        plain.add(Author(name="a"))
        made.add(Author(name="b"))
        assert [args[0] for args in recorder.calls] == [plain, made]
    finally:
        event.remove(Session, "transient_to_pending", recorder)
        made.close()
        plain.close()


def test_subclass_listener_fires_only_for_the_subclass():
    class AuditedSession(Session):
        pass

    recorder = Recorder()
    event.listen(AuditedSession, "transient_to_pending", recorder)
    audited, plain = AuditedSession(), Session()
    audited.add(Author(name="a"))
    plain.add(Author(name="b"))
    assert [args[0] for args in recorder.calls] == [audited]
    plain.close()
    audited.close()


def test_listeners_run_class_first_then_sessionmaker_then_instance():
    order = []
    factory = sessionmaker()
    session = factory()

    def on_class(s, obj):
        order.append("class")

    event.listen(session, "transient_to_pending", lambda s, obj: order.append("instance"))
    event.listen(factory, "transient_to_pending", lambda s, obj: order.append("sessionmaker"))
    event.listen(Session, "transient_to_pending", on_class)
    try:
        session.add(Author(name="x"))
    finally:
        event.remove(Session, "transient_to_pending", on_class)
        session.close()
    assert order == ["class", "sessionmaker", "instance"]


# -- listen, listens_for, remove ---------------------------------------------------------


def test_remove_stops_the_listener():
    session = Session()
    recorder = Recorder()
    event.listen(session, "transient_to_pending", recorder)
    session.add(Author(name="a"))
    assert event.contains(session, "transient_to_pending", recorder)
    event.remove(session, "transient_to_pending", recorder)
    assert not event.contains(session, "transient_to_pending", recorder)
    session.add(Author(name="b"))
    assert len(recorder.calls) == 1
    session.close()


def test_remove_from_a_class_reaches_existing_sessions():
    recorder = Recorder()
    session = Session()
    event.listen(Session, "transient_to_pending", recorder)
    session.add(Author(name="a"))
    event.remove(Session, "transient_to_pending", recorder)
    session.add(Author(name="b"))
    assert len(recorder.calls) == 1
    session.close()


def test_listens_for_decorator_registers_and_returns_the_function():
    session = Session()
    calls = []

    @event.listens_for(session, "after_attach")
    def on_attach(s, obj):
        calls.append(obj)

    author = Author(name="a")
    session.add(author)
    assert calls == [author]
    assert callable(on_attach) and event.contains(session, "after_attach", on_attach)
    session.close()


def test_unknown_event_name_raises_invalid_request_error():
    with pytest.raises(exc.InvalidRequestError, match="No session event named 'after_save'"):
        event.listen(Session(), "after_save", lambda *a: None)
    with pytest.raises(exc.InvalidRequestError, match="before_insert"):

        @event.listens_for(Session, "before_insert")
        def on_insert(*args):
            pass


def test_a_target_that_is_not_a_session_raises():
    with pytest.raises(exc.InvalidRequestError, match="target must be a Session"):
        event.listen(Author, "after_commit", lambda s: None)


def test_remove_of_a_listener_that_is_not_registered_raises():
    with pytest.raises(exc.InvalidRequestError, match="is not listening"):
        event.remove(Session(), "after_commit", lambda s: None)


def test_a_listener_that_raises_propagates():
    session = Session()

    def refuse(s, obj):
        raise RuntimeError("refused")

    event.listen(session, "before_attach", refuse)
    author = Author(name="x")
    with pytest.raises(RuntimeError, match="refused"):
        session.add(author)
    assert author not in session
    session.close()
