"""SessionMiddleware: lazy per-request Sessions, committed on success, rolled
back on an exception or an error status, always closed; sync and async.

Tests whose point is a real COMMIT use ``transaction=True`` and read the row back
through a separate database connection, which sees committed rows only.
"""

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.db import connection, connections
from django.http import HttpResponse
from django.test import Client
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext

from demo.models import Publisher
from sessionorm import exc
from sessionorm.context import current_scope
from sessionorm.middleware import SessionMiddleware
from tests.urls_middleware import RecordingSessions, ViewFailed

pytestmark = pytest.mark.urls("tests.urls_middleware")

SESSION_MIDDLEWARE = "sessionorm.middleware.SessionMiddleware"
SWALLOW_ERRORS = "tests.urls_middleware.SwallowErrorsMiddleware"


@pytest.fixture(autouse=True)
def session_middleware(settings):
    """The project's middleware with SessionMiddleware second, as documented."""
    middleware = [m for m in settings.MIDDLEWARE if m != SESSION_MIDDLEWARE]
    middleware.insert(1, SESSION_MIDDLEWARE)
    settings.MIDDLEWARE = middleware


@pytest.fixture
def sessions(settings):
    """Every Session the requests make, with a count of close() calls."""
    recorder = RecordingSessions()
    settings.SESSIONORM = {"SESSION_FACTORY": recorder}
    return recorder


def committed_names():
    """Publisher names committed to the database, read on a fresh connection so
    that rows in an open transaction of the test's connection don't count."""
    fresh = connections.create_connection("default")
    try:
        with fresh.cursor() as cursor:
            cursor.execute(f"SELECT name FROM {Publisher._meta.db_table}")
            return {name for (name,) in cursor.fetchall()}
    finally:
        fresh.close()


# -- laziness -------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_that_never_uses_the_session_sends_no_sql(client, sessions):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/untouched/")
    assert response.status_code == 200
    assert queries.captured_queries == []
    assert sessions.sessions == []


def test_unused_dbsession_shows_it_was_never_made():
    request = RequestFactory().get("/somewhere/")
    SessionMiddleware(lambda request: HttpResponse())(request)
    assert repr(request.dbsession) == "<LazySession of request GET /somewhere/: not made yet>"


# -- commit and rollback --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [200, 201, 302])
def test_success_status_commits(client, status):
    response = client.post("/add/", {"name": f"ok-{status}", "status": status})
    assert response.status_code == status
    assert committed_names() == {f"ok-{status}"}
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [400, 403, 404, 500])
def test_error_status_rolls_back(client, status):
    response = client.post("/add/", {"name": f"bad-{status}", "status": status})
    assert response.status_code == status
    assert committed_names() == set()
    assert not Publisher.objects.exists()
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_exception_in_view_rolls_back(client):
    with pytest.raises(ViewFailed):
        client.post("/add/", {"name": "raised", "fail": "1"})
    assert committed_names() == set()
    assert not Publisher.objects.exists()
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_exception_turned_into_success_page_still_rolls_back(settings):
    settings.MIDDLEWARE = [SWALLOW_ERRORS, *settings.MIDDLEWARE]
    response = Client().post("/add/", {"name": "swallowed", "fail": "1"})
    assert response.status_code == 200
    assert response.content.startswith(b"swallowed")
    assert committed_names() == set()


@pytest.mark.django_db(transaction=True)
def test_failed_commit_answers_500_and_still_closes(sessions):
    client = Client(raise_request_exception=False)
    response = client.get("/add-twice/", {"name": "twice"})
    assert response.status_code == 500
    assert committed_names() == set()
    assert sessions.closes == 1
    assert not connection.in_atomic_block


@pytest.mark.django_db
def test_commit_inside_test_transaction_releases_only_its_savepoint(client):
    """In a TestCase-style transaction the Session joins through a savepoint;
    the middleware's commit must leave the outer transaction open."""
    response = client.post("/add/", {"name": "inside"})
    assert response.status_code == 200
    assert connection.in_atomic_block
    assert list(Publisher.objects.values_list("name", flat=True)) == ["inside"]


# -- closing and scoping --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data", [{"name": "fine"}, {"name": "error", "status": 500}], ids=["success", "error"]
)
def test_session_closed_after_request(client, sessions, data):
    client.post("/add/", data)
    [session] = sessions.sessions
    assert sessions.closes == 1
    assert not session.in_transaction()
    assert len(session) == 0


@pytest.mark.django_db
def test_session_closed_after_exception(client, sessions):
    with pytest.raises(ViewFailed):
        client.post("/add/", {"name": "boom", "fail": "1"})
    [session] = sessions.sessions
    assert sessions.closes == 1
    assert not session.in_transaction()


@pytest.mark.django_db
def test_current_session_is_the_requests_session(client):
    before = current_scope()
    assert client.get("/identity/").json() == {
        "equal": True,
        "isinstance": True,
        "object_session_is_current": True,
        "added_is_in_current": True,
        "same_on_second_call": True,
    }
    assert current_scope() is before


@pytest.mark.django_db
def test_each_request_gets_its_own_session(client, sessions):
    client.post("/add/", {"name": "first"})
    client.post("/add/", {"name": "second"})
    first, second = sessions.sessions
    assert first is not second


def test_dbsession_used_after_the_response_is_refused():
    request = RequestFactory().get("/late/")
    SessionMiddleware(lambda request: HttpResponse())(request)
    with pytest.raises(exc.ResourceClosedError, match="after that scope ended"):
        request.dbsession.add(object())


# -- async ---------------------------------------------------------------------------


def test_middleware_is_async_in_an_async_chain():
    async def get_response(request):
        return HttpResponse()

    assert iscoroutinefunction(SessionMiddleware(get_response))
    assert not iscoroutinefunction(SessionMiddleware(lambda request: HttpResponse()))


@pytest.mark.django_db(transaction=True)
def test_async_view_commits(async_client):
    response = async_to_sync(async_client.post)("/async/add/", {"name": "async-ok"})
    assert response.status_code == 200
    assert response.json() == {"same_session": True}
    assert committed_names() == {"async-ok"}
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_async_view_error_status_rolls_back(async_client):
    response = async_to_sync(async_client.post)("/async/add/", {"name": "async-bad", "status": 500})
    assert response.status_code == 500
    assert committed_names() == set()


@pytest.mark.django_db(transaction=True)
def test_async_view_exception_rolls_back_and_closes(async_client, sessions):
    with pytest.raises(ViewFailed):
        async_to_sync(async_client.post)("/async/add/", {"name": "async-boom", "fail": "1"})
    assert committed_names() == set()
    assert sessions.closes == 1
    assert not connection.in_atomic_block


@pytest.mark.django_db
def test_async_request_that_never_uses_the_session_sends_no_sql(async_client, sessions):
    with CaptureQueriesContext(connection) as queries:
        response = async_to_sync(async_client.get)("/async/untouched/")
    assert response.status_code == 200
    assert queries.captured_queries == []
    assert sessions.sessions == []
