"""The action server's secret check (actions/access.py) and where the secret comes from."""
import asyncio
import json
from types import SimpleNamespace

import pytest
from sanic import Sanic

from actions.access import AccessSettings, MissingSecret, refusal, require_secret
from bot.run_secrets import load_or_create

SECRET = "s3cret-0123456789abcdef"


@pytest.mark.parametrize("header, status", [
    (None, 401), ("", 401), ("Bearer", 403), ("Bearer wrong", 403), (f"Basic {SECRET}", 403), (SECRET, 403),
    (f"Bearer {SECRET}x", 403), (f"Bearer {SECRET}", None), (f"bearer  {SECRET} ", None),
])
def test_only_the_shared_secret_passes(header, status):
    assert refusal(header, SECRET) == status


def test_settings_need_a_secret_and_default_to_the_loopback_interface():
    with pytest.raises(MissingSecret, match="ACTION_SERVER_TOKEN"):
        AccessSettings.from_env({})
    with pytest.raises(MissingSecret):
        AccessSettings.from_env({"ACTION_SERVER_TOKEN": "short"})
    assert AccessSettings.from_env({"ACTION_SERVER_TOKEN": SECRET}) == AccessSettings(SECRET, "127.0.0.1")
    assert AccessSettings.from_env({"ACTION_SERVER_TOKEN": SECRET, "ACTION_SERVER_HOST": "0.0.0.0"}).host == "0.0.0.0"


def test_every_route_but_health_is_guarded():
    app = Sanic("access_test")
    require_secret(app, SECRET)
    (check,) = app.request_middleware  # what Sanic runs before any route

    def answer(path, authorization=None):
        headers = {"Authorization": authorization} if authorization is not None else {}
        return asyncio.run(check(SimpleNamespace(path=path, headers=headers)))

    assert answer("/webhook").status == 401 and json.loads(answer("/webhook").body)["error"] == "missing_token"
    assert answer("/webhook", "Bearer nope").status == 403
    assert answer("/actions").status == 401
    assert answer("/webhook", f"Bearer {SECRET}") is None  # on to the route
    assert answer("/health") is None


def test_the_run_command_generates_the_secret_into_an_owner_only_file(tmp_path):
    values = load_or_create(tmp_path, {})
    assert len(values["ACTION_SERVER_TOKEN"]) >= 32
    assert (tmp_path / "secrets.env").stat().st_mode & 0o077 == 0
    assert load_or_create(tmp_path, {})["ACTION_SERVER_TOKEN"] == values["ACTION_SERVER_TOKEN"]
    assert load_or_create(tmp_path, {"ACTION_SERVER_TOKEN": SECRET})["ACTION_SERVER_TOKEN"] == SECRET
