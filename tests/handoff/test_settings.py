"""The handoff service's settings: defaults, and clear errors naming the variable."""
from __future__ import annotations

import pytest

from handoff.settings import Settings, SettingsError

REQUIRED = {"HANDOFF_BOT_TOKEN": "b" * 16, "HANDOFF_TOKEN_SECRET": "s" * 32}


def test_the_agent_grace_period_defaults_to_a_minute_and_reads_its_variable():
    assert Settings.from_env(REQUIRED).agent_grace_seconds == 60.0
    assert Settings.from_env({**REQUIRED, "HANDOFF_AGENT_GRACE_SECONDS": "2.5"}).agent_grace_seconds == 2.5


@pytest.mark.parametrize("value,message", [
    ("0", "HANDOFF_AGENT_GRACE_SECONDS must be greater than 0"),
    ("-5", "HANDOFF_AGENT_GRACE_SECONDS must be greater than 0"),
    ("soon", "HANDOFF_AGENT_GRACE_SECONDS must be a number"),
    ("1", "must be greater than HANDOFF_SWEEP_SECONDS"),  # sweeps every 1 s refresh presence
])
def test_a_bad_agent_grace_period_stops_the_service_with_its_name(value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**REQUIRED, "HANDOFF_AGENT_GRACE_SECONDS": value})


def test_missing_secrets_are_named():
    with pytest.raises(SettingsError, match="HANDOFF_BOT_TOKEN is not set"):
        Settings.from_env({})


def test_allowed_origins_are_read_as_origins_and_bad_ones_are_named():
    assert Settings.from_env(REQUIRED).allowed_origins == ()
    settings = Settings.from_env({**REQUIRED, "HANDOFF_ALLOWED_ORIGINS": " https://Console.Example.com, http://x:8080/ ,"})
    assert settings.allowed_origins == ("https://console.example.com", "http://x:8080")
    for bad in ("console.example.com", "https://x.com/path", "ftp://x.com", "https://user@x.com"):
        with pytest.raises(SettingsError, match="HANDOFF_ALLOWED_ORIGINS"):
            Settings.from_env({**REQUIRED, "HANDOFF_ALLOWED_ORIGINS": bad})


def test_the_conversations_key_and_canned_responses_have_defaults_and_variables():
    settings = Settings.from_env(REQUIRED)
    assert settings.conversations_key == "{shop}:stats:conversations:"
    assert settings.canned_responses_file.name == "canned_responses.yml"
    other = Settings.from_env({**REQUIRED, "HANDOFF_CONVERSATIONS_KEY": "x:conv:", "HANDOFF_CANNED_RESPONSES": "/c.yml"})
    assert (other.conversations_key, str(other.canned_responses_file)) == ("x:conv:", "/c.yml")


def test_the_handoff_service_listens_on_the_loopback_unless_handoff_host_says_otherwise():
    from bot.supervisor import handoff_host
    assert Settings.from_env(REQUIRED).host == "127.0.0.1"
    # The run command used to pass BOT_INTERFACE (the Rasa server's, 0.0.0.0 by default) as HANDOFF_HOST.
    assert handoff_host({"BOT_INTERFACE": "0.0.0.0"}) == "127.0.0.1"
    assert handoff_host({"BOT_INTERFACE": "0.0.0.0", "HANDOFF_HOST": "10.0.0.5"}) == "10.0.0.5"


def test_missed_offers_and_login_limits_have_defaults_and_read_their_variables():
    s = Settings.from_env(REQUIRED)
    assert (s.max_missed_offers, s.login_max_failures_per_agent, s.login_max_failures_per_address,
            s.login_window_seconds, s.auth_cache_seconds) == (2, 5, 20, 900, 5.0)
    assert Settings.from_env({**REQUIRED, "HANDOFF_MAX_MISSED_OFFERS": "0"}).max_missed_offers == 0  # never
    with pytest.raises(SettingsError, match="HANDOFF_MAX_MISSED_OFFERS must be greater than -1"):
        Settings.from_env({**REQUIRED, "HANDOFF_MAX_MISSED_OFFERS": "-1"})
    with pytest.raises(SettingsError, match="HANDOFF_LOGIN_MAX_FAILURES_PER_AGENT must be greater than 0"):
        Settings.from_env({**REQUIRED, "HANDOFF_LOGIN_MAX_FAILURES_PER_AGENT": "0"})
