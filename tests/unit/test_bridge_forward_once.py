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

from bot.handoff_bridge import ACTIVE, FORWARDS, SERVICE_MESSAGE_ID, HandoffBridge, service_message_id
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
