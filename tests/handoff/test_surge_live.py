"""The surge rule with real processes: redis-server and two handoff-service processes sweeping every 0.2 s.

A queue passing the threshold starts the surge once (one ``surge_started`` event in the stream, one clock-log
entry, to the standby agent), a free agent of the wider group takes the head of the queue, GET /v1/queues shows
the surge, a customer joining meanwhile is told so (the create answer and their record carry ``surge``, and the
bot's bridge picks the busy wording for the position update), and once the queue drained it ends once."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import pytest
import redis as redis_lib
import requests

from bot.bridge.bridge import HandoffBridge
from bot.bridge.keys import ACTIVE
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request

POLICY = """
version: 1
default:
  start: {waiting_at_least: 3}
  stop: {waiting_at_most: 0, for_seconds: 1}
  overflow_to: fallback
groups:
  technical:
    standby: [sam]
"""


class Recorded(HandoffBridge):
    """The bridge with the Rasa side recorded: which response it would say, with which values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: List[Tuple[str, str, Dict[str, Any]]] = []

    async def say(self, conversation: str, response: str, **values: Any) -> None:
        self.told.append((conversation, response, values))


@pytest.fixture
def cluster(tmp_path):
    policy = tmp_path / "surge.yml"
    policy.write_text(POLICY)
    c = Cluster(tmp_path, HANDOFF_SWEEP_SECONDS="0.2", HANDOFF_SURGE_FILE=str(policy))
    try:
        c.start_redis()
        c.add_agents([{"id": "tom", "skills": ["technical"], "max_chats": 1},
                      {"id": "gina", "skills": ["general"], "max_chats": 1},
                      {"id": "sue", "skills": ["general"], "max_chats": 1, "role": "supervisor"}])
        c.start_service()
        c.start_service()
        yield c
    finally:
        c.stop()


def until(what, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def events(cluster: Cluster, kind: str) -> List[Tuple[str, Dict[str, Any]]]:
    r = redis_lib.Redis.from_url(cluster.redis_url, decode_responses=True)
    out = [(f.get("to", ""), json.loads(f["e"])) for _, f in r.xrange("{ho}:events")]
    return [(to, e) for to, e in out if e["type"] == kind]


def create(cluster: Cluster, i: int) -> Dict[str, Any]:
    r = requests.post(cluster.urls[i % 2] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                      json=handoff_request(f"conv-{i}", categories={"system_error": "error 500"}))
    assert r.status_code == 201, r.text
    return r.json()


def queue(cluster: Cluster, token: str, group: str, url: Optional[str] = None) -> Dict[str, Any]:
    queues = requests.get((url or cluster.urls[0]) + "/v1/queues", headers=bearer(token), timeout=10).json()
    return next(q for q in queues["queues"] if q["skill_group"] == group)


def technical(cluster: Cluster, token: str, url: Optional[str] = None) -> Dict[str, Any]:
    return queue(cluster, token, "technical", url)


def position_update(cluster: Cluster, conversation: str, escalation: str) -> List[Tuple[str, str, Dict[str, Any]]]:
    async def go():
        bridge = Recorded(cluster.redis_url, cluster.urls[1], BOT_TOKEN)
        bridge.session = aiohttp.ClientSession()
        try:
            await bridge.redis.hset(ACTIVE, conversation, escalation)
            await bridge._update_position(conversation, 99)
        finally:
            await bridge.session.close()
            await bridge.redis.close()
        return bridge.told
    return asyncio.run(go())


def test_two_processes_start_the_surge_once_overflow_tell_the_customer_and_end_it_once(cluster):
    for presence in ("tom", "gina"):
        token = cluster.login(presence)
        requests.put(cluster.urls[0] + "/v1/agents/me/status", headers=bearer(token), json={"status": "online"},
                      timeout=10).raise_for_status()
    sue = cluster.login("sue")
    first = [create(cluster, i) for i in range(4)]  # tom gets conv-0; three wait: the threshold
    assert [c["status"] for c in first] == ["offered", "waiting", "waiting", "waiting"]
    surge = until(lambda: technical(cluster, sue)["surge"])
    assert surge["overflow_to"] == "general" and surge["since"].endswith("Z")
    # gina (general) took the head of the technical queue
    taken = until(lambda: requests.get(f"{cluster.urls[0]}/v1/handoffs/{first[1]['id']}", headers=bearer(sue),
                                       timeout=10).json())
    assert (taken["skill_group"], taken["status"], taken["agent_id"]) == ("general", "offered", "gina")
    # The other process shows the same. Both processes may have moved a chat in the same sweep (handoff/clocks/
    # surge.py): the second one then waits in general at its own rank, so two chats wait in one group or the other.
    still = technical(cluster, sue, cluster.urls[1])["surge"]["waiting"]
    assert still in (1, 2) and still + queue(cluster, sue, "general", cluster.urls[1])["waiting"] == 2
    time.sleep(1.0)  # both processes sweep five times more: still one start
    started = events(cluster, "surge_started")
    assert len(started) == 1
    assert started[0][0] == "sam" and started[0][1]["group"] == "technical" and started[0][1]["waiting"] == 3

    # A customer joining meanwhile is told it is busy, first by the create answer, then by the bridge
    joined = create(cluster, 4)
    assert (joined["status"], joined["queue_position"], joined["surge"]) == ("waiting", still + 1, True)
    told = position_update(cluster, "conv-4", joined["id"])
    assert [(c, r, v["position"]) for c, r, v in told] == [("conv-4", "utter_handoff_position_update_surge",
                                                            still + 1)]

    # The queue drains: the surge ends once, after the calm second, and the customer's record says so
    for c in (*first[2:], joined):  # (one of them may be waiting in general)
        requests.post(f"{cluster.urls[0]}/v1/handoffs/{c['id']}/abandon", headers=bearer(BOT_TOKEN),
                      timeout=10).raise_for_status()
    until(lambda: technical(cluster, sue)["surge"] is None)
    time.sleep(1.0)
    ended = events(cluster, "surge_ended")
    assert len(ended) == 1 and ended[0][0] == "sam" and ended[0][1]["waiting"] == 0
    assert len(events(cluster, "surge_started")) == 1
    later = create(cluster, 5)
    assert later["surge"] is False
    record = requests.get(f"{cluster.urls[1]}/v1/handoffs/{later['id']}", headers=bearer(BOT_TOKEN), timeout=10)
    assert record.json()["surge"] is False
