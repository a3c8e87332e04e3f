"""The transaction state machine on its own: each method called in each state.

A ``SessionTransaction`` is ``active``, ``prepared`` (after ``prepare()``),
``committed`` (only observable while ``after_commit`` listeners run), ``deactive``
(a flush failed; only ``rollback()`` may follow) or ``closed``. Every method either
runs, leaving the transaction in the state the table names, or refuses with the
error class of the state it found — ``PendingRollbackError`` when deactive,
``ResourceClosedError`` when closed, ``InvalidRequestError`` otherwise — in words
that name that state and what to do.

The tables are the specification; the states a method is declared for
(``@_declare`` in sessionorm/transaction.py) must agree with them. Part of the
transaction suite: every test also runs inside an outer ``atomic()``.
"""

import pytest
from django.db import IntegrityError

from sessionorm import event, inspect
from sessionorm.exc import InvalidRequestError, PendingRollbackError, ResourceClosedError
from sessionorm.transaction import SessionTransaction, TransactionState
from tests import transaction_suite
from tests.testapp.models import Author

pytestmark = transaction_suite.marks()


# -- what each method does to a transaction -----------------------------------------------

METHODS = {
    "commit": lambda session, tx: tx.commit(),
    "rollback": lambda session, tx: tx.rollback(),
    "prepare": lambda session, tx: tx.prepare(),
    "connection_for": lambda session, tx: tx.connection_for("default"),
    "close": lambda session, tx: tx.close(),
    "begin_nested": lambda session, tx: session.begin_nested(),
}

# What a refusal must say in each state: the state, then what to do about it.
SAYS = {
    "active": ["root transaction"],  # only prepare() of a SAVEPOINT level refuses
    "prepared": ["This transaction is prepared", "needs an active transaction", "Commit or roll"],
    "committed": ["This transaction is committed", "needs an active transaction"],
    "deactive": [
        "rolled back due to a previous error",
        "rollback()",
        "Original exception was: IntegrityError",
    ],
    "closed": ["This transaction is closed", "session.begin()"],
}

IRE, PRE, RCE = InvalidRequestError, PendingRollbackError, ResourceClosedError

# (method, state the root transaction is in) -> the state it ends in, or the error.
ROOT_TABLE = [
    ("commit", "active", "closed"),
    ("commit", "prepared", "closed"),
    ("commit", "committed", IRE),
    ("commit", "deactive", PRE),
    ("commit", "closed", RCE),
    ("rollback", "active", "closed"),
    ("rollback", "prepared", "closed"),
    ("rollback", "committed", "closed"),
    ("rollback", "deactive", "closed"),
    ("rollback", "closed", "closed"),
    ("prepare", "active", "prepared"),
    ("prepare", "prepared", IRE),
    ("prepare", "committed", IRE),
    ("prepare", "deactive", PRE),
    ("prepare", "closed", RCE),
    ("connection_for", "active", "active"),
    ("connection_for", "prepared", "prepared"),
    ("connection_for", "committed", IRE),
    ("connection_for", "deactive", PRE),
    ("connection_for", "closed", RCE),
    ("close", "active", "closed"),
    ("close", "prepared", "closed"),
    ("close", "committed", "closed"),
    ("close", "deactive", "closed"),
    ("close", "closed", "closed"),
    ("begin_nested", "active", "active"),  # a SAVEPOINT level on top of it
    ("begin_nested", "prepared", IRE),
    ("begin_nested", "committed", IRE),
    ("begin_nested", "deactive", PRE),
    ("begin_nested", "closed", "closed"),  # the session begins a new transaction
]


# (method, state a SAVEPOINT level is in) -> the state it ends in, or the error.
NESTED_TABLE = [
    ("commit", "active", "closed"),
    ("commit", "deactive", PRE),
    ("commit", "closed", RCE),
    ("rollback", "active", "closed"),
    ("rollback", "deactive", "closed"),
    ("rollback", "closed", "closed"),
    ("prepare", "active", IRE),
    ("prepare", "deactive", PRE),
    ("prepare", "closed", RCE),
    ("connection_for", "active", "active"),
    ("connection_for", "deactive", PRE),
    ("connection_for", "closed", RCE),
    ("close", "active", "closed"),
    ("close", "deactive", "closed"),
    ("close", "closed", "closed"),
    ("begin_nested", "active", "active"),  # a deeper level on top of it
    ("begin_nested", "deactive", PRE),
    ("begin_nested", "closed", "closed"),  # the new level nests in the root
]


def _ids(table):
    ids = []
    for row in table:
        method, state, _outcome = row.values if hasattr(row, "values") else row
        ids.append(f"{method}-when-{state}")
    return ids


def fail_a_flush(session):
    """Make the innermost level deactive: a NOT NULL violation in its flush."""
    bad = Author(name=None)
    session.add(bad)
    with pytest.raises(IntegrityError):
        session.flush()
    return bad


def reach_root(session, state: str) -> SessionTransaction:
    """Begin a root transaction and bring it to ``state`` (not ``committed``)."""
    tx = session.begin()
    session.add(Author(name="in the transaction"))
    if state == "prepared":
        session.prepare()
    elif state == "deactive":
        fail_a_flush(session)
    elif state == "closed":
        tx.commit()
    assert tx.state.value == state
    return tx


def reach_nested(session, state: str) -> SessionTransaction:
    """Begin a SAVEPOINT level over a used root and bring it to ``state``."""
    session.add(Author(name="in the root"))
    session.flush()
    nested = session.begin_nested()
    if state == "deactive":
        fail_a_flush(session)
    elif state == "closed":
        nested.commit()
    assert nested.state.value == state
    return nested


def attempt(method: str, session, tx):
    """Call ``method`` on ``tx``; return the error it raised, or None."""
    try:
        METHODS[method](session, tx)
    except InvalidRequestError as exc:
        return exc
    return None


def attempt_while_committed(method: str, session):
    """Call ``method`` on the root transaction from an ``after_commit`` listener.

    Returns the transaction, the error (or None) and the state it was left in.
    """
    seen = {}

    def during_after_commit(session):
        tx = session.get_transaction()
        assert tx.state is TransactionState.COMMITTED
        seen["tx"], seen["error"] = tx, attempt(method, session, tx)
        seen["state"] = tx.state.value

    event.listen(session, "after_commit", during_after_commit)
    session.begin()
    session.add(Author(name="committed"))
    session.commit()
    event.remove(session, "after_commit", during_after_commit)
    return seen["tx"], seen["error"], seen["state"]


def check_outcome(method, state, outcome, error, end_state):
    if isinstance(outcome, str):
        assert error is None, f"{method}() refused in state {state}: {error}"
        assert end_state == outcome
        return
    assert type(error) is outcome, f"{method}() in state {state} gave {error!r}"
    message = str(error)
    assert f"{method}()" in message
    for words in SAYS[state]:
        assert words in message
    assert end_state == state  # a refusal changes nothing


@pytest.mark.parametrize(("method", "state", "outcome"), ROOT_TABLE, ids=_ids(ROOT_TABLE))
def test_root_transaction(session, method, state, outcome):
    if state == "committed":
        tx, error, end_state = attempt_while_committed(method, session)
    else:
        tx = reach_root(session, state)
        error = attempt(method, session, tx)
        end_state = tx.state.value
    check_outcome(method, state, outcome, error, end_state)
    if method == "begin_nested" and error is None:
        nested = session.get_nested_transaction()
        assert nested.parent is session.get_transaction()
        assert (nested.parent is tx) == (state == "active")


@pytest.mark.parametrize(("method", "state", "outcome"), NESTED_TABLE, ids=_ids(NESTED_TABLE))
def test_savepoint_transaction(session, method, state, outcome):
    root = session.begin()
    nested = reach_nested(session, state)
    error = attempt(method, session, nested)
    check_outcome(method, state, outcome, error, nested.state.value)
    assert root.state is TransactionState.ACTIVE  # whatever a level does, the root goes on
    if method == "begin_nested" and error is None:
        deeper = session.get_nested_transaction()
        assert deeper.parent is (nested if state == "active" else root)


@pytest.mark.parametrize("method", ["commit", "prepare", "connection_for"])
def test_declared_states_are_the_tables_successes(method):
    declared = {s.value for s in getattr(SessionTransaction, method)._allowed_states}
    runs = {state for m, state, outcome in ROOT_TABLE if m == method and isinstance(outcome, str)}
    assert declared == runs


def test_rollback_and_close_run_in_every_state():
    for method in ("rollback", "close"):
        assert not hasattr(getattr(SessionTransaction, method), "_allowed_states")
        outcomes = {outcome for m, _state, outcome in ROOT_TABLE if m == method}
        assert outcomes == {"closed"}


# -- what the outcomes mean beyond the state -----------------------------------------------


def test_commit_after_prepare_writes_and_rollback_after_prepare_undoes(session):
    kept, undone = Author(name="kept"), Author(name="undone")
    session.add(kept)
    session.prepare()
    session.commit()
    session.add(undone)
    session.prepare()
    session.rollback()
    assert inspect(undone).transient and undone.pk is None
    assert list(Author.objects.values_list("name", flat=True)) == ["kept"]


def test_rollback_while_committed_leaves_the_committed_work_alone(session):
    author = Author(name="committed")
    rollbacks = []
    event.listen(session, "after_rollback", rollbacks.append)
    event.listen(session, "after_commit", lambda s: s.get_transaction().rollback())
    session.add(author)
    session.commit()
    assert inspect(author).persistent and author.pk is not None
    assert rollbacks == []
    assert Author.objects.filter(pk=author.pk).exists()


@transaction_suite.django_db(["default", "other"])
def test_a_prepared_transaction_takes_no_new_database(session):
    tx = session.begin()
    session.add(Author(name="prepared"))
    session.prepare()
    assert tx.connection_for("default").alias == "default"  # already prepared: fine
    with pytest.raises(InvalidRequestError, match="prepared"):
        tx.connection_for("other")


# -- a failed flush: the session refuses work until rollback() ------------------------------

SESSION_WORK = {
    "flush": lambda s, obj: s.flush(),
    "commit": lambda s, obj: s.commit(),
    "prepare": lambda s, obj: s.prepare(),
    "begin_nested": lambda s, obj: s.begin_nested(),
    "connection": lambda s, obj: s.connection(),
    "execute": lambda s, obj: s.execute("SELECT 1"),
    "query": lambda s, obj: list(s.query(Author)),
    "refresh": lambda s, obj: s.refresh(obj),
}


@pytest.mark.parametrize("work", list(SESSION_WORK))
def test_after_a_failed_flush_the_session_refuses_work_until_rollback(session, work):
    author = session.get(Author, Author.objects.create(name="loaded").pk)
    root = session.get_transaction()
    fail_a_flush(session)
    assert not session.is_active and root.state is TransactionState.DEACTIVE
    with pytest.raises(PendingRollbackError) as refused:
        SESSION_WORK[work](session, author)
    assert "Original exception was: IntegrityError" in str(refused.value)
    assert "session.rollback()" in str(refused.value)
    session.rollback()
    assert session.is_active and not session.in_transaction()
    assert author.name == "loaded"  # expired by the rollback, loads again
    session.add(Author(name="after"))
    session.commit()
    assert sorted(Author.objects.values_list("name", flat=True)) == ["after", "loaded"]
