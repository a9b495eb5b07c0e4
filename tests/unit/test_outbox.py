"""The bridge's outbox (bot/bridge/outbox.py) with a real Redis and a real HTTP server standing in for the
handoff service. Only the Rasa side (what the customer is told) is recorded instead of run."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import redis as redis_lib

from bot.bridge.bridge import HandoffBridge
from bot.bridge.outbox import OUTBOX, SENDING, SURVEYS, SURVEYS_SENDING, backoff_seconds, classify
from tests.standin import StandIn


class Recorded(HandoffBridge):
    """The bridge with the Rasa server's side recorded: what it would say, which conversations it resumes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: List[Tuple[str, Optional[str]]] = []
        self.paused = True
        self.tracker_events: List[Tuple[str, List[Any]]] = []

    async def _paused(self, conversation: str) -> bool:
        return self.paused

    async def say(self, conversation: str, response: str, **values: Any) -> None:
        self.told.append((conversation, response))

    async def resume(self, conversation: str, response: Optional[str], extra: Any = None, **values: Any) -> None:
        self.told.append((conversation, response))

    async def _update_tracker(self, conversation: str, events: List[Any]) -> Any:
        self.tracker_events.append((conversation, events))


def request(conversation: str) -> Dict[str, Any]:
    return {"schema_version": 1, "conversation_id": conversation, "transcript": []}


def drain(redis_url: str, script, items: List[Dict[str, Any]], until, outbox: str = OUTBOX,
          sending: str = SENDING, seconds: float = 15, paused: bool = True) -> Tuple[StandIn, Recorded]:
    """Queue `items` in the outbox, run the bridge's drain until `until(service)` holds (or `seconds`)."""
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    for item in items:
        r.rpush(outbox, json.dumps(item))
        if "conversation_id" in item:
            r.hset("{shop}:handoff:active", item["conversation_id"], "pending")

    async def scenario() -> Tuple[StandIn, Recorded]:
        service = await StandIn(script).start()
        bridge = Recorded(redis_url, service.url, "token")
        bridge.paused = paused
        bridge.retry_first_seconds, bridge.retry_max_seconds, bridge.outbox_poll_seconds = 0.3, 1.0, 0.05
        bridge.session = aiohttp.ClientSession()
        send = bridge._send if outbox == OUTBOX else bridge._send_survey
        task = asyncio.ensure_future(bridge._drain(outbox, sending, send))
        deadline = time.monotonic() + seconds
        while not until(service) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        task.cancel()
        await bridge.session.close()
        await bridge.redis.close()
        await service.stop()
        return service, bridge

    return asyncio.run(scenario())


def parked(redis_url: str) -> List[Dict[str, Any]]:
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    return [json.loads(x) for x in r.lrange("{shop}:handoff:undelivered", 0, -1)]


def test_a_refused_request_is_parked_and_the_ones_behind_it_are_delivered(redis_server):
    service, bridge = drain(redis_server, lambda path, body: 413 if body["conversation_id"] == "big" else None,
                            [request("big"), request("a"), request("b")],
                            until=lambda s: {"a", "b"} <= set(s.conversations()))
    assert service.conversations() == ["big", "a", "b"]  # old code: big, big, big... a and b never sent
    assert [(p["kind"], p["conversation_id"], p["status"]) for p in parked(redis_server)] == [("handoff", "big", 413)]
    assert ("big", "utter_handoff_failed") in bridge.told  # told honestly, and the bot has the chat again
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    assert r.hget("{shop}:handoff:active", "big") is None
    assert r.hgetall("{shop}:handoff:active") == {"a": "esc-a", "b": "esc-b"}
    assert r.llen(OUTBOX) == 0 and r.llen(SENDING) == 0


def test_a_transient_failure_is_retried_later_while_the_ones_behind_it_flow(redis_server):
    answers = {"slow": iter([503, 429])}
    service, bridge = drain(redis_server, lambda path, body: next(answers.get(body["conversation_id"], iter(())), None),
                            [request("slow"), request("a"), request("b")],
                            until=lambda s: s.conversations().count("slow") == 3)
    # old code: slow, slow, slow, a, b (everything behind waited for it)
    assert service.conversations()[:3] == ["slow", "a", "b"]
    assert service.conversations().count("slow") == 3
    assert parked(redis_server) == []
    assert [c for c, _ in bridge.told] == ["a", "b", "slow"]  # each told where it stands once it got through


def test_a_refused_survey_is_parked_and_an_answered_one_is_done(redis_server):
    def script(path: str, body: Any) -> Optional[int]:
        return {"/v1/handoffs/e1/survey": 401, "/v1/handoffs/e2/survey": 409}.get(path, 200)

    items = [{"escalation": e, "survey": {"resolved": True, "rating": 5}} for e in ("e1", "e2", "e3")]
    service, _ = drain(redis_server, script, items, until=lambda s: len(s.received) >= 3,
                       outbox=SURVEYS, sending=SURVEYS_SENDING)
    assert [p for p, _ in service.received] == [f"/v1/handoffs/{e}/survey" for e in ("e1", "e2", "e3")]
    assert [(p["kind"], p["escalation"], p["status"]) for p in parked(redis_server)] == [("survey", "e1", 401)]


def test_a_replayed_request_gives_the_chat_to_the_person_who_takes_it(redis_server):
    """A request parked earlier (the customer had the bot again) and replayed: once the team has it, the bot
    goes quiet and the request is pending again."""
    service, bridge = drain(redis_server, lambda path, body: None, [request("back")],
                            until=lambda s: "back" in s.conversations(), paused=False)
    assert [(c, [e.type_name for e in events]) for c, events in bridge.tracker_events] == [("back", ["pause", "slot"])]
    assert bridge.tracker_events[0][1][1].value == request("back")
    assert bridge.told == [("back", "utter_handoff_queued")]


def test_which_answers_are_worth_retrying():
    assert [classify(s) for s in (200, 201, 408, 429, 500, 503, 400, 401, 404, 413, 422)] == [
        "sent", "sent", "retry", "retry", "retry", "retry", "refused", "refused", "refused", "refused", "refused"]
    assert [backoff_seconds(n, 2.0, 60.0) for n in range(7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_a_delayed_request_says_connecting_only_while_no_agent_has_joined(redis_server):
    """The request reached the team late and was offered at once: the customer hears "connecting", unless the
    agent was quicker and the bridge already said who joined (then "connecting" after it would be wrong)."""
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    r.flushdb()
    r.hset("{shop}:handoff:agent_names", "joined", json.dumps({"id": "ann", "name": "Ann Baker"}))

    async def scenario() -> Recorded:
        bridge = Recorded(redis_server, "http://127.0.0.1:9", "token")
        for conversation in ("joined", "fresh"):
            await bridge._announce(conversation, {"id": f"esc-{conversation}", "status": "offered"})
        await bridge.redis.close()
        return bridge

    assert asyncio.run(scenario()).told == [("fresh", "utter_handoff_connecting")]
