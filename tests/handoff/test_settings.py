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
