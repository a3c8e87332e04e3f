from django.apps import AppConfig


class SessionORMConfig(AppConfig):
    name = "sessionorm"
    verbose_name = "sessionorm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from sessionorm import checks  # noqa: F401  (registers the system checks)
