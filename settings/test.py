"""The test suite on PostgreSQL: aliases ``default`` and ``other`` (two databases).

``DATABASE_URL`` names the server (e.g. ``postgresql://postgres@localhost/sessionorm``);
when it is unset, a throwaway server is started for this test run (tests/pgserver.py).
``other`` is ``DATABASE_URL_OTHER`` if set, else a second database on the same server.
"""

import os

import dj_database_url

from tests.pgserver import ensure_database_url

from .test_base import *  # noqa: F403

ensure_database_url()


def _database(url: str) -> dict:
    config = dj_database_url.parse(url)
    # libpq's "?host=/socket/dir" lands in OPTIONS; Django expects a socket dir in HOST.
    if not config["HOST"] and "host" in config.get("OPTIONS", {}):
        config["HOST"] = config["OPTIONS"].pop("host")
    return config


default = _database(os.environ["DATABASE_URL"])
if os.environ.get("DATABASE_URL_OTHER"):
    other = _database(os.environ["DATABASE_URL_OTHER"])
else:
    other = {**default, "NAME": default["NAME"] + "_other"}
# Two aliases must never share a test database, even when both URLs name the same one.
other["TEST"] = {"NAME": "test_" + other["NAME"]}
if (other["HOST"], other["PORT"], other["TEST"]["NAME"]) == (
    default["HOST"],
    default["PORT"],
    "test_" + default["NAME"],
):
    other["TEST"]["NAME"] += "_other"

DATABASES = {"default": default, "other": other}
