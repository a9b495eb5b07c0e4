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
