"""System checks, compared by id, message and hint."""

from sessionorm import checks


def test_atomic_requests_with_the_middleware_is_a_warning(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, checks.MIDDLEWARE_PATH]
    settings.DATABASES["default"]["ATOMIC_REQUESTS"] = True
    try:
        messages = checks.check_atomic_requests()
    finally:
        settings.DATABASES["default"]["ATOMIC_REQUESTS"] = False
    assert [(m.id, m.msg, m.hint) for m in messages] == [
        (
            checks.W001,
            checks.W001_MSG.format(alias="default"),
            checks.W001_HINT.format(alias="default"),
        )
    ]


def test_no_warning_without_the_middleware(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != checks.MIDDLEWARE_PATH]
    settings.DATABASES["default"]["ATOMIC_REQUESTS"] = True
    try:
        assert checks.check_atomic_requests() == []
    finally:
        settings.DATABASES["default"]["ATOMIC_REQUESTS"] = False
