"""What every test settings module shares; each database backend adds DATABASES."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

# The default hashers are slow on purpose; tests only need users to exist.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
