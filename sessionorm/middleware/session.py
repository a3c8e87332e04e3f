"""Request-scoped Sessions: ``request.dbsession``, committed or rolled back with
the response.

Add the middleware near the top of ``MIDDLEWARE`` (after ``SecurityMiddleware``)
so that every middleware listed below it, and the view, can use the Session::

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "sessionorm.middleware.SessionMiddleware",
        ...
    ]

    def add_book(request):
        request.dbsession.add(Book(title=request.POST["title"], author=author))
        return redirect("books")           # < 400: the middleware commits
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from sessionorm.context import SessionScope, bind, unbind

__all__ = ["LazySession", "SessionMiddleware"]

# Where the request keeps its SessionScope for process_exception.
_SCOPE_ATTR = "_sessionorm_scope"


class LazySession(SimpleLazyObject):
    """``request.dbsession``: the request's Session, made on first use.

    Like ``request.user`` it is a lazy proxy: attribute access, ``obj in ...``,
    iteration, ``==`` and ``isinstance(..., Session)`` reach the real Session,
    but ``request.dbsession is session`` is false. Where you need the Session
    object itself (identity checks, ``object_session(obj) is ...``), use
    ``sessionorm.current_session()``, which returns the same Session unwrapped.
    """

    def __init__(self, scope: SessionScope):
        super().__init__(scope.get)
        # Kept beside the wrapped object so repr() does not make a Session.
        self.__dict__["_scope"] = scope

    def __repr__(self) -> str:
        scope = self.__dict__["_scope"]
        if scope.session is None:
            return f"<LazySession of {scope.label}: not made yet>"
        return f"<LazySession of {scope.label}: {scope.session!r}>"


class SessionMiddleware:
    """Give each request a Session and end it with the response.

    - ``request.dbsession`` and ``sessionorm.current_session()`` are the request's
      Session, made on first use by ``SESSIONORM["SESSION_FACTORY"]``. A request
      that never uses it sends no SQL.
    - A response with ``status_code < 400`` commits (when the Session has a
      transaction or unflushed changes); an exception from the view, or a response
      of 400 or more (including the 404/403/500 that Django makes of exceptions),
      rolls back. The Session is closed in every case, even when commit fails;
      a failed commit propagates, so Django answers 500.
    - Sync and async: under ASGI with an async view chain, commit, rollback and
      close run in Django's thread for the request
      (``sync_to_async(thread_sensitive=True)``). An async view uses the Session
      the same way it uses the Django ORM: inside ``sync_to_async``.

    Limits: a streaming response is rendered after the Session is closed, so
    load what it needs in the view. Don't combine with ``ATOMIC_REQUESTS``: the
    view's atomic block would end before the Session's transaction does.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        if get_response is None:
            raise ValueError("SessionMiddleware needs get_response (the next handler).")
        self.get_response = get_response
        # Django hands an async get_response when the chain runs async (ASGI);
        # mark ourselves as a coroutine function so the handler awaits us.
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __repr__(self) -> str:
        return f"<SessionMiddleware {'async' if self._is_async else 'sync'}>"

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._is_async:
            return self.__acall__(request)
        scope = self._open(request)
        token = bind(scope)
        try:
            try:
                response = self.get_response(request)
            except BaseException:
                scope.abort()
                raise
            scope.finish(success=self.succeeded(response))
            return response
        finally:
            # This must run whatever happened: the next request in this
            # context must not see this request's Session.
            unbind(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        scope = self._open(request)
        token = bind(scope)
        try:
            try:
                response = await self.get_response(request)
            except BaseException:
                await _run_sync(scope, scope.abort)
                raise
            await _run_sync(scope, scope.finish, self.succeeded(response))
            return response
        finally:
            unbind(token)

    def process_exception(self, request: HttpRequest, exception: BaseException) -> None:
        """Mark the request failed, so it rolls back even if a middleware listed
        above this one turns the view's exception into a successful response.

        (A middleware listed below that answers the exception itself stops Django
        from calling this method; give such a page an error status.)"""
        scope = getattr(request, _SCOPE_ATTR, None)
        if scope is not None:
            scope.failed = True
        return None

    def succeeded(self, response: HttpResponseBase) -> bool:
        """Whether ``response`` commits: any status below 400 (redirects too).
        Override to change the rule."""
        return response.status_code < 400

    def _open(self, request: HttpRequest) -> SessionScope:
        scope = SessionScope(label=f"request {request.method} {request.path}")
        setattr(request, _SCOPE_ATTR, scope)
        request.dbsession = LazySession(scope)
        return scope


async def _run_sync(scope: SessionScope, method: Callable[..., None], *args: Any) -> None:
    """Run ``method`` where the request's database connection lives.

    A scope that never made a Session touches no connection, so it ends on the
    event loop without a thread hop.
    """
    if scope.session is None:
        method(*args)
    else:
        await sync_to_async(method, thread_sensitive=True)(*args)
