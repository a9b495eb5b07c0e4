"""The whole stack (python -m bot run: Rasa, action server, handoff service, bridge) over a 3-master Redis Cluster
of real redis-server processes (REDIS_URL = one node, REDIS_CLUSTER=1): a REST customer talks to the bot, asks for
a person, talks with the agent both ways, and has the bot back; the trackers and the conversations' locks live on
every master.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Dict, Iterator

import aiohttp
import pytest

from common.redis_config import redis_client
from tests.handoff.redis_cluster import RedisCluster
from tests.integration.running import RunCommand, handle, responses_texts
from tests.integration.test_live_handoff import Callbacks, agent_events, agent_offline, agent_online, handoff_url


@pytest.fixture(scope="module")
def cluster_stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    callbacks = Callbacks()
    cluster.start()
    run = RunCommand(cluster.url, tmp_path_factory.mktemp("run"),
                     {"REDIS_CLUSTER": "1", "REST_CALLBACK_URL": f"http://127.0.0.1:{callbacks.port}/callback",
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_POSITION_SECONDS": "1"})
    try:
        run.start()
        yield cluster, run, callbacks
    finally:
        run.stop()
        callbacks.server.shutdown()
        cluster.stop()


def test_a_customer_and_an_agent_talk_through_the_bot_over_a_redis_cluster(cluster_stack):
    cluster, stack, callbacks = cluster_stack
    r = redis_client(cluster.url, cluster=True, decode_responses=True)
    others = [f"cluster-{i}" for i in range(8)]
    for other in others:  # trackers and locks of many conversations: each on the master of its own key
        assert stack.say(other, "how long does shipping take?")
    assert len({cluster.node_of(f"shop:tracker:{c}") for c in others}) == 3
    assert len({cluster.node_of(f"shop:ticketlock:{c}") for c in others}) == 3
    me = "cluster-me"
    token = agent_online(stack, "ann")
    auth = {"Authorization": f"Bearer {token}"}
    base = handoff_url(stack)

    async def scenario() -> Dict[str, object]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            assert json.loads((await ws.receive()).data)["type"] == "snapshot"
            loop = asyncio.get_running_loop()
            told = await loop.run_in_executor(None, stack.messages, me, "I want to talk to a human agent")
            offered = await agent_events(ws, "offered")
            eid = offered["escalation"]
            async with session.post(f"{base}/v1/handoffs/{eid}/accept", headers=auth) as resp:
                assert resp.status == 200
            joined = await loop.run_in_executor(None, callbacks.next_for, handle(me))
            quiet = await loop.run_in_executor(None, stack.say, me, "it is order 10234568")
            event = await agent_events(ws, "message")
            while event["message"]["speaker"] != "customer":
                event = await agent_events(ws, "message")
            async with session.post(f"{base}/v1/handoffs/{eid}/messages", json={"text": "I see it, resending."},
                                    headers=auth) as resp:
                assert resp.status == 201
            answer = await loop.run_in_executor(None, callbacks.next_for, handle(me))
            async with session.post(f"{base}/v1/handoffs/{eid}/release", json={"reason": "done"},
                                    headers=auth) as resp:
                assert resp.status == 200
            released = await loop.run_in_executor(None, callbacks.next_for, handle(me))
            await ws.close()
            return {"told": told, "conversation": offered["conversation_id"], "joined": joined, "quiet": quiet,
                    "to_agent": event["message"]["text"], "answer": answer, "released": released}

    try:
        seen = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert any(m["text"] in responses_texts("utter_handoff_connecting") for m in seen["told"])  # type: ignore
    assert seen["conversation"] == me
    assert seen["joined"]["handoff"] == "joined" and seen["joined"]["agent_name"] == "Ann Baker"  # type: ignore
    assert seen["quiet"] == [] and seen["to_agent"] == "it is order 10234568"
    assert seen["answer"]["text"] == "I see it, resending." and seen["answer"]["agent"] == "ann"  # type: ignore
    assert seen["released"]["text"] in responses_texts("utter_handoff_released")  # type: ignore
    # one transcript, in the tracker on its master; the bot's keys and the service's on their own slots
    events = json.loads(r.get(f"shop:tracker:{me}"))["events"]
    assert [e["text"] for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("agent") == "ann"] \
        == ["I see it, resending."]
    assert r.hget("{shop}:handoff:active", me) is None
    assert r.pfcount("{shop}:stats:conversations:" + time.strftime("%Y-%m-%d", time.gmtime())) >= 9
