"""A sender's message_id against a real service process over real Redis: a retried POST of the same message
is stored once, answered with the first message, and reaches the agent's WebSocket once."""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict, List

import requests
import websockets

from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request

BOT = bearer(BOT_TOKEN)


def test_a_retried_message_with_its_id_is_stored_and_shown_once(service: Cluster) -> None:
    url = service.urls[0]
    ann = bearer(service.login("ann"))
    assert requests.put(f"{url}/v1/agents/me/status", json={"status": "online"}, headers=ann).status_code == 200
    eid = requests.post(f"{url}/v1/handoffs", json=handoff_request(f"mid-{uuid.uuid4().hex[:6]}"),
                        headers=BOT).json()["id"]
    assert requests.post(f"{url}/v1/handoffs/{eid}/accept", headers=ann).status_code == 200
    mid = uuid.uuid4().hex

    async def scenario() -> List[Dict[str, Any]]:
        async with websockets.connect(url.replace("http", "ws") + "/v1/agents/me/stream", extra_headers=ann) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            loop = asyncio.get_running_loop()
            answers = []
            for body, who in (({"text": "where is my parcel?", "message_id": mid}, BOT),
                              ({"text": "where is my parcel?", "message_id": mid}, BOT),  # the bridge's retry
                              ({"text": "Let me look", "message_id": "console-1"}, ann),
                              ({"text": "Let me look", "message_id": "console-1"}, ann),  # the console's retry
                              ({"text": "thanks"}, BOT)):
                r = await loop.run_in_executor(None, lambda: requests.post(
                    f"{url}/v1/handoffs/{eid}/messages", json=body, headers=who))
                answers.append((r.status_code, r.json()))
            events: List[Dict[str, Any]] = []
            try:
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 2))
                    if event.get("escalation") == eid and event["type"] == "message":
                        events.append(event["message"])
            except asyncio.TimeoutError:
                pass
            return answers, events

    answers, events = asyncio.run(scenario())
    assert [status for status, _ in answers] == [201] * 5
    assert answers[0][1] == answers[1][1] and answers[0][1]["message_id"] == mid
    assert answers[2][1] == answers[3][1] and answers[2][1]["author"] == "ann"
    assert [(m["seq"], m["text"]) for m in events] == [(1, "where is my parcel?"), (2, "Let me look"), (3, "thanks")]
    record = requests.get(f"{url}/v1/handoffs/{eid}", headers=ann).json()
    assert [m["text"] for m in record["messages"]] == ["where is my parcel?", "Let me look", "thanks"]


def test_a_bad_message_id_is_refused_and_stores_nothing(service: Cluster) -> None:
    url = service.urls[0]
    eid = requests.post(f"{url}/v1/handoffs", json=handoff_request(f"mid-{uuid.uuid4().hex[:6]}"),
                        headers=BOT).json()["id"]
    for bad in ("x" * 129, "", 12, "with space", "new\nline", "trailing\n", None):
        r = requests.post(f"{url}/v1/handoffs/{eid}/messages", json={"text": "hi", "message_id": bad}, headers=BOT)
        assert r.status_code in (400, 422), (bad, r.status_code, r.text)
    record = requests.get(f"{url}/v1/handoffs/{eid}", headers=BOT).json()
    assert record["messages"] == []
