# Over 400 lines: every case drives the same real bridge over a Rasa app reduced to its stores, built once here.
"""Agent messages reach the customer at least once, in order, whatever fails on the way: a real redis-server,
the real bridge following the real event stream, and a Rasa app reduced to its tracker and lock stores.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import aiohttp.web
import pytest
import redis as redis_lib
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from bot.bridge.bridge import HandoffBridge
from bot.bridge.keys import ACTIVE
from tests.conftest import ROOT, free_port

Pushed = List[Tuple[str, Dict[str, Any]]]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))


class RasaApp:
    """What the bridge uses of Rasa's app: tracker store, lock store, NLG. `fail_saves` tracker writes fail."""

    def __init__(self, channel: str) -> None:
        self.store = InMemoryTrackerStore(DOMAIN)
        self.channel = channel
        self.fail_saves = 0
        processor = SimpleNamespace(get_tracker=self.get_tracker, save_tracker=self.save_tracker)
        nlg = SimpleNamespace(generate=self.generate)
        self.ctx = SimpleNamespace(agent=SimpleNamespace(processor=processor, lock_store=InMemoryLockStore(),
                                                         nlg=nlg))

    async def get_tracker(self, conversation: str) -> Any:
        tracker = await self.store.retrieve(conversation)
        if tracker is None:
            tracker = await self.store.create_tracker(conversation)
            tracker.update(UserUttered("I want a person", input_channel=self.channel))
            await self.store.save(tracker)
        return tracker

    async def save_tracker(self, tracker: Any) -> None:
        if self.fail_saves:
            self.fail_saves -= 1
            raise ConnectionError("tracker store unavailable")
        await self.store.save(tracker)

    async def generate(self, response: str, *_: Any, **__: Any) -> Dict[str, Any]:
        return {"text": f"[{response}]"}


def stream_events(redis_url: str, stream: str, conversation: str, escalation: str, texts: List[str]) -> None:
    """What the handoff service writes when an escalation is created and its agent writes `texts`."""
    r = redis_lib.Redis.from_url(redis_url)
    base = {"conversation_id": conversation, "escalation": escalation}
    r.xadd(stream, {"to": "", "e": json.dumps({**base, "type": "created"})})
    for seq, text in enumerate(texts, 1):
        r.xadd(stream, {"to": "ann", "e": json.dumps({**base, "type": "message", "agent": "ann", "message": {
            "seq": seq, "speaker": "agent", "author": "ann", "text": text}})})


async def follow_until(bridge: HandoffBridge, pushed: Pushed, want: int, write: Any, timeout: float = 15.0) -> None:
    """Follow the stream (as the leader does) while `write` adds events, until `want` agent messages were pushed
    (and a moment longer, for any duplicate)."""
    task = asyncio.ensure_future(bridge._follow_events())
    await asyncio.sleep(0.5)  # the bridge has joined the stream
    await asyncio.get_event_loop().run_in_executor(None, write)
    deadline = asyncio.get_event_loop().time() + timeout
    while sum(1 for _, m in pushed if m.get("agent")) < want and asyncio.get_event_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def new_bridge(redis_url: str, app: RasaApp) -> HandoffBridge:
    bridge = HandoffBridge(redis_url, "http://127.0.0.1:9", "token", prefix=f"{{b{uuid.uuid4().hex[:8]}}}:")
    bridge.app = app
    bridge.retry_seconds = 0.05  # the first retry's delay (then doubling)
    return bridge


async def tracker_texts(app: RasaApp, conversation: str) -> List[str]:
    tracker = await app.store.retrieve(conversation)
    return [e.text for e in tracker.events if isinstance(e, BotUttered) and (e.metadata or {}).get("agent")]


@pytest.mark.parametrize("failure", ["push", "tracker"])
def test_an_agent_message_that_fails_once_still_reaches_the_customer_once_and_in_order(redis_server: str,
                                                                                        failure: str):
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    pushed: Pushed = []
    failed: List[str] = []

    async def run() -> List[str]:
        app = RasaApp("socketio")
        bridge = new_bridge(redis_server, app)

        async def push(to: str, message: Dict[str, Any]) -> None:
            if failure == "push" and message.get("text") == "second" and not failed:
                failed.append(message["text"])
                raise ConnectionError("socket.io manager unavailable")
            pushed.append((to, message))

        bridge.register_output("socketio", push)
        if failure == "tracker":
            original = app.save_tracker

            async def save_once_failing(tracker: Any) -> None:
                if any(isinstance(e, BotUttered) and e.text == "second" for e in tracker.events) and not failed:
                    failed.append("second")
                    raise ConnectionError("tracker store unavailable")
                await original(tracker)

            app.ctx.agent.processor.save_tracker = save_once_failing
        await follow_until(bridge, pushed, 3, lambda: stream_events(
            redis_server, bridge.stream, conversation, "e-1", ["first", "second", "third"]))
        texts = await tracker_texts(app, conversation)
        await bridge.redis.hdel(ACTIVE, conversation)
        await bridge.redis.close()
        return texts

    in_tracker = asyncio.run(run())
    assert failed == ["second"]  # the failure happened
    assert [m["text"] for to, m in pushed if m.get("agent")] == ["first", "second", "third"]
    assert {to for to, _ in pushed} == {conversation}
    assert in_tracker == ["first", "second", "third"]  # stored once each, retry or not
    ids = [m.get("message_id") for _, m in pushed]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_message_that_keeps_failing_is_parked_and_the_conversation_goes_on(redis_server: str,
                                                                            caplog: pytest.LogCaptureFixture):
    from bot.bridge.stream import DEAD_EVENTS

    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    pushed: Pushed = []

    async def run() -> None:
        app = RasaApp("socketio")
        bridge = new_bridge(redis_server, app)
        bridge.event_tries = 3

        async def push(to: str, message: Dict[str, Any]) -> None:
            if message.get("text") == "poison":
                raise ValueError("this one never goes")
            pushed.append((to, message))

        bridge.register_output("socketio", push)
        await follow_until(bridge, pushed, 2, lambda: stream_events(
            redis_server, bridge.stream, conversation, "e-2", ["before", "poison", "after"]))
        await bridge.redis.hdel(ACTIVE, conversation)
        await bridge.redis.close()

    redis_lib.Redis.from_url(redis_server).delete(DEAD_EVENTS)
    asyncio.run(run())
    assert [m["text"] for _, m in pushed if m.get("agent")] == ["before", "after"]
    parked = [json.loads(raw) for raw in redis_lib.Redis.from_url(redis_server).lrange(DEAD_EVENTS, 0, -1)]
    assert [(p["event"]["message"]["text"], p["tries"]) for p in parked] == [("poison", 3)]
    assert "this one never goes" in parked[0]["error"]
    assert any(r.levelname == "ERROR" and "parked" in r.getMessage() for r in caplog.records)


def test_a_new_leader_delivers_what_the_last_one_left_unfinished(redis_server: str):
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    pushed: Pushed = []

    async def run() -> None:
        app = RasaApp("socketio")
        first = new_bridge(redis_server, app)
        hang = asyncio.Event()

        async def stuck(to: str, message: Dict[str, Any]) -> None:
            if message.get("text") == "second":
                await hang.wait()  # its server freezes here, then loses the leader lock
            pushed.append((to, message))

        first.register_output("socketio", stuck)
        await follow_until(first, pushed, 2, lambda: stream_events(
            redis_server, first.stream, conversation, "e-3", ["first", "second", "third"]), timeout=1.0)
        assert [m["text"] for _, m in pushed if m.get("agent")] == ["first"]
        second = HandoffBridge(redis_server, "http://127.0.0.1:9", "token", prefix=first.stream[:-len("events")])
        second.app = app

        async def push(to: str, message: Dict[str, Any]) -> None:
            pushed.append((to, message))

        second.register_output("socketio", push)
        await follow_until(second, pushed, 3, lambda: None)
        await second.redis.hdel(ACTIVE, conversation)
        await first.redis.close()
        await second.redis.close()

    asyncio.run(run())
    assert [m["text"] for _, m in pushed if m.get("agent")] == ["first", "second", "third"]


def test_a_rest_callback_that_fails_once_is_retried_and_the_shop_gets_the_message_once(
        redis_server: str, monkeypatch: pytest.MonkeyPatch):
    """The shop's callback answers 500 to the first try; every try carries the same message_id."""
    import bot.bridge.bridge as handoff_bridge
    from bot.channels.rest import CheckedRestInput
    from bot.identity import verify

    monkeypatch.setenv("CHAT_SESSION_SECRET", "s" * 32)
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    answered: List[Tuple[int, Dict[str, Any]]] = []

    async def run() -> None:
        async def callback(request: aiohttp.web.Request) -> aiohttp.web.Response:
            body = await request.json()
            status = 500 if body.get("text") == "first" and not answered else 200
            answered.append((status, body))
            return aiohttp.web.Response(status=status)

        web = aiohttp.web.Application()
        web.router.add_post("/callback", callback)
        runner = aiohttp.web.AppRunner(web)
        await runner.setup()
        port = free_port()
        await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
        app = RasaApp("rest")
        bridge = new_bridge(redis_server, app)
        monkeypatch.setattr(handoff_bridge, "_bridge", bridge)
        monkeypatch.setattr(handoff_bridge, "_made", True)

        async def on_new_message(_: Any) -> None:
            return None

        CheckedRestInput(f"http://127.0.0.1:{port}/callback").blueprint(on_new_message)  # registers the push
        pushed: Pushed = []
        original = bridge.outputs["rest"]

        async def recorded(to: str, message: Dict[str, Any]) -> None:
            await original(to, message)
            pushed.append((to, message))

        bridge.outputs["rest"] = recorded
        await follow_until(bridge, pushed, 2, lambda: stream_events(
            redis_server, bridge.stream, conversation, "e-4", ["first", "second"]))
        await bridge.redis.hdel(ACTIVE, conversation)
        await bridge.redis.close()
        await runner.cleanup()

    asyncio.run(run())
    delivered = [body for status, body in answered if status == 200 and body.get("agent")]
    assert [b["text"] for b in delivered] == ["first", "second"]  # once each, in order
    assert {verify(b["recipient_id"]) for b in delivered} == {conversation}
    tries_of_first = [body for _, body in answered if body.get("text") == "first"]
    assert [s for s, b in answered if b.get("text") == "first"] == [500, 200]
    assert len({b["message_id"] for b in tries_of_first}) == 1 and tries_of_first[0]["message_id"]


def test_the_hand_back_notice_that_fails_once_is_pushed_again_and_the_bot_listens(redis_server: str):
    """The agent releases the chat; the push of "You're back with the assistant" fails once."""
    from rasa.shared.core.events import ActionExecuted, ConversationPaused, ConversationResumed

    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    pushed: Pushed = []
    failed: List[str] = []

    async def run() -> Any:
        app = RasaApp("socketio")
        bridge = new_bridge(redis_server, app)
        tracker = await app.get_tracker(conversation)
        tracker.update(ConversationPaused())  # the action server handed off
        await app.store.save(tracker)

        async def push(to: str, message: Dict[str, Any]) -> None:
            if message.get("handoff") == "released" and not failed:
                failed.append(message["text"])
                raise ConnectionError("socket.io manager unavailable")
            pushed.append((to, message))

        bridge.register_output("socketio", push)

        def write() -> None:
            stream_events(redis_server, bridge.stream, conversation, "e-5", ["Over to the assistant."])
            redis_lib.Redis.from_url(redis_server).xadd(bridge.stream, {"to": "", "e": json.dumps(
                {"type": "released", "conversation_id": conversation, "escalation": "e-5"})})

        await follow_until(bridge, pushed, 1, write)
        await asyncio.sleep(1.0)  # the retry
        active = await bridge.redis.hget(ACTIVE, conversation)
        await bridge.redis.close()
        return await app.store.retrieve(conversation), active

    tracker, active = asyncio.run(run())
    assert failed == ["[utter_handoff_released]"]
    assert [(m["text"], m.get("handoff")) for _, m in pushed] == [
        ("Over to the assistant.", None), ("[utter_handoff_released]", "released")]
    assert not tracker.is_paused() and active is None
    events = list(tracker.events)
    assert sum(isinstance(e, ConversationResumed) for e in events) == 1
    assert [e.text for e in events if isinstance(e, BotUttered)] == ["Over to the assistant.",
                                                                     "[utter_handoff_released]"]
    assert isinstance(events[-1], ActionExecuted) and events[-1].action_name == "action_listen"


def test_the_bridge_joins_again_when_redis_lost_the_stream_and_its_group(redis_server: str):
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    pushed: Pushed = []

    async def run() -> None:
        app = RasaApp("socketio")
        bridge = new_bridge(redis_server, app)

        async def push(to: str, message: Dict[str, Any]) -> None:
            pushed.append((to, message))

        bridge.register_output("socketio", push)

        def write() -> None:
            stream_events(redis_server, bridge.stream, conversation, "e-6", ["before"])
            import time
            time.sleep(1.0)
            redis_lib.Redis.from_url(redis_server).delete(bridge.stream)  # a Redis restarted without its data
            time.sleep(0.5)
            stream_events(redis_server, bridge.stream, conversation, "e-6", ["after"])

        await follow_until(bridge, pushed, 2, write)
        await bridge.redis.hdel(ACTIVE, conversation)
        await bridge.redis.close()

    asyncio.run(run())
    assert [m["text"] for _, m in pushed if m.get("agent")] == ["before", "after"]


def test_a_parked_agent_message_replayed_reaches_the_customer_once(redis_server: str):
    """The push keeps failing, the event is parked; after the fix,
    ``python -m bot.undelivered replay`` hands it to the bridge again and the customer gets it once, with the
    message id it had (so a customer who got it after all drops the repeat)."""
    from bot.bridge.stream import DEAD_EVENTS
    from bot.undelivered import entries, replay

    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    pushed: Pushed = []
    broken = [True]
    sync = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    sync.delete(DEAD_EVENTS)

    async def run() -> Tuple[List[str], str]:
        app = RasaApp("socketio")
        bridge = new_bridge(redis_server, app)
        bridge.event_tries = 2

        async def push(to: str, message: Dict[str, Any]) -> None:
            if message.get("text") == "your refund is on its way" and broken[0]:
                raise ConnectionError("socket.io manager unavailable")
            pushed.append((to, message))

        bridge.register_output("socketio", push)
        await follow_until(bridge, pushed, 1, lambda: stream_events(
            redis_server, bridge.stream, conversation, "e-7", ["hello", "your refund is on its way"]), timeout=3.0)
        assert [json.loads(raw)["event"]["message"]["text"] for raw in sync.lrange(DEAD_EVENTS, 0, -1)] == [
            "your refund is on its way"]
        assert len(entries(sync, conversation)) == 1  # listed with the conversation's other undelivered items
        parked_id = json.loads(sync.lindex(DEAD_EVENTS, 0))["id"]
        broken[0] = False  # the fix
        assert replay(sync, "someone-else", bridge.stream) == 0
        await follow_until(bridge, pushed, 2, lambda: replay(sync, conversation, bridge.stream))
        await follow_until(bridge, pushed, 3, lambda: None, timeout=1.0)  # a new leader: nothing left pending
        texts = await tracker_texts(app, conversation)
        await bridge.redis.hdel(ACTIVE, conversation)
        await bridge.redis.close()
        return texts, parked_id

    in_tracker, parked_id = asyncio.run(run())
    assert [m["text"] for _, m in pushed if m.get("agent")] == ["hello", "your refund is on its way"]
    assert in_tracker == ["hello", "your refund is on its way"]  # stored once (on the first try), replay or not
    assert pushed[1][1]["message_id"] == f"{parked_id}/1"  # the id it had: a customer who has it drops it
    assert sync.llen(DEAD_EVENTS) == 0


def test_an_assigned_chat_whose_tracker_missed_the_pause_is_paused_so_the_customer_reaches_the_agent(redis_server: str):
    """The soak's all-processes kill: the action server created the escalation, then Rasa died before it saved the
    conversation's tracker (no pause in it). When the bridge handles the `assigned` event it makes the tracker agree
    with the service: paused, so the customer's next messages go to the agent, not to the bot."""
    from bot.bridge.bridge import HandoffBridge as Bridge

    async def run() -> Any:
        conversation = f"conv-{uuid.uuid4().hex[:8]}"
        app = RasaApp("socketio")
        bridge = Bridge(redis_server, "http://127.0.0.1:1", "token", prefix=f"{{t{uuid.uuid4().hex[:6]}}}:")
        bridge.app = app
        pushed: Pushed = []

        async def push(to: str, message: Dict[str, Any]) -> None:
            pushed.append((to, message))

        bridge.register_output("socketio", push)
        await bridge.redis.hset(ACTIVE, conversation, "e-lost")
        base = {"conversation_id": conversation, "escalation": "e-lost"}
        await bridge._handle_event("1-0", {**base, "type": "assigned", "agent": "ann", "agent_name": "Ann Baker",
                                           "group": "general"})
        tracker = await app.get_tracker(conversation)
        await bridge.redis.hdel(ACTIVE, conversation)
        await bridge.redis.close()
        return tracker, pushed

    tracker, pushed = asyncio.run(run())
    assert tracker.is_paused()
    assert tracker.get_slot("handoff_escalation") == {"id": "e-lost", "status": "assigned"}
    assert [m["text"] for _, m in pushed] == ["[utter_handoff_agent_joined]"]
