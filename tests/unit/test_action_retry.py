"""A call to the action server that cannot connect is tried again until the server is back."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

import bot.channels  # noqa: F401 - installs the channel-time patches, as the Rasa server does
from bot import action_retry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve_later(port: int, delay: float, calls: list) -> web.AppRunner:
    await asyncio.sleep(delay)

    async def webhook(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_an_action_call_made_while_the_action_server_restarts_reaches_it_once_it_is_back(monkeypatch):
    monkeypatch.setenv("ACTION_RETRY_SECONDS", "10")
    port = free_port()

    async def scenario():
        calls: list = []
        server = asyncio.ensure_future(serve_later(port, 1.0, calls))  # "restarting": refused for a second
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        try:
            answer = await endpoint.request(json={"next_action": "action_request_handoff"}, method="post")
        finally:
            await (await server).cleanup()
        return answer, calls

    answer, calls = asyncio.run(scenario())
    assert answer == {"events": [], "responses": []}
    assert calls == [{"next_action": "action_request_handoff"}]  # run once


def test_retrying_gives_up_after_the_bounded_time(monkeypatch):
    monkeypatch.setenv("ACTION_RETRY_SECONDS", "0.5")
    endpoint = EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook")
    loop_time = []

    async def call():
        start = asyncio.get_running_loop().time()
        try:
            await endpoint.request(json={}, method="post")
        finally:
            loop_time.append(asyncio.get_running_loop().time() - start)

    with pytest.raises(aiohttp.ClientConnectorError):
        asyncio.run(call())
    assert 0.3 <= loop_time[0] < 2.0


def test_an_answer_or_a_timeout_is_not_retried():
    tries = []

    async def request(_self, *args, **kwargs):
        tries.append(1)
        raise asyncio.TimeoutError()

    wrapped = action_retry.retrying(request, seconds=lambda: 5.0)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(wrapped(EndpointConfig("http://127.0.0.1:1/webhook")))
    assert tries == [1]
    assert not action_retry.unanswered(aiohttp.ClientResponseError(None, (), status=500))
    assert action_retry.unanswered(aiohttp.ServerDisconnectedError())


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf"])
def test_a_bad_retry_setting_is_a_clear_error(raw):
    with pytest.raises(ValueError, match="ACTION_RETRY_SECONDS"):
        action_retry.retry_seconds({"ACTION_RETRY_SECONDS": raw})
