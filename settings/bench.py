"""The benchmarks (``python -m bench``): PostgreSQL and the bench models, nothing else.

``DATABASE_URL`` names the server; ``python -m bench`` sets it (starting a throwaway
server when it is unset) and names its own database on that server in
``SESSIONORM_BENCH_DATABASE``, so a benchmark never writes into the database the URL
names. No admin, auth or demo apps: the run migrates only what it measures.
"""

import os

import dj_database_url

from .base import BASE_DIR, SECRET_KEY  # noqa: F401

DEBUG = False  # True would make Django keep every query in memory, inside the timers
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["django.contrib.contenttypes", "sessionorm", "bench"]

SESSIONORM: dict = {}


def _database(url: str) -> dict:
    config = dj_database_url.parse(url)
    # libpq's "?host=/socket/dir" lands in OPTIONS; Django expects a socket dir in HOST
    # (as in settings/test.py).
    if not config["HOST"] and "host" in config.get("OPTIONS", {}):
        config["HOST"] = config["OPTIONS"].pop("host")
    return config


DATABASES = {"default": _database(os.environ["DATABASE_URL"])}
if os.environ.get("SESSIONORM_BENCH_DATABASE"):
    DATABASES["default"]["NAME"] = os.environ["SESSIONORM_BENCH_DATABASE"]
