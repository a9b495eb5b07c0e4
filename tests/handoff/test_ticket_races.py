"""A customer's message and a merge of their ticket at the same moment, every process real (one redis-server,
two handoff-service processes): the message lands once, on the ticket that is still open, and the bot is never
told the customer's ticket is closed (which would make it open a new one)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List, Tuple

import aiohttp
import pytest
import requests

from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer

PAIRS = 200


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("races"))
    try:
        c.start_redis()
        c.add_agents([{"id": "ann", "skills": ["general"], "max_chats": 3}])
        c.start_service()
        c.start_service()
        yield c
    finally:
        c.stop()


def ticket(url: str, conversation: str) -> str:
    r = requests.post(url + "/v1/tickets", headers=bearer(BOT_TOKEN), json={
        "subject": "my parcel", "skill_group": "general",
        "requester": {"customer_id": f"c-{conversation}", "channel": "socketio", "conversation_id": conversation}})
    assert r.status_code == 201, r.text
    return r.json()["label"]


def test_a_message_to_a_ticket_merged_twice_lands_on_the_last_one(two: Cluster):
    ann = bearer(two.login("ann"))
    url = two.urls[0]
    first, second, third = (ticket(url, f"chain-{n}") for n in range(3))
    for source, into in ((first, second), (second, third)):
        assert requests.post(f"{url}/v1/tickets/{source}/merge", json={"into": into}, headers=ann).status_code == 200
    r = requests.post(f"{url}/v1/tickets/{first}/customer_messages", headers=bearer(BOT_TOKEN),
                      json={"text": "any news?", "via": "chat", "message_id": "chain-m1"})
    assert (r.status_code, r.json().get("label")) == (200, third), r.text
    timeline = requests.get(f"{url}/v1/tickets/{third}", headers=ann).json()["timeline"]
    assert [e["text"] for e in timeline if e["kind"] == "customer"] == ["any news?"]


def test_a_message_sent_while_its_ticket_is_merged_lands_once_and_is_never_refused(two: Cluster):
    ann = two.login("ann")
    pairs: List[Tuple[str, str]] = [(ticket(two.urls[i % 2], f"race-{i}-a"), ticket(two.urls[i % 2], f"race-{i}-b"))
                                    for i in range(PAIRS)]

    async def scenario() -> List[Tuple[Tuple[int, Dict[str, Any]], Tuple[int, Dict[str, Any]]]]:
        async with aiohttp.ClientSession() as s:
            async def post(url: str, path: str, token: str, body: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
                async with s.post(url + path, json=body, headers=bearer(token)) as r:
                    return r.status, await r.json()

            async def race(i: int, a: str, b: str):
                return await asyncio.gather(
                    post(two.urls[i % 2], f"/v1/tickets/{a}/merge", ann, {"into": b}),
                    post(two.urls[1 - i % 2], f"/v1/tickets/{a}/customer_messages", BOT_TOKEN,
                         {"text": f"message {i}", "via": "chat", "message_id": f"race-m{i}"}))
            return await asyncio.gather(*(race(i, a, b) for i, (a, b) in enumerate(pairs)))

    results = asyncio.run(scenario())
    assert [m[0] for m, _ in results] == [200] * PAIRS
    refused = [(i, said) for i, (_, said) in enumerate(results) if said[0] != 200]
    assert refused == [], f"{len(refused)} of {PAIRS} refused, e.g. {refused[:2]}"
    for i, ((a, b), (_, (_, answered))) in enumerate(zip(pairs, results)):
        where = {label: [e.get("text") for e in requests.get(f"{two.urls[0]}/v1/tickets/{label}",
                                                             headers=bearer(ann)).json()["timeline"]
                         if e["kind"] == "customer"] for label in (a, b)}
        assert sum(texts.count(f"message {i}") for texts in where.values()) == 1, where  # once, on one of them
        assert where[answered["label"]] == [f"message {i}"], (where, answered["label"])


def test_a_retried_message_the_duplicate_took_before_the_merge_is_not_added_again(two: Cluster):
    ann = bearer(two.login("ann"))
    url = two.urls[1]
    duplicate, kept = ticket(url, "retry-merge-a"), ticket(url, "retry-merge-b")
    body = {"text": "it is broken", "via": "chat", "message_id": "retry-merge-m1"}
    for label, said in ((duplicate, body), (kept, {"text": "order 7", "via": "email", "message_id": "mail-1"})):
        assert requests.post(f"{url}/v1/tickets/{label}/customer_messages", json=said,
                             headers=bearer(BOT_TOKEN)).status_code == 200
    assert requests.post(f"{url}/v1/tickets/{duplicate}/merge", json={"into": kept}, headers=ann).status_code == 200
    again = requests.post(f"{url}/v1/tickets/{duplicate}/customer_messages", json=body, headers=bearer(BOT_TOKEN))
    assert (again.status_code, again.json()["label"]) == (200, kept)
    timeline = requests.get(f"{url}/v1/tickets/{kept}", headers=ann).json()["timeline"]
    assert [e["text"] for e in timeline if e["kind"] == "customer"] == ["order 7"]  # it is on the duplicate's, once


def test_the_ticket_page_never_shows_a_customer_answer_beside_the_state_from_before_it(two: Cluster):
    """The customer answers a pending ticket (pending -> open) while the team reloads its page on the other
    process: each page shows the answer with "open", or neither, never the answer under "pending"."""
    ann = two.login("ann")
    labels = [ticket(two.urls[0], f"tear-{i}") for i in range(60)]
    for label in labels:
        r = requests.post(f"{two.urls[0]}/v1/tickets/{label}/replies", headers=bearer(ann),
                          json={"text": "Which colour was it?", "state": "pending"})
        assert r.status_code == 200, r.text

    async def scenario() -> List[Dict[str, Any]]:
        async with aiohttp.ClientSession() as s:
            async def answer(label: str) -> None:
                async with s.post(f"{two.urls[0]}/v1/tickets/{label}/customer_messages", headers=bearer(BOT_TOKEN),
                                  json={"text": "the blue one", "via": "chat"}) as r:
                    assert r.status == 200, await r.text()

            async def page(label: str, delay: float) -> Dict[str, Any]:
                await asyncio.sleep(delay)
                async with s.get(f"{two.urls[1]}/v1/tickets/{label}", headers=bearer(ann)) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            pages = await asyncio.gather(*(coro for label in labels for coro in (
                answer(label), *(page(label, d / 1000) for d in range(0, 40, 4)))))
            return [p for p in pages if p]

    seen = [(p["ticket"]["state"], any(e["kind"] == "customer" for e in p["timeline"])) for p in asyncio.run(scenario())]
    torn = [s for s in seen if s not in (("pending", False), ("open", True))]
    assert torn == [], f"{len(torn)} of {len(seen)} pages showed a state beside the wrong timeline, e.g. {torn[:3]}"
