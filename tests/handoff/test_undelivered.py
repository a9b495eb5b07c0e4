"""What the bot could not deliver is visible to supervisors (GET /v1/undelivered, the
handoff_undelivered_items gauge), read from the bot's list in the same Redis. Real Redis, real service process."""
from __future__ import annotations

import json
from typing import Iterator

import pytest
import redis as redis_lib
import requests

from common.undelivered import UNDELIVERED, parked
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer, small_team_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with small_team_service(tmp_path_factory.mktemp("undelivered")) as cluster:
        yield cluster


def test_supervisors_see_what_the_bot_could_not_deliver(service: Cluster):
    r = redis_lib.Redis.from_url(service.redis_url)
    r.delete(UNDELIVERED)
    request = {"schema_version": 1, "conversation_id": "conv-413", "transcript": [{"speaker": "customer",
                                                                                  "text": "a very long story"}]}
    r.rpush(UNDELIVERED, json.dumps(parked("handoff", request, 413, "payload too large", now=1_700_000_000.0)),
            json.dumps(parked("survey", {"escalation": "e-1", "survey": {"resolved": True, "rating": 5}}, 401,
                              "token rotated", attempts=3, now=1_700_000_100.0)))
    base = service.urls[0]
    shown = requests.get(base + "/v1/undelivered", headers=bearer(service.login("sue")), timeout=10)
    assert shown.status_code == 200
    assert shown.json() == {"total": 2, "items": [
        {"kind": "handoff", "conversation_id": "conv-413", "status": 413, "error": "payload too large", "attempts": 1,
         "at": "2023-11-14T22:13:20Z"},
        {"kind": "survey", "escalation": "e-1", "status": 401, "error": "token rotated", "attempts": 3,
         "at": "2023-11-14T22:15:00Z"}]}  # no transcript: the list is for finding them, the tracker has the rest
    assert requests.get(base + "/v1/undelivered", headers=bearer(service.login("ann")), timeout=10).status_code == 403
    assert requests.get(base + "/v1/undelivered", headers=bearer(BOT_TOKEN), timeout=10).status_code == 403
    metrics = requests.get(base + "/metrics", timeout=10).text
    assert "handoff_undelivered_items 2.0" in metrics
    r.delete(UNDELIVERED)


DEAD_EVENTS = "{shop}:handoff:dead_events"  # where the bridge parks an event it failed HANDOFF_EVENT_TRIES times


def dead_event(conversation: str, text: str, at: float = 1_700_000_200.0) -> str:
    """A record as bot/bridge/stream.py parks it: an agent's message the bridge could not deliver."""
    event = {"type": "message", "conversation_id": conversation, "escalation": "e-7", "agent": "ann",
             "message": {"seq": 1, "speaker": "agent", "author": "ann", "text": text}}
    return json.dumps({"id": "1700000200000-0", "event": event, "error": "ConnectionError('push failed')",
                       "tries": 10, "at": at})


def test_supervisors_also_see_the_events_the_bridge_parked(service: Cluster):
    r = redis_lib.Redis.from_url(service.redis_url)
    r.delete(UNDELIVERED, DEAD_EVENTS)
    r.rpush(UNDELIVERED, json.dumps(parked("handoff", {"conversation_id": "conv-413"}, 413, "payload too large",
                                           now=1_700_000_000.0)))
    r.rpush(DEAD_EVENTS, dead_event("conv-dead", "your refund is on its way"), "not json")
    try:
        shown = requests.get(service.urls[0] + "/v1/undelivered", headers=bearer(service.login("sue")), timeout=10)
        assert shown.status_code == 200
        assert shown.json() == {"total": 3, "items": [
            {"kind": "handoff", "conversation_id": "conv-413", "status": 413, "error": "payload too large",
             "attempts": 1, "at": "2023-11-14T22:13:20Z"},
            {"kind": "event", "id": "1700000200000-0", "event": "message", "conversation_id": "conv-dead",
             "escalation": "e-7", "error": "ConnectionError('push failed')", "attempts": 10,
             "at": "2023-11-14T22:16:40Z"},
            {"kind": "unreadable", "error": "not json"}]}
        assert "refund" not in shown.text  # never the message: the tracker and the agent's console have it
        assert "handoff_undelivered_items 3.0" in requests.get(service.urls[0] + "/metrics", timeout=10).text
    finally:
        r.delete(UNDELIVERED, DEAD_EVENTS)


def test_a_replayed_event_is_for_the_bridge_only_not_the_teams_websockets(service: Cluster):
    """``python -m bot.undelivered replay`` writes a parked event to the stream again for the bot's bridge; the
    team saw it the first time, so the service does not fan it out again (nor act on it)."""
    import asyncio

    import aiohttp

    from bot.undelivered import replay

    r = redis_lib.Redis.from_url(service.redis_url, decode_responses=True)
    r.delete(UNDELIVERED, DEAD_EVENTS)
    r.rpush(DEAD_EVENTS, dead_event("conv-replayed", "said once"))
    seen: list = []

    async def watch() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(service.urls[0].replace("http", "ws") + "/v1/agents/me/stream",
                                          headers=bearer(service.login("sue")), heartbeat=5) as ws:
                assert json.loads((await ws.receive(timeout=10)).data)["type"] == "snapshot"
                loop = asyncio.get_event_loop()
                assert await loop.run_in_executor(None, replay, r, "conv-replayed", "{ho}:events") == 1
                await loop.run_in_executor(None, lambda: r.xadd("{ho}:events", {"to": "", "e": json.dumps(
                    {"type": "agent_status", "agent": "marker", "status": "away"})}))
                while not any(e.get("agent") == "marker" for e in seen):
                    seen.append(json.loads((await ws.receive(timeout=10)).data))

    asyncio.run(watch())
    assert [e["type"] for e in seen] == ["agent_status"]  # not the replayed message
    assert r.llen(DEAD_EVENTS) == 0 and r.xrevrange("{ho}:events", count=2)[1][1]["replay_of"] == "1700000200000-0"


def test_the_dashboard_shows_them_in_a_small_panel(service: Cluster):
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import chromium_path
    from tests.handoff.cluster import PASSWORD

    r = redis_lib.Redis.from_url(service.redis_url)
    r.delete(UNDELIVERED)
    r.rpush(UNDELIVERED, json.dumps(parked("handoff", {"conversation_id": "conv-<b>413</b>"}, 413, "payload too large")))
    r.rpush(DEAD_EVENTS, dead_event("conv-<i>dead</i>", "<img src=x onerror=alert(1)>", at=4_000_000_000.0))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page()
            page.goto(service.urls[0] + "/dashboard/")
            page.get_by_test_id("login-agent").fill("sue")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            row = page.get_by_test_id("undelivered-row")
            expect(row).to_have_count(2, timeout=15_000)
            expect(row.nth(0)).to_contain_text("handoff of conv-<b>413</b>")  # text, never markup
            expect(row.nth(0)).to_contain_text("413")
            expect(row.nth(1)).to_contain_text("message event of conv-<i>dead</i>")
            expect(row.nth(1)).to_contain_text("push failed")
            expect(row.nth(1)).not_to_contain_text("onerror")  # the agent's text is not shown
            expect(page.locator("#undelivered-total")).to_have_text("2 waiting for a person")
            browser.close()
    finally:
        r.delete(UNDELIVERED, DEAD_EVENTS)
