"""The demo: SQLite in a file at the repository root, request-scoped sessions."""

from .base import *  # noqa: F403
from .base import BASE_DIR, MIDDLEWARE

DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "demo.sqlite3",
    }
}

MIDDLEWARE = [*MIDDLEWARE, "sessionorm.middleware.SessionMiddleware"]
