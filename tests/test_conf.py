"""sessionorm.conf: one SESSIONORM dict over documented defaults, checked, cached
and re-read when a test overrides it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from sessionorm import sessionmaker
from sessionorm.conf import DEFAULTS, get_config, get_session_factory
from sessionorm.session import Session

# A factory for the dotted-path test below.
configured_factory = sessionmaker(autoflush=False)


def test_defaults_when_the_setting_is_absent(settings):
    del settings.SESSIONORM
    assert get_config() == DEFAULTS
    assert get_config() == {
        "SESSION_FACTORY": None,
        "SEND_SIGNALS": True,
        "BATCH_SIZE": None,
        "COPY_THRESHOLD": 1000,
        "RECORD_FLUSHES": False,
    }
    assert get_session_factory() is Session


def test_override_is_merged_over_defaults_and_seen_at_once(settings):
    settings.SESSIONORM = {"BATCH_SIZE": 500}
    assert get_config() == {**DEFAULTS, "BATCH_SIZE": 500}
    settings.SESSIONORM = {"SEND_SIGNALS": False}
    assert get_config()["BATCH_SIZE"] is None
    assert get_config()["SEND_SIGNALS"] is False


def test_factory_by_dotted_path(settings):
    settings.SESSIONORM = {"SESSION_FACTORY": "tests.test_conf.configured_factory"}
    assert get_session_factory() is configured_factory


def test_factory_that_cannot_be_imported_names_the_setting(settings):
    settings.SESSIONORM = {"SESSION_FACTORY": "tests.nowhere.Session"}
    with pytest.raises(ImproperlyConfigured, match=r"SESSIONORM\['SESSION_FACTORY'\] = "):
        get_session_factory()


def test_unknown_key_lists_the_known_ones(settings):
    settings.SESSIONORM = {"BATCHSIZE": 10}
    with pytest.raises(ImproperlyConfigured) as error:
        get_config()
    assert str(error.value) == (
        "settings.SESSIONORM has unknown key(s) 'BATCHSIZE'; the known keys are "
        "BATCH_SIZE, COPY_THRESHOLD, RECORD_FLUSHES, SEND_SIGNALS, SESSION_FACTORY."
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ({"BATCH_SIZE": 0}, "positive int; got 0"),
        ({"BATCH_SIZE": True}, "positive int; got True"),
        ({"SEND_SIGNALS": "yes"}, "must be True or False; got 'yes'"),
        ({"SESSION_FACTORY": 3}, "got 3"),
    ],
)
def test_wrong_values_say_what_is_accepted(settings, override, message):
    settings.SESSIONORM = override
    with pytest.raises(ImproperlyConfigured, match=message):
        get_config()


def test_setting_must_be_a_dict(settings):
    settings.SESSIONORM = [("BATCH_SIZE", 10)]
    with pytest.raises(ImproperlyConfigured, match="must be a dict, not list"):
        get_config()
