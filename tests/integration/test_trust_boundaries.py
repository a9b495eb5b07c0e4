"""Trust boundaries of the real stack (the run command's Redis, handoff service, action server and Rasa):
a shared browser does not hand one shopper's chat to the next, deep JSON is a clear 400, Redis wants a
password and listens on 127.0.0.1 only, and what the run command writes is readable by its user only."""
from __future__ import annotations

import asyncio
import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import jwt
import pytest
import redis as redis_lib

from bot.channels.socketio import notice
from tests.conftest import free_port
from tests.integration.running import RunCommand, conversation_of, handle, matches, socketio_session

CUSTOMER_SECRET = "trust-boundaries-customer-secret-0123456789"


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run_dir = tmp_path_factory.mktemp("run")
    run = RunCommand(None, run_dir, {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(run_dir / "data"),
                                     "CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET})
    run.start()
    yield run
    run.stop()


def customer_token(customer_id: str) -> str:
    """The token the shop's page hands the widget for a signed-in customer."""
    return jwt.encode({"sub": customer_id, "vip_tier": "none", "exp": int(time.time()) + 600}, CUSTOMER_SECRET,
                      algorithm="HS256")


async def history(client: Any) -> Dict[str, Any]:
    got: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
    client.on("history", lambda data: got.put_nowait(data))
    await client.emit("history_request", {})
    return await asyncio.wait_for(got.get(), 10)


async def chat(url: str, texts: List[str], token: Optional[str], session_id: Optional[str] = None) -> str:
    client, handle_, inbox = await socketio_session(url, session_id, token)
    for text in texts:
        data: Dict[str, Any] = {"message": text, "session_id": handle_}
        if token:
            data["customData"] = {"customer_token": token}
        await client.emit("user_uttered", data)
        await asyncio.wait_for(inbox.get(), 30)
    await client.disconnect()
    return handle_


# ---- a shared browser ---------------------------------------------------------------------------

def test_a_stored_handle_does_not_give_the_next_shopper_the_previous_ones_chat(stack: RunCommand):
    ann_id, bob_id = f"ann-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    ann, bob = customer_token(ann_id), customer_token(bob_id)

    async def shared_browser() -> tuple:
        ann_handle = await chat(stack.url, ["hi", "where is my order"], ann)
        seen = {}
        for who, token in (("bob", bob), ("signed out", None), ("ann", ann)):
            client, got, _ = await socketio_session(stack.url, ann_handle, token)
            seen[who] = (got, await history(client))
            await client.disconnect()
        guest_handle = await chat(stack.url, ["hi"], None)
        client, got_by_ann, _ = await socketio_session(stack.url, guest_handle, ann)  # a guest's chat, then ann
        await client.disconnect()
        return ann_handle, seen, guest_handle, got_by_ann

    ann_handle, seen, guest_handle, got_by_ann = asyncio.run(shared_browser())
    for who, customer in (("bob", bob_id), ("signed out", None)):
        got, past = seen[who]
        assert got != ann_handle and conversation_of(got, customer) != ann_handle.rpartition(".")[0], who
        assert past == {"total": 0, "lines": []}, (who, past)
    got, past = seen["ann"]  # ann herself, on a reload, continues her conversation
    assert got == ann_handle
    assert [line["text"] for line in past["lines"] if line["speaker"] == "customer"] == ["hi", "where is my order"]
    assert conversation_of(got_by_ann, ann_id) != conversation_of(guest_handle)


# ---- deep JSON ------------------------------------------------------------------------------------

def nested(depth: int, kind: str) -> str:
    return ('{"a":' * depth + "1" + "}" * depth) if kind == "object" else ("[" * depth + "]" * depth)


@pytest.mark.parametrize("depth, kind", [(600, "object"), (3000, "list")])
def test_deeply_nested_metadata_gets_a_400_over_rest(stack: RunCommand, depth: int, kind: str):
    me = f"deep-{uuid.uuid4().hex[:8]}"
    body = '{"sender": %s, "message": "hi", "metadata": {"x": %s}}' % (json.dumps(handle(me)), nested(depth, kind))
    reply = stack.post_raw(body.encode())
    assert reply.status_code == 400, reply.text[:300]
    assert reply.json()["error"] == "too_deep" and "Traceback" not in reply.text
    assert any(matches(t, "utter_greet") for t in stack.say(me, "hi"))  # the conversation still works


@pytest.mark.parametrize("depth, kind", [(600, "object"), (3000, "list")])
def test_deeply_nested_metadata_gets_a_notice_over_socketio(stack: RunCommand, depth: int, kind: str):
    async def send() -> tuple:
        client, handle_, inbox = await socketio_session(stack.url)
        packet = '42["user_uttered",{"message":"hi","session_id":%s,"customData":{"x":%s}}]' % (
            json.dumps(handle_), nested(depth, kind))
        await client.eio.send(packet[1:])  # the raw Socket.IO packet: the client would not encode this deep
        refused = await asyncio.wait_for(inbox.get(), 15)
        await client.emit("user_uttered", {"message": "hi", "session_id": handle_})
        answered = await asyncio.wait_for(inbox.get(), 30)
        await client.disconnect()
        return refused, answered

    refused, answered = asyncio.run(send())
    assert refused == {"text": notice("too_deep"), "notice": True} and refused["text"] != notice("invalid_message")
    assert matches(answered["text"], "utter_greet")


# ---- Redis and files -------------------------------------------------------------------------------

def test_redis_wants_a_password_and_listens_on_loopback_only(stack: RunCommand):
    import psutil

    port = int(stack.env["REDIS_PORT"])
    with pytest.raises(redis_lib.exceptions.AuthenticationError):
        redis_lib.Redis(host="127.0.0.1", port=port, socket_timeout=5).get("shop:tracker:anyone")
    with pytest.raises(redis_lib.exceptions.AuthenticationError):
        redis_lib.Redis(host="127.0.0.1", port=port, password="guess", socket_timeout=5).ping()
    client = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
    assert client.ping() and client.config_get("bind")["bind"] == "127.0.0.1"
    server = next(p for p in stack.children() if "redis-server" in " ".join(p.cmdline()))
    assert stack.env["REDIS_PASSWORD"] not in " ".join(server.cmdline())  # not visible to `ps`
    listening = [c.laddr.ip for c in server.connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening and set(listening) <= {"127.0.0.1"}, listening


def test_what_the_run_command_writes_is_readable_by_its_user_only(stack: RunCommand):
    run_dir: Path = stack.run_dir  # type: ignore[attr-defined]
    data = run_dir / "data"
    paths = [run_dir, run_dir / "logs", data, data / "redis", *run_dir.rglob("*")]
    assert any(p.name.startswith("appendonly") for p in paths) and any(p.suffix == ".log" for p in paths)
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
