"""Django middleware of sessionorm.

``MIDDLEWARE += ["sessionorm.middleware.SessionMiddleware"]`` gives each request a
Session as ``request.dbsession``; see :mod:`sessionorm.middleware.session`.
"""

from sessionorm.middleware.session import LazySession, SessionMiddleware

__all__ = ["LazySession", "SessionMiddleware"]
