"""Views and helpers for tests/test_middleware.py, used with
``@pytest.mark.urls("tests.urls_middleware")``.

Each writing view adds a ``demo.Publisher`` named by the ``name`` parameter and
flushes, so the row is in the database's transaction before the middleware
decides; ``status`` picks the response's status and ``fail`` makes the view raise.
"""

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse
from django.urls import path

from demo.models import Publisher
from sessionorm import current_session, object_session
from sessionorm.session import Session


class ViewFailed(Exception):
    """Raised by a view on purpose (``?fail=1``)."""


def _add_and_flush(request):
    params = request.POST or request.GET
    publisher = Publisher(name=params["name"])
    request.dbsession.add(publisher)
    request.dbsession.flush()
    if params.get("fail"):
        raise ViewFailed(f"view failed after adding {publisher.name!r}")
    return publisher, int(params.get("status", 200))


def untouched(request):
    return HttpResponse("no database here")


def add(request):
    publisher, status = _add_and_flush(request)
    return HttpResponse(f"added {publisher.pk}", status=status)


def add_twice(request):
    """Adds two publishers with one unique name: the middleware's commit fails."""
    name = request.GET["name"]
    request.dbsession.add_all([Publisher(name=name), Publisher(name=name)])
    return HttpResponse("the commit will fail")


def identity(request):
    """Reports how request.dbsession and current_session() relate."""
    publisher = Publisher(name="identity")
    request.dbsession.add(publisher)
    session = current_session()
    return JsonResponse(
        {
            "equal": session == request.dbsession,
            "isinstance": isinstance(request.dbsession, Session),
            "object_session_is_current": object_session(publisher) is session,
            "added_is_in_current": publisher in session,
            "same_on_second_call": current_session() is session,
        }
    )


async def add_async(request):
    def work():
        publisher, status = _add_and_flush(request)
        return status, object_session(publisher) is current_session()

    status, same = await sync_to_async(work)()
    return JsonResponse({"same_session": same}, status=status)


async def untouched_async(request):
    return HttpResponse("no database here either")


urlpatterns = [
    path("untouched/", untouched),
    path("add/", add),
    path("add-twice/", add_twice),
    path("identity/", identity),
    path("async/add/", add_async),
    path("async/untouched/", untouched_async),
]


class RecordingSessions:
    """A SESSION_FACTORY that keeps every Session it makes and counts close() calls."""

    def __init__(self):
        self.sessions = []
        self.closes = 0

    def __call__(self):
        session = Session()
        close = session.close

        def counting_close():
            self.closes += 1
            close()

        session.close = counting_close
        self.sessions.append(session)
        return session


class SwallowErrorsMiddleware:
    """Turns a view's exception into a 200 page, as a friendly-error middleware
    might; the request must still roll back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return HttpResponse(f"swallowed {exception}", status=200)
