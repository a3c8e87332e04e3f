"""The harness itself: the settings pick the right backend and two distinct databases."""

import os

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections

from tests import pgserver

EXPECTED_VENDOR = {"settings.test": "postgresql", "settings.test_sqlite": "sqlite"}


def test_apps_installed():
    assert apps.is_installed("sessionorm")
    assert apps.get_app_config("testapp").name == "tests.testapp"


@pytest.mark.django_db(databases=["default", "other"])
def test_backend_matches_settings_module():
    assert connections["default"].vendor == EXPECTED_VENDOR[settings.SETTINGS_MODULE]
    assert connections["other"].vendor == connections["default"].vendor


@pytest.mark.django_db(databases=["default", "other"])
def test_other_is_a_different_database():
    default, other = connections["default"], connections["other"]
    assert default.settings_dict["NAME"] != other.settings_dict["NAME"]
    if default.vendor == "postgresql":
        names = []
        for connection in (default, other):
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_database()")
                names.append(cursor.fetchone()[0])
        assert names[0] != names[1]
        assert all(name.startswith("test_") for name in names)


@pytest.mark.django_db(databases=["default", "other"])
def test_testapp_tables_exist_without_migrations():
    # tests.testapp has no migrations folder: the test runner creates its tables (syncdb).
    expected = {
        model._meta.db_table
        for model in apps.get_app_config("testapp").get_models()
        if model._meta.managed and not model._meta.proxy
    }
    for alias in ("default", "other"):
        assert expected <= set(connections[alias].introspection.table_names()), alias


@pytest.mark.postgresql
@pytest.mark.django_db
def test_two_phase_commit_is_enabled():
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW max_prepared_transactions")
        assert int(cursor.fetchone()[0]) >= 10


def test_ensure_database_url_keeps_a_given_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@example.invalid/db")
    pgserver.ensure_database_url()
    assert os.environ["DATABASE_URL"] == "postgresql://someone@example.invalid/db"


def test_no_binaries_is_an_error_not_sqlite(monkeypatch, tmp_path):
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    monkeypatch.setattr(pgserver, "find_spec", lambda name: None)
    monkeypatch.setattr(pgserver.shutil, "which", lambda name: None)
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    with pytest.raises(RuntimeError, match="pip install pgserver"):
        pgserver.find_bindir()
