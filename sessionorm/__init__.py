"""sessionorm: SQLAlchemy's ORM Session (unit of work, identity map, object
lifecycle, transaction stack) for Django models.

The public names below are the contract documented in ``docs/``; everything
else in the package is machinery.
"""

from sessionorm import events as event
from sessionorm import exc
from sessionorm.context import current_session
from sessionorm.identity import identity_key
from sessionorm.session import (
    Session,
    close_all_sessions,
    make_transient,
    make_transient_to_detached,
    object_session,
    sessionmaker,
)
from sessionorm.state import inspect

__all__ = [
    "Session",
    "sessionmaker",
    "current_session",
    "object_session",
    "inspect",
    "event",
    "exc",
    "identity_key",
    "make_transient",
    "make_transient_to_detached",
    "close_all_sessions",
]
