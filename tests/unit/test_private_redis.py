"""The embedded Redis's password: generated like the other secrets, kept off the command line."""
import stat
import subprocess

import pytest
import redis

from bot.redis_server import redis_command, wait_for_redis
from bot.run_secrets import load_or_create
from tests.conftest import free_port


def test_a_redis_password_is_generated_into_the_owner_only_secrets_file(tmp_path):
    made = load_or_create(tmp_path, {})
    assert len(made["REDIS_PASSWORD"]) >= 32
    assert f"REDIS_PASSWORD={made['REDIS_PASSWORD']}" in (tmp_path / "secrets.env").read_text()
    assert stat.S_IMODE((tmp_path / "secrets.env").stat().st_mode) == 0o600
    assert load_or_create(tmp_path, {})["REDIS_PASSWORD"] == made["REDIS_PASSWORD"]  # kept across restarts
    assert load_or_create(tmp_path, {"REDIS_PASSWORD": "from-env"})["REDIS_PASSWORD"] == "from-env"


def test_the_embedded_redis_wants_its_password_which_is_not_on_the_command_line(tmp_path):
    port, password = free_port(), "s3cret-Pass_word"
    command = redis_command(port, tmp_path / "redis", password=password)
    assert password not in " ".join(command)
    assert stat.S_IMODE((tmp_path / "redis").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "redis" / "redis.conf").stat().st_mode) == 0o600
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_redis(f"redis://:{password}@127.0.0.1:{port}/0", proc=proc)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).get("x")
    finally:
        proc.terminate()
        proc.wait(10)
    with pytest.raises(ValueError):
        redis_command(port, tmp_path / "other", password="bad pass\nrename-command")
