"""Customer -> server over the real stack (run command over a real redis-server this test stops and starts):
a web-chat message with a client id is acknowledged only once it is in the tracker, is stored and answered once
however often it is sent, gets no acknowledgement while Redis is down (and is stored once when sent again after),
and a burst keeps its order."""
from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import redis as redis_lib

from bot.redis_server import redis_command, wait_for_redis
from tests.conftest import free_port
from tests.integration.running import REDIS_PASSWORD, RunCommand, conversation_of, handle, socketio_session


class Redis:
    """A redis-server this test can stop and start again (same port, same data folder)."""

    def __init__(self, data_dir: Path) -> None:
        self.port, self.data_dir = free_port(), data_dir
        self.url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.proc = subprocess.Popen(redis_command(self.port, self.data_dir, password=REDIS_PASSWORD),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_redis(self.url, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    box = Redis(tmp_path_factory.mktemp("redis"))
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory, redis_box: Redis) -> Iterator[RunCommand]:
    run = RunCommand(redis_box.url, tmp_path_factory.mktemp("run"),
                     {"BOT_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    run.start()
    yield run
    run.stop()


def stored(redis_box: Redis, conversation: str) -> List[Dict[str, Any]]:
    """The customer messages of the conversation's tracker, as the Redis tracker store holds them."""
    raw = redis_lib.Redis.from_url(redis_box.url).get(f"shop:tracker:{conversation}")
    return [e for e in (json.loads(raw)["events"] if raw else []) if e["event"] == "user"]


def new_id() -> str:
    return uuid.uuid4().hex


async def send(client: Any, session_id: str, text: str, mid: str, timeout: float = 60) -> Any:
    """Emit `user_uttered` with a client id, as our widget does; the server's acknowledgement."""
    return await client.call("user_uttered", {"message": text, "session_id": session_id, "message_id": mid},
                             timeout=timeout)


async def drain(inbox: "asyncio.Queue[Dict[str, Any]]", seconds: float) -> List[Dict[str, Any]]:
    got: List[Dict[str, Any]] = []
    try:
        while True:
            got.append(await asyncio.wait_for(inbox.get(), seconds))
    except asyncio.TimeoutError:
        return got


def test_a_message_is_acked_only_once_it_is_in_the_tracker(stack: RunCommand, redis_box: Redis):
    async def scenario() -> tuple:
        client, session_id, inbox = await socketio_session(stack.url)
        mid = new_id()
        ack = await send(client, session_id, "hello", mid)
        in_tracker = [e for e in stored(redis_box, conversation_of(session_id)) if e.get("message_id") == mid]
        await client.disconnect()
        return ack, in_tracker

    ack, in_tracker = asyncio.run(scenario())
    assert isinstance(ack, dict) and ack.get("status") == "stored", ack
    assert [e["text"] for e in in_tracker] == ["hello"]  # read the moment the ack arrived


def test_a_message_sent_twice_with_the_same_id_is_stored_and_answered_once(stack: RunCommand, redis_box: Redis):
    async def scenario() -> tuple:
        client, session_id, inbox = await socketio_session(stack.url)
        mid = new_id()
        first = await send(client, session_id, "hello", mid)
        answers = await drain(inbox, 3)
        again, session_id2, inbox2 = await socketio_session(stack.url, session_id)  # reconnected: sent again
        second = await send(again, session_id2, "hello", mid)
        answers_again = await drain(inbox2, 3) + await drain(inbox, 0.1)
        await client.disconnect()
        await again.disconnect()
        return session_id, session_id2, first, second, answers, answers_again

    session_id, session_id2, first, second, answers, answers_again = asyncio.run(scenario())
    assert session_id2 == session_id
    assert (first or {}).get("status") == "stored" and (second or {}).get("status") == "duplicate", (first, second)
    assert answers and answers_again == []
    assert [e["text"] for e in stored(redis_box, conversation_of(session_id))] == ["hello"]


def test_a_burst_keeps_its_order(stack: RunCommand, redis_box: Redis):
    lines = [f"message number {i} " + "and some more words " * (5 - i) for i in range(1, 6)]

    async def scenario() -> str:
        client, session_id, inbox = await socketio_session(stack.url)
        acks = await asyncio.gather(*(send(client, session_id, text, new_id()) for text in lines))
        await client.disconnect()
        return session_id, acks

    session_id, acks = asyncio.run(scenario())
    assert all((a or {}).get("status") == "stored" for a in acks), acks
    assert [e["text"] for e in stored(redis_box, conversation_of(session_id))] == [t.strip() for t in lines]


def test_rest_a_request_sent_again_with_the_same_message_id_is_stored_and_answered_once(stack: RunCommand,
                                                                                       redis_box: Redis):
    import requests

    me = f"rest-{uuid.uuid4().hex[:8]}"
    body = {"sender": handle(me), "message": "hello", "message_id": new_id()}
    first = requests.post(f"{stack.url}/webhooks/rest/webhook", json=body, timeout=60)
    second = requests.post(f"{stack.url}/webhooks/rest/webhook", json=body, timeout=60)
    assert first.status_code == 200 and first.json(), first.text
    assert second.status_code == 200 and second.json() == [], second.text
    assert [e["text"] for e in stored(redis_box, me)] == ["hello"]
    bad = requests.post(f"{stack.url}/webhooks/rest/webhook", json={**body, "message_id": "x y"}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_message_id"


# Last: it stops and starts Redis (the first commands on the pools' old connections then fail once, and the
# widget sends those messages again).
def test_while_redis_is_down_a_message_is_not_acked_and_sent_again_after_it_is_stored_once(
        stack: RunCommand, redis_box: Redis):
    async def scenario() -> tuple:
        client, session_id, inbox = await socketio_session(stack.url)
        assert (await send(client, session_id, "hello", new_id()) or {}).get("status") == "stored"
        await drain(inbox, 2)
        mid = new_id()
        redis_box.stop()
        try:
            try:
                while_down = await send(client, session_id, "where is my order?", mid, timeout=30)
            except Exception as e:  # noqa: BLE001 - no ack at all is as good as a refusal
                while_down = repr(e)
        finally:
            redis_box.start()
        after = None
        for _ in range(30):  # the widget sends it again until it is acknowledged
            after = await send(client, session_id, "where is my order?", mid)
            if (after or {}).get("status") in ("stored", "duplicate"):
                break
            await asyncio.sleep(1)
        once_more = await send(client, session_id, "where is my order?", mid)
        await client.disconnect()
        return session_id, while_down, after, once_more

    session_id, while_down, after, once_more = asyncio.run(scenario())
    assert not (isinstance(while_down, dict) and while_down.get("status") in ("stored", "duplicate")), while_down
    assert (after or {}).get("status") == "stored" and (once_more or {}).get("status") == "duplicate", (after,
                                                                                                          once_more)
    texts = [e["text"] for e in stored(redis_box, conversation_of(session_id))]
    assert texts == ["hello", "where is my order?"]
