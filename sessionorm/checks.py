"""System checks: configurations that would make sessions misbehave at run time."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register

MIDDLEWARE_PATH = "sessionorm.middleware.SessionMiddleware"

W001 = "sessionorm.W001"
W001_MSG = (
    "SessionMiddleware is installed and database {alias!r} has ATOMIC_REQUESTS = True: "
    "Django's per-view atomic block ends before the middleware commits the request's "
    "Session, so a Session used in the view would outlive the block it joined."
)
W001_HINT = (
    "Set ATOMIC_REQUESTS = False for {alias!r}: the request's Session already makes each "
    "request one transaction, committed when the response is successful."
)


@register()
def check_atomic_requests(app_configs=None, **kwargs):
    if MIDDLEWARE_PATH not in getattr(settings, "MIDDLEWARE", []):
        return []
    return [
        Warning(W001_MSG.format(alias=alias), hint=W001_HINT.format(alias=alias), id=W001)
        for alias, config in settings.DATABASES.items()
        if config.get("ATOMIC_REQUESTS")
    ]
