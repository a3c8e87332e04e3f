from django.apps import AppConfig


class TestAppConfig(AppConfig):
    # No migrations folder: the test runner creates these tables directly (syncdb).
    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"
