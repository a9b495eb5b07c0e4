"""A customer message forwarded to the agent is shown once even when the bridge dies between its POST and
forgetting the message (it sends it again): the real HandoffBridge, a real handoff-service process and its
real redis-server, a Rasa app reduced to its tracker and lock stores."""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, List, Tuple

import aiohttp
import pytest
import redis as redis_lib
import requests
from rasa.shared.core.events import ConversationPaused, UserUttered

from bot.bridge.bridge import HandoffBridge
from bot.bridge.forwarding import FORWARDS, SERVICE_MESSAGE_ID, service_message_id
from bot.bridge.keys import ACTIVE
from tests.handoff.cluster import BOT_TOKEN, bearer, small_team_service
from tests.handoff.requests import handoff_request
from tests.unit.test_bridge_delivery import RasaApp

BOT = bearer(BOT_TOKEN)


def test_a_flush_interrupted_after_the_post_and_retried_shows_the_agent_the_message_once(tmp_path: Path):
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    with small_team_service(tmp_path) as cluster:
        url = cluster.urls[0]
        ann = bearer(cluster.login("ann"))
        assert requests.put(f"{url}/v1/agents/me/status", json={"status": "online"}, headers=ann).status_code == 200
        eid = requests.post(f"{url}/v1/handoffs", json=handoff_request(conversation), headers=BOT).json()["id"]
        assert requests.post(f"{url}/v1/handoffs/{eid}/accept", headers=ann).status_code == 200

        async def run() -> Tuple[List[str], int]:
            app = RasaApp("socketio")
            bridge = HandoffBridge(cluster.redis_url, url, BOT_TOKEN)
            bridge.app = app
            bridge.session = aiohttp.ClientSession()
            try:
                await bridge.redis.hset(ACTIVE, conversation, eid)
                tracker = await app.get_tracker(conversation)
                tracker.update(ConversationPaused())
                tracker.update(UserUttered("where is my parcel?", message_id=uuid.uuid4().hex))
                await app.store.save(tracker)
                assert await bridge._queue_unforwarded(tracker) == 1
                sent = bridge.redis.lpop

                async def dies_after_the_post(*args: Any, **kwargs: Any) -> Any:
                    bridge.redis.lpop = sent  # the process is gone; the next sender finds the message queued
                    raise ConnectionError("killed between the POST and the LPOP")

                bridge.redis.lpop = dies_after_the_post
                with pytest.raises(ConnectionError):
                    await bridge.flush(conversation)
                await bridge.flush(conversation)  # the next leader's pass sends the queue again
                return [json.loads(raw)["text"] for raw in await bridge.redis.lrange(FORWARDS + conversation, 0, -1)]
            finally:
                await bridge.redis.hdel(ACTIVE, conversation)
                await bridge.session.close()
                await bridge.redis.close()

        left = asyncio.run(run())
        assert left == []  # sent, and forgotten this time
        record = requests.get(f"{url}/v1/handoffs/{eid}", headers=ann).json()
        r = redis_lib.Redis.from_url(cluster.redis_url, decode_responses=True)
        events = [json.loads(fields["e"]) for _id, fields in r.xrange("{ho}:events")]
        shown = [e["message"]["text"] for e in events if e["type"] == "message" and e["escalation"] == eid]
        assert [m["text"] for m in record["messages"]] == ["where is my parcel?"]  # the transcript
        assert shown == ["where is my parcel?"]  # what the agent's WebSocket is sent


def test_a_tracker_message_id_the_service_would_refuse_is_sent_as_a_stable_digest():
    rasa_id = uuid.uuid4().hex
    assert service_message_id(rasa_id) == rasa_id
    for odd in ("a channel's id with spaces", "x" * 300, "naïve"):
        digest = service_message_id(odd)
        assert SERVICE_MESSAGE_ID.fullmatch(digest) and digest == service_message_id(odd) != odd


def test_a_message_stored_but_not_queued_before_a_failure_reaches_the_agent_when_it_is_sent_again(tmp_path: Path):
    """Redis went away between saving the tracker and queueing the message for the agent (the soak saw it): the
    widget resends the message with its id; it is not stored twice, and now it reaches the agent once."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    with small_team_service(tmp_path) as cluster:
        url = cluster.urls[0]
        ann = bearer(cluster.login("ann"))
        assert requests.put(f"{url}/v1/agents/me/status", json={"status": "online"}, headers=ann).status_code == 200
        eid = requests.post(f"{url}/v1/handoffs", json=handoff_request(conversation), headers=BOT).json()["id"]
        assert requests.post(f"{url}/v1/handoffs/{eid}/accept", headers=ann).status_code == 200

        async def run() -> List[str]:
            app = RasaApp("socketio")

            async def parse_message(message: Any, tracker: Any = None) -> Any:
                return {"text": message.text, "intent": {"name": "inform", "confidence": 1.0}, "entities": []}

            async def handle(message: Any, tracker: Any) -> None:
                tracker.update(UserUttered(message.text, message.parse_data, message_id=message.message_id))

            app.ctx.agent.processor.parse_message = parse_message
            app.ctx.agent.processor._handle_message_with_tracker = handle
            bridge = HandoffBridge(cluster.redis_url, url, BOT_TOKEN)
            bridge.app = app
            bridge.session = aiohttp.ClientSession()
            try:
                await bridge.redis.hset(ACTIVE, conversation, eid)
                tracker = await app.get_tracker(conversation)
                tracker.update(ConversationPaused())
                await app.store.save(tracker)
                queue = bridge._queue_unforwarded
                tries = []

                async def redis_gone_once(t: Any) -> int:
                    tries.append(1)
                    if len(tries) == 1:
                        raise ConnectionError("Redis went away after the tracker was saved")
                    return await queue(t)

                bridge._queue_unforwarded = redis_gone_once  # type: ignore[assignment]
                first = UserMessage("my parcel never came", CollectingOutputChannel(), conversation,
                                    message_id="widget-0123456789")
                with pytest.raises(ConnectionError):
                    await bridge.store_customer_message(first)  # no ack: the widget sends it again
                again = UserMessage("my parcel never came", CollectingOutputChannel(), conversation,
                                    message_id="widget-0123456789")
                assert await bridge.store_customer_message(again)
                stored = [e.text for e in (await app.get_tracker(conversation)).events if isinstance(e, UserUttered)]
                return stored
            finally:
                await bridge.redis.hdel(ACTIVE, conversation)
                await bridge.session.close()
                await bridge.redis.close()

        stored = asyncio.run(run())
        assert stored.count("my parcel never came") == 1
        record = requests.get(f"{url}/v1/handoffs/{eid}", headers=ann).json()
        assert [m["text"] for m in record["messages"]] == ["my parcel never came"]
