"""Real processes: redis-server and two handoff-service processes.

1,000 escalations over 20 agents in 5 skill groups are each assigned exactly once, while one
service process is killed with SIGKILL and Redis is restarted; an ignored offer moves on after the
reservation time; overflow and ticket paths work; an agent whose console disconnects loses their
chats to the queue after the grace period, unless they reconnect within it.

Each test runs over one redis-server and again over a 3-master Redis Cluster of them (REDIS_CLUSTER=1; its
restart stops and starts every node).
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Dict, List

import aiohttp
import pytest
import requests

from common.redis_config import redis_client

from tests.handoff.agents import Endpoints, call, count_by, gather_limited, random_hold, start_agents
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request

GROUPS = ["general", "after_sales", "technical", "billing", "vip"]


def request_for(group: str, conversation_id: str) -> Dict:
    """A request that the skill-group tables route to ``group``."""
    if group == "vip":
        return handoff_request(conversation_id, "vip", tier="gold")
    if group == "billing":
        return handoff_request(conversation_id, "billing", categories={"double_charge": "charged twice"})
    if group == "technical":
        return handoff_request(conversation_id, "technical", categories={"system_error": "error 500"})
    if group == "after_sales":
        return handoff_request(conversation_id, "after_sales", topics=["order_status"])
    return handoff_request(conversation_id, "general", topics=[])


REDIS = ["redis", "redis-cluster"]


@pytest.fixture(params=REDIS)
def cluster(tmp_path, request):
    c = Cluster(tmp_path, redis_cluster=request.param == "redis-cluster", HANDOFF_RESERVATION_SECONDS="3",
                HANDOFF_SWEEP_SECONDS="0.5")
    try:
        c.start_redis()
        yield c
    finally:
        c.stop()


def test_1000_escalations_are_each_assigned_once_through_a_sigkill_and_a_redis_restart(cluster):
    agents = [{"id": f"{g}-{i}", "skills": [g], "max_chats": 5} for g in GROUPS for i in range(4)]
    cluster.add_agents(agents)
    cluster.start_service()
    cluster.start_service()
    tokens = {a["id"]: cluster.login(a["id"]) for a in agents}
    conversations = [(f"conv-{i:04d}", GROUPS[i % 5]) for i in range(1000)]
    events: List[str] = []

    async def scenario():
        endpoints = Endpoints(cluster.urls)
        async with aiohttp.ClientSession() as session:
            team, runners = await start_agents(session, endpoints, tokens, hold=random_hold(0.02, 0.2))

            answered = [0]

            async def escalate(cid: str, group: str):
                result = await call(session, endpoints, "POST", "/v1/handoffs", BOT_TOKEN, request_for(group, cid))
                answered[0] += 1
                return result

            async def chaos():
                """In the middle of the traffic: SIGKILL one process, restart Redis, bring the process back."""
                loop = asyncio.get_running_loop()
                while answered[0] < 300:
                    await asyncio.sleep(0.005)
                cluster.kill_service(1)
                events.append(f"killed service 1 after {answered[0]} answers")
                while answered[0] < 600:
                    await asyncio.sleep(0.005)
                await loop.run_in_executor(None, cluster.restart_redis)
                events.append(f"restarted redis after {answered[0]} answers")
                await loop.run_in_executor(None, cluster.start_service, 1)
                events.append(f"restarted service 1 after {answered[0]} answers")

            chaos_task = asyncio.ensure_future(chaos())
            results = await gather_limited([escalate(c, g) for c, g in conversations], 20)
            await chaos_task
            # Retrying everything (as a bot whose responses were lost would) creates nothing new.
            retries = await gather_limited([escalate(c, g) for c, g in conversations[::10]], 20)
            deadline = time.monotonic() + 120
            while sum(len(a.closed) for a in team) < 1000 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            for a in team:
                await a.stop()
            for r in runners:
                r.cancel()
            return results, retries, team

    results, retries, team = asyncio.run(scenario())
    print(events, "agent reconnects:", sum(a.reconnects for a in team))
    assert len(events) == 3 and "after 1000" not in events[1], events  # the restarts hit live traffic
    assert [code for code, _ in results].count(201) + [code for code, _ in results].count(200) == 1000, \
        [(code, body) for code, body in results if code not in (200, 201)][:5]
    assert {code for code, _ in retries} == {200}
    ids = {body["conversation_id"]: body["id"] for _, body in results}
    assert len(ids) == 1000 and len(set(ids.values())) == 1000
    assert all(body["id"] == ids[body["conversation_id"]] for _, body in retries)

    accepted = [e for a in team for e in a.accepted]
    assert len(accepted) == 1000 and set(accepted) == set(ids.values())  # each accepted once, by one agent
    assert sorted(count_by([a.id.split("-")[0] for a in team for _ in a.accepted]).items()) == sorted(
        {g: 200 for g in GROUPS}.items())                                 # by an agent of its own group
    assert sum(len(a.closed) for a in team) == 1000

    # What Redis holds after it all: 1,000 escalations, each closed, each assigned exactly once.
    r = redis_client(cluster.redis_url, cluster=bool(cluster.redis_cluster), decode_responses=True)
    keys = list(r.scan_iter(match="{ho}:esc:*", count=1000))
    assert len(keys) == 1000
    for key in keys:
        eid = key.split(":", 2)[2]
        assert r.hget(key, "status") == "closed"
        history = [json.loads(h) for h in r.lrange("{ho}:hist:" + eid, 0, -1)]
        assert [h["status"] for h in history].count("assigned") == 1, history
    for a in agents:
        assert r.hget("{ho}:agent:" + str(a["id"]), "load") == "0"
    assert r.zcard("{ho}:offers") == 0 and all(r.zcard(f"{{ho}}:queue:{g}") == 0 for g in GROUPS)


@pytest.fixture(params=REDIS)
def small(tmp_path, request):
    c = Cluster(tmp_path, redis_cluster=request.param == "redis-cluster", HANDOFF_RESERVATION_SECONDS="2",
                HANDOFF_SWEEP_SECONDS="0.25")
    try:
        c.start_redis()
        c.add_agents([{"id": "ann", "skills": ["general"], "max_chats": 2},
                      {"id": "bob", "skills": ["general"], "max_chats": 2},
                      {"id": "vic", "skills": ["vip"], "max_chats": 2},
                      {"id": "amy", "skills": ["after_sales"], "max_chats": 2},
                      {"id": "sue", "skills": ["general"], "max_chats": 2, "role": "supervisor"}])
        c.start_service()
        c.start_service()
        yield c
    finally:
        c.stop()


def status(cluster, agent_id: str, value: str, url: int = 0) -> None:
    token = cluster.login(agent_id)
    r = requests.put(cluster.urls[url] + "/v1/agents/me/status", json={"status": value}, headers=bearer(token))
    assert r.status_code == 200, r.text


def test_an_ignored_offer_moves_to_the_next_agent_after_the_reservation_time(small):
    status(small, "ann", "online")
    time.sleep(0.05)
    status(small, "bob", "online", url=1)
    bob = small.login("bob")

    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(small.urls[1].replace("http", "ws") + "/v1/agents/me/stream",
                                          headers=bearer(bob)) as ws:
                assert json.loads((await ws.receive()).data)["type"] == "snapshot"
                created = requests.post(small.urls[0] + "/v1/handoffs",
                                        json=handoff_request(f"ignored-{uuid.uuid4().hex[:6]}", topics=[]),
                                        headers=bearer(BOT_TOKEN)).json()
                assert (created["status"], created["estimated_wait_seconds"]) == ("offered", 0)
                started = time.monotonic()
                while True:
                    event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                    if event["type"] == "offered":
                        return created, event, time.monotonic() - started

    created, event, waited = asyncio.run(scenario())
    assert event["escalation"] == created["id"] and event["agent"] == "bob"
    assert 1.5 <= waited <= 4.0  # reservation 2 s, sweep every 0.25 s
    record = requests.get(f"{small.urls[0]}/v1/handoffs/{created['id']}", headers=bearer(BOT_TOKEN)).json()
    assert [(h["status"], h["agent"]) for h in record["history"]] == [
        ("waiting", None), ("offered", "ann"), ("waiting", "ann"), ("offered", "bob")]
    assert record["history"][2]["detail"] == "offer not accepted in time"
    metrics = requests.get(small.urls[0] + "/metrics").text + requests.get(small.urls[1] + "/metrics").text
    assert "handoff_offer_timeouts_total 1.0" in metrics


def test_overflow_to_the_fallback_group_and_a_ticket_when_nobody_is_online(small):
    bot = bearer(BOT_TOKEN)
    for agent_id in ("ann", "bob", "vic", "amy"):
        status(small, agent_id, "offline")
    status(small, "amy", "online")
    gold = requests.post(small.urls[0] + "/v1/handoffs", json=handoff_request("gold-1", tier="gold"), headers=bot)
    assert gold.status_code == 201
    assert (gold.json()["skill_group"], gold.json()["status"]) == ("after_sales", "offered")  # vip -> after_sales
    record = requests.get(f"{small.urls[1]}/v1/handoffs/{gold.json()['id']}", headers=bot).json()
    assert record["routing"]["reason"] == "routing rule 1: customer tier gold"
    assert record["routing"]["overflow"] == ["no agent online in vip"]

    status(small, "amy", "offline")
    ticket = requests.post(small.urls[1] + "/v1/handoffs", json=handoff_request("gold-2", tier="gold"), headers=bot)
    body = ticket.json()
    assert ticket.status_code == 201 and body["status"] == "ticket"
    # the answer is due in the group's business hours (policy/skill_groups.yml), and the customer gets its number
    assert body["ticket"]["label"].startswith("T-") and body["ticket"]["reply_by"] == body["ticket"]["due_at"]
    assert body["ticket"]["due_local"] and body["ticket"]["timezone"] == "Asia/Shanghai"
    assert body["queue_position"] is None and body["estimated_wait_seconds"] is None

    # A chat waiting in a group whose last agent goes offline moves on to the fallback group.
    status(small, "vic", "online")
    status(small, "ann", "online")
    waiting = []
    for i in range(3):  # vic takes two (max_chats 2), the third waits in vip
        waiting.append(requests.post(small.urls[0] + "/v1/handoffs", json=handoff_request(f"gold-w{i}", tier="gold"),
                                     headers=bot).json())
    assert [w["status"] for w in waiting] == ["offered", "offered", "waiting"]
    assert waiting[2]["queue_position"] == 1 and waiting[2]["estimated_wait_seconds"] == 300
    status(small, "vic", "offline")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        record = requests.get(f"{small.urls[0]}/v1/handoffs/{waiting[2]['id']}", headers=bot).json()
        if record["skill_group"] == "general" and record["agent_id"]:  # moved, then offered (a moment later)
            break
        time.sleep(0.1)
    assert record["skill_group"] == "general" and record["agent_id"] == "ann"  # vip -> after_sales (off) -> general
    assert any("overflow: no agent online in vip" in h["detail"] for h in record["history"])
    queues = {q["skill_group"]: q for q in requests.get(small.urls[1] + "/v1/queues", headers=bot).json()["queues"]}
    assert queues["general"]["agents_online"] == 1 and queues["vip"]["agents_online"] == 0


def test_websockets_push_offers_messages_and_status_changes_across_processes(small):
    """ann's WebSocket is on process 1, the supervisor's on process 0; the bot talks to process 0."""
    status(small, "ann", "online")
    ann, sue, bot = small.login("ann"), small.login("sue"), bearer(BOT_TOKEN)

    async def scenario():
        async with aiohttp.ClientSession() as session:
            ws_ann = await session.ws_connect(small.urls[1].replace("http", "ws") + "/v1/agents/me/stream",
                                              headers=bearer(ann))
            ws_sue = await session.ws_connect(small.urls[0].replace("http", "ws") + "/v1/agents/me/stream")
            await ws_sue.send_str(json.dumps({"token": sue}))  # as a browser does
            for ws in (ws_ann, ws_sue):
                assert json.loads((await ws.receive()).data)["type"] == "snapshot"

            async def next_event(ws, kind):
                while True:
                    event = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                    if event["type"] == kind:
                        return event

            async with session.post(small.urls[0] + "/v1/handoffs", json=handoff_request("ws-1", topics=[]),
                                    headers=bot) as r:
                created = await r.json()
            offered = await next_event(ws_ann, "offered")
            assert (await next_event(ws_sue, "created"))["escalation"] == created["id"]
            async with session.post(f"{small.urls[1]}/v1/handoffs/{created['id']}/accept", headers=bearer(ann)) as r:
                assert r.status == 200
            await next_event(ws_ann, "assigned")
            texts = ["my parcel never came", "it was order 123456", "<script>alert(1)</script>"]
            for text in texts:
                async with session.post(f"{small.urls[0]}/v1/handoffs/{created['id']}/messages", json={"text": text},
                                        headers=bot) as r:
                    assert r.status == 201
            received = [(await next_event(ws_ann, "message"))["message"] for _ in texts]
            seen_by_supervisor = (await next_event(ws_sue, "message"))["message"]["text"]
            async with session.put(small.urls[0] + "/v1/agents/me/status", json={"status": "away"},
                                   headers=bearer(ann)) as r:
                assert r.status == 200
            away = await next_event(ws_ann, "agent_status")
            await ws_ann.close()
            await ws_sue.close()
            return created, offered, received, seen_by_supervisor, away

    created, offered, received, seen_by_supervisor, away = asyncio.run(scenario())
    assert offered["escalation"] == created["id"] and offered["conversation_id"] == "ws-1"
    assert [m["text"] for m in received] == ["my parcel never came", "it was order 123456",
                                             "<script>alert(1)</script>"]
    assert [m["seq"] for m in received] == [1, 2, 3] and {m["speaker"] for m in received} == {"customer"}
    assert seen_by_supervisor == "my parcel never came"
    assert away["status"] == "away"


@pytest.fixture(params=REDIS)
def presence(tmp_path, request):
    """One process, a 2 s grace period for disconnected consoles: ann (general), cat (billing) and bob
    (both), each with a WebSocket."""
    c = Cluster(tmp_path, redis_cluster=request.param == "redis-cluster", HANDOFF_RESERVATION_SECONDS="30",
                HANDOFF_SWEEP_SECONDS="0.25", HANDOFF_AGENT_GRACE_SECONDS="2")
    try:
        c.start_redis()
        c.add_agents([{"id": "ann", "skills": ["general"], "max_chats": 2},
                      {"id": "cat", "skills": ["billing"], "max_chats": 2},
                      {"id": "bob", "skills": ["general", "billing"], "max_chats": 2}])
        c.start_service()
        yield c
    finally:
        c.stop()


def test_a_disconnected_agents_chat_goes_to_the_next_agent_and_a_quick_reconnect_keeps_it(presence):
    url = presence.urls[0]
    tokens = {a: presence.login(a) for a in ("ann", "cat", "bob")}
    ws_url = url.replace("http", "ws") + "/v1/agents/me/stream"

    async def scenario():
        async with aiohttp.ClientSession() as session:
            async def connect(agent_id: str):
                ws = await session.ws_connect(ws_url, headers=bearer(tokens[agent_id]))
                snapshot = json.loads((await ws.receive()).data)
                assert snapshot["type"] == "snapshot"
                return ws, snapshot

            async def request(method: str, path: str, token: str, body=None):
                async with session.request(method, url + path, json=body, headers=bearer(token)) as r:
                    assert r.status in (200, 201), await r.text()
                    return await r.json()

            ws = {a: (await connect(a))[0] for a in ("ann", "cat", "bob")}
            for agent_id in ("ann", "cat", "bob"):  # bob online last: ann and cat are idle longer
                await request("PUT", "/v1/agents/me/status", tokens[agent_id], {"status": "online"})
            general = await request("POST", "/v1/handoffs", BOT_TOKEN, handoff_request("lost-1", topics=[]))
            billing = await request("POST", "/v1/handoffs", BOT_TOKEN,
                                    handoff_request("lost-2", categories={"double_charge": "charged twice"}))
            await request("POST", f"/v1/handoffs/{general['id']}/accept", tokens["ann"])
            await request("POST", f"/v1/handoffs/{billing['id']}/accept", tokens["cat"])

            await ws["ann"].close()                   # ann's console is gone for good
            await ws["cat"].close()                   # cat's comes back within a second
            started = time.monotonic()
            await asyncio.sleep(0.7)
            ws["cat"], cat_snapshot = await connect("cat")
            while True:
                event = json.loads((await asyncio.wait_for(ws["bob"].receive(), 6)).data)
                if event["type"] == "offered":
                    waited = time.monotonic() - started
                    break
            await asyncio.sleep(max(0.0, started + 4.5 - time.monotonic()))  # cat's old sighting long expired
            records = [await request("GET", f"/v1/handoffs/{c['id']}", BOT_TOKEN) for c in (general, billing)]
            ann_now = await request("GET", "/v1/agents/me", tokens["ann"])
            cat_now = await request("GET", "/v1/agents/me", tokens["cat"])
            for w in (ws["cat"], ws["bob"]):
                await w.close()
            return general, billing, event, waited, records, ann_now, cat_now, cat_snapshot

    general, billing, event, waited, records, ann_now, cat_now, cat_snapshot = asyncio.run(scenario())
    assert (event["escalation"], event["agent"]) == (general["id"], "bob")
    assert 1.5 <= waited <= 5.0, waited  # grace 2 s, sweep every 0.25 s
    moved, kept = records
    assert (moved["status"], moved["agent_id"], moved["skill_group"]) == ("offered", "bob", "general")
    assert [(h["status"], h["agent"], h["detail"]) for h in moved["history"]][-3:] == [
        ("assigned", "ann", ""), ("waiting", None, "agent disconnected"), ("offered", "bob", "")]
    assert (ann_now["status"], ann_now["load"]) == ("offline", 0)
    assert [h["id"] for h in cat_snapshot["handoffs"]] == [billing["id"]]
    assert (kept["status"], kept["agent_id"]) == ("assigned", "cat") and cat_now["status"] == "online"
    assert "agent disconnected" not in [h["detail"] for h in kept["history"]]
    metrics = requests.get(url + "/metrics").text
    assert "handoff_agents_lost_total 1.0" in metrics
    assert 'handoff_requeued_total{skill_group="general"} 1.0' in metrics
