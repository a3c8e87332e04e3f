"""sessionorm's settings: one ``SESSIONORM`` dict in the Django settings, merged
over :data:`DEFAULTS`.

The app works with ``SESSIONORM`` absent. Read settings with :func:`get_config`
rather than ``django.conf.settings`` so that every module sees the same merged
and checked values; the cache is cleared on Django's ``setting_changed`` signal,
so ``override_settings(SESSIONORM=...)`` and pytest-django's ``settings`` fixture
take effect at once::

    SESSIONORM = {
        "SESSION_FACTORY": "myproject.db.make_session",
        "BATCH_SIZE": 500,
    }
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

__all__ = ["DEFAULTS", "get_config", "get_session_factory"]

DEFAULTS: dict[str, Any] = {
    # Dotted path to (or the object itself) a callable that takes no arguments and
    # returns a new Session: a sessionmaker, a Session subclass, a function.
    # Used by the middleware for request.dbsession and by current_session().
    # None: sessionorm.Session() with its defaults.
    "SESSION_FACTORY": None,
    # bool: a flush sends Django's pre_save/post_save/pre_delete/post_delete
    # signals for each object, as Model.save() and delete() do.
    "SEND_SIGNALS": True,
    # Rows per INSERT/UPDATE/DELETE statement (a positive int); None: as many as
    # the database backend allows in one statement.
    "BATCH_SIZE": None,
    # Rows of one model from which a flush on PostgreSQL inserts with COPY (keys
    # reserved from the sequence first) instead of INSERT; None or 0: never.
    "COPY_THRESHOLD": 1000,
    # bool: keep a record of each flush (objects, statements, timings, errors) for
    # the admin panel and the sessionorm_flushes / sessionorm_stats commands.
    "RECORD_FLUSHES": False,
}


@functools.cache
def get_config() -> dict[str, Any]:
    """Return ``settings.SESSIONORM`` merged over :data:`DEFAULTS`, checked.

    Raises ``ImproperlyConfigured`` for an unknown key or a value of the wrong
    kind, naming the key and what it accepts.
    """
    user = getattr(settings, "SESSIONORM", None) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured(
            f"settings.SESSIONORM must be a dict, not {type(user).__name__}; "
            f"for example SESSIONORM = {{'BATCH_SIZE': 500}}."
        )
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"settings.SESSIONORM has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the known keys are {', '.join(sorted(DEFAULTS))}."
        )
    config = {**DEFAULTS, **user}
    _check(config)
    return config


def _check(config: dict[str, Any]) -> None:
    factory = config["SESSION_FACTORY"]
    if factory is not None and not isinstance(factory, str) and not callable(factory):
        raise ImproperlyConfigured(
            "SESSIONORM['SESSION_FACTORY'] must be None, a dotted path such as "
            "'myproject.db.Session', or a callable that returns a Session; "
            f"got {factory!r}."
        )
    batch = config["BATCH_SIZE"]
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ImproperlyConfigured(
            "SESSIONORM['BATCH_SIZE'] must be None (the backend's limit) or a "
            f"positive int; got {batch!r}."
        )
    threshold = config["COPY_THRESHOLD"]
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0
    ):
        raise ImproperlyConfigured(
            "SESSIONORM['COPY_THRESHOLD'] must be None or 0 (never use COPY) or a "
            f"positive int (rows of one model from which COPY is used); got {threshold!r}."
        )
    for key in ("SEND_SIGNALS", "RECORD_FLUSHES"):
        if not isinstance(config[key], bool):
            raise ImproperlyConfigured(
                f"SESSIONORM[{key!r}] must be True or False; got {config[key]!r}."
            )


@functools.cache
def get_session_factory() -> Callable[[], Any]:
    """Return the callable that makes a new Session (``SESSION_FACTORY``).

    Resolved once and cached, so a request pays no import per Session.
    """
    factory = get_config()["SESSION_FACTORY"]
    if factory is None:
        # Imported here so that this module (and the middleware) import before
        # the Session class does, e.g. while Django loads settings.
        from sessionorm.session import Session

        return Session
    if callable(factory):
        return factory
    try:
        return import_string(factory)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"SESSIONORM['SESSION_FACTORY'] = {factory!r} cannot be imported ({exc}). "
            "Give the dotted path of a callable that returns a Session, e.g. a "
            "module-level `Session = sessionorm.sessionmaker(...)`."
        ) from exc


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    """Forget the merged settings when a test overrides ``SESSIONORM``."""
    if setting == "SESSIONORM":
        get_config.cache_clear()
        get_session_factory.cache_clear()
