import pytest

from bot.settings import RedisTarget, Settings, SettingsError


def test_defaults_run_on_one_machine():
    s = Settings.from_env({})
    assert (s.rasa_port, s.action_port, s.redis_url, s.redis_port) == (5005, 5055, None, 6379)


def test_redis_url_is_parsed_and_checked():
    assert RedisTarget.from_url("redis://:s3cret@db.local:6380/2") == RedisTarget("db.local", 6380, 2, "s3cret")
    with pytest.raises(SettingsError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": "http://x"})
    with pytest.raises(SettingsError, match="RASA_PORT"):
        Settings.from_env({"RASA_PORT": "abc"})


def test_the_rasa_server_listens_on_the_loopback_unless_bot_interface_says_otherwise():
    assert Settings.from_env({}).interface == "127.0.0.1"
    assert Settings.from_env({"BOT_INTERFACE": "0.0.0.0"}).interface == "0.0.0.0"
@pytest.mark.parametrize("env", [
    {"REDIS_URL": "redis://db-a:6379/0", "HANDOFF_REDIS_URL": "redis://db-b:6379/0"},
    {"REDIS_URL": "redis://db-a:6379/0", "HANDOFF_REDIS_URL": "redis://db-a:6379/1"},
    {"HANDOFF_REDIS_URL": "redis://db-b:6379/0"},  # the run command would start its own Redis for the bot
    {"REDIS_PORT": "6390", "HANDOFF_REDIS_URL": "redis://127.0.0.1:6379/0"},
])
def test_the_outbox_is_never_written_to_one_redis_and_read_from_another(env):
    with pytest.raises(SettingsError, match="HANDOFF_REDIS_URL") as refused:
        Settings.from_env(env)
    assert "same Redis" in str(refused.value)


@pytest.mark.parametrize("env", [
    {"REDIS_URL": "redis://:pw@localhost:6379/0", "HANDOFF_REDIS_URL": "redis://127.0.0.1/0"},
    {"REDIS_PORT": "6390", "HANDOFF_REDIS_URL": "redis://localhost:6390"},
    {"REDIS_URL": "redis://db-a:6379/2"},
])
def test_one_redis_named_two_ways_is_fine(env):
    Settings.from_env(env)


def test_the_bridge_and_the_action_server_refuse_two_redis_when_started_alone(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REDIS_URL": "redis://127.0.0.1:6379/0",
           "HANDOFF_REDIS_URL": "redis://127.0.0.1:6380/0", "HANDOFF_URL": "http://127.0.0.1:1",
           "HANDOFF_BOT_TOKEN": "t"}
    bridge = subprocess.run([sys.executable, "-c", "from bot.bridge.bridge import HandoffBridge; HandoffBridge.from_env()"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bridge.returncode != 0 and "same Redis" in bridge.stderr
    actions = subprocess.run([sys.executable, "-m", "actions", "--port", "1"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert actions.returncode == 2 and "same Redis" in actions.stderr


def test_one_rasa_server_per_core_unless_rasa_servers_says_otherwise(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Settings.from_env({}).rasa_servers == 2
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: one
    assert Settings.from_env({}).rasa_servers == 1
    assert Settings.from_env({"RASA_SERVERS": "3"}).rasa_servers == 3
    for bad in ("0", "-1", "two", "1.5", "1000"):
        with pytest.raises(SettingsError, match="RASA_SERVERS"):
            Settings.from_env({"RASA_SERVERS": bad})
