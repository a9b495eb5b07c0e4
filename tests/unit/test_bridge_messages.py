"""What the bridge and the channels put on messages for the web chat (who is talking, notices, the queue),
the agent's name kept per conversation, and the conversation count for the supervisor dashboard."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List, Tuple

import pytest
import redis as redis_lib

from bot.channels.socketio import NoticeSocketIOOutput
from bot.bridge.bridge import HandoffBridge
from bot.bridge.keys import ACTIVE, AGENT_NAMES
from bot.bridge.notices import NoticeCollector, notice_fields
from tests.conftest import free_port


@pytest.mark.parametrize("message, expected", [
    ({"utter_action": "utter_greet"}, {}),
    ({"text": "hi"}, {}),
    ({"utter_action": "utter_handoff_requested", "group_name": "Billing"}, {}),  # the assistant speaking
    ({"utter_action": "utter_handoff_queued", "position": 2, "wait_minutes": 3},
     {"notice": True, "handoff": "waiting", "queue_position": 2}),
    ({"utter_action": "utter_handoff_position_update", "position": "1"},
     {"notice": True, "handoff": "waiting", "queue_position": 1}),
    ({"utter_action": "utter_handoff_queued", "position": None}, {"notice": True, "handoff": "waiting"}),
    ({"utter_action": "utter_handoff_connecting"}, {"notice": True, "handoff": "connecting"}),
    ({"utter_action": "utter_handoff_agent_joined", "agent_name": "Ann Baker", "group_name": "After-sales"},
     {"notice": True, "handoff": "joined", "agent_name": "Ann Baker"}),
    ({"utter_action": "utter_handoff_released"}, {"notice": True, "handoff": "released"}),
    ({"utter_action": "utter_handoff_closed"}, {"notice": True, "handoff": "closed"}),
    ({"utter_action": "utter_handoff_ticket", "reply_by": "x"}, {"notice": True, "handoff": "ticket"}),
    ({"utter_action": "utter_ask_survey_resolved"}, {"notice": True}),
    ({"utter_action": "utter_survey_thanks"}, {"notice": True}),
])
def test_notice_fields(message: Dict[str, Any], expected: Dict[str, Any]):
    assert notice_fields(message) == expected


def test_every_notice_response_exists(domain: Dict[str, Any]):
    from bot.bridge.notices import NOTICES

    assert set(NOTICES) <= set(domain["responses"])


def test_collected_messages_carry_the_notice_fields():
    async def collect() -> List[Dict[str, Any]]:
        out = NoticeCollector()
        await out.send_response("c1", {"text": "You're number 2 in the queue.", "utter_action": "utter_handoff_queued",
                                       "position": 2})
        await out.send_response("c1", {"text": "Hi!", "utter_action": "utter_greet"})
        await out.send_response("c1", {"text": "Solved?", "utter_action": "utter_ask_survey_resolved",
                                       "buttons": [{"title": "Yes", "payload": "/affirm"}]})
        return out.messages

    queued, greet, survey = asyncio.run(collect())
    assert (queued["notice"], queued["queue_position"]) == (True, 2)
    assert "notice" not in greet
    assert survey["notice"] is True and survey["buttons"] == [{"title": "Yes", "payload": "/affirm"}]


def test_socketio_output_marks_notices_as_it_emits():
    class Sio:
        def __init__(self) -> None:
            self.emitted: List[Tuple[str, Dict[str, Any], str]] = []

        async def emit(self, event: str, data: Dict[str, Any], room: str, **_: Any) -> None:
            self.emitted.append((event, data, room))

    async def send() -> List[Tuple[str, Dict[str, Any], str]]:
        sio = Sio()
        out = NoticeSocketIOOutput(sio, "bot_uttered")  # type: ignore[arg-type]
        await out.send_response("c1", {"text": "Our colleague has closed this chat.",
                                       "utter_action": "utter_handoff_closed"})
        await out.send_response("c1", {"text": "Before you go: did we solve your problem?",
                                       "utter_action": "utter_ask_survey_resolved",
                                       "buttons": [{"title": "Yes", "payload": "/affirm"}]})
        await out.send_response("c1", {"text": "Part one.\n\nPart two.", "utter_action": "utter_greet"})
        return sio.emitted

    closed, survey, one, two = asyncio.run(send())
    assert closed == ("bot_uttered", {"text": "Our colleague has closed this chat.", "notice": True,
                                      "handoff": "closed"}, "c1")
    assert survey[1]["notice"] is True and survey[1]["quick_replies"][0]["payload"] == "/affirm"
    assert one[1] == {"text": "Part one."} and two[1] == {"text": "Part two."}


def test_one_output_sending_to_two_customers_at_once_marks_only_the_notice():
    class SlowSio:
        def __init__(self) -> None:
            self.emitted: List[Tuple[Dict[str, Any], str]] = []

        async def emit(self, event: str, data: Dict[str, Any], room: str, **_: Any) -> None:
            await asyncio.sleep(0.01)  # the other send runs meanwhile
            self.emitted.append((data, room))

    async def send() -> List[Tuple[Dict[str, Any], str]]:
        sio = SlowSio()
        out = NoticeSocketIOOutput(sio, "bot_uttered")  # type: ignore[arg-type]
        await asyncio.gather(  # c1's second part is sent while c2's notice is under way
            out.send_response("c1", {"text": "Part one.\n\nPart two.", "utter_action": "utter_greet"}),
            out.send_response("c2", {"text": "Our colleague has closed this chat.",
                                     "utter_action": "utter_handoff_closed"}))
        return sio.emitted

    emitted = asyncio.run(send())
    assert sorted(data["text"] for data, room in emitted if room == "c1") == ["Part one.", "Part two."]
    assert all("notice" not in data for data, room in emitted if room == "c1"), emitted
    assert [data["notice"] for data, room in emitted if room == "c2"] == [True]


# ---- with Redis -------------------------------------------------------------------------------------
def bridge_on(redis_url: str) -> HandoffBridge:
    return HandoffBridge(redis_url, "http://127.0.0.1:9", "token")


def test_conversations_are_counted_once_a_day_and_kept_100_days_for_the_reports(redis_server: str):
    async def count() -> None:
        bridge = bridge_on(redis_server)
        for conversation in ("a", "b", "a", "c", "b"):
            await bridge.count_conversation(conversation)
        await bridge.redis.close()

    asyncio.run(count())
    r = redis_lib.Redis.from_url(redis_server)
    key = "{shop}:stats:conversations:" + time.strftime("%Y-%m-%d", time.gmtime())
    assert r.pfcount(key) == 3
    assert 100 * 86400 - 10 < r.ttl(key) <= 100 * 86400  # a quarter's report (92 days) still has its counts


def test_counting_never_fails_or_holds_up_a_message_when_redis_is_down(caplog: pytest.LogCaptureFixture):
    async def count() -> float:
        bridge = bridge_on(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        t0 = time.monotonic()
        for _ in range(3):
            await bridge.count_conversation("a")
        return time.monotonic() - t0

    assert asyncio.run(count()) < 2.0
    assert sum("counting conversations" in r.getMessage() for r in caplog.records) == 1  # not once a message


def test_agent_messages_carry_the_name_from_the_assigned_event_until_the_chat_ends(redis_server: str):
    """created -> assigned (Ann) -> her message -> transfer, assigned (Ben) -> his message -> closed."""
    said: List[Tuple[str, Dict[str, Any]]] = []
    delivered: List[Tuple[str, Dict[str, Any]]] = []

    async def run() -> Tuple[Any, Any]:
        bridge = bridge_on(redis_server)

        async def say(conversation: str, response: str, **values: Any) -> None:
            said.append((response, values))

        async def deliver(conversation: str, text: str, metadata: Dict[str, Any], data: Any = None) -> None:
            delivered.append((text, metadata))

        async def paused(conversation: str) -> bool:
            return False

        bridge.say, bridge.deliver, bridge._paused = say, deliver, paused  # type: ignore[assignment]
        base = {"conversation_id": "conv-1", "escalation": "e1"}
        for event in [
            {**base, "type": "created"},
            {**base, "type": "assigned", "agent": "ann", "agent_name": "Ann Baker", "group": "after_sales"},
            {**base, "type": "message", "message": {"speaker": "agent", "author": "ann", "text": "Hi, Ann here."}},
            {**base, "type": "assigned", "agent": "ben", "agent_name": "Ben Ortiz", "group": "general"},
            {**base, "type": "message", "message": {"speaker": "agent", "author": "ben", "text": "Ben now."}},
        ]:
            await bridge._on_event(event)
        during = await bridge.redis.hget(AGENT_NAMES, "conv-1")
        await bridge._on_event({**base, "type": "closed"})
        after = await bridge.redis.hget(AGENT_NAMES, "conv-1")
        await bridge.redis.close()
        return during, after

    redis_lib.Redis.from_url(redis_server).hdel(ACTIVE, "conv-1")
    during, after = asyncio.run(run())
    assert [v["agent_name"] for r, v in said if r == "utter_handoff_agent_joined"] == ["Ann Baker", "Ben Ortiz"]
    assert delivered == [("Hi, Ann here.", {"agent": "ann", "agent_name": "Ann Baker"}),
                         ("Ben now.", {"agent": "ben", "agent_name": "Ben Ortiz"})]
    assert json.loads(during) == {"id": "ben", "name": "Ben Ortiz"}
    assert after is None


def test_an_agent_whose_name_is_not_known_is_named_by_id(redis_server: str):
    async def name() -> Tuple[Any, Any]:
        bridge = bridge_on(redis_server)
        await bridge.redis.hset(AGENT_NAMES, "conv-2", json.dumps({"id": "ann", "name": "Ann Baker"}))
        result = await bridge.agent_name("conv-2", "tom"), await bridge.agent_name("conv-3", "tom")
        await bridge.redis.close()
        return result

    assert asyncio.run(name()) == ("tom", "tom")


def test_history_is_what_the_customer_has_seen_of_the_conversation():
    """After a reconnect the web chat asks for it: customer, bot, agent (by name) and notice lines, in order;
    externally triggered intents and events without text are not lines."""
    from types import SimpleNamespace

    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = [
        UserUttered("where is my order?"), BotUttered("What's your order number?", metadata={"utter_action": "x"}),
        ActionExecuted("action_listen"),
        BotUttered("You're number 2 in the queue.", metadata={"utter_action": "utter_handoff_queued"}),
        BotUttered("Hi, Ann here.", metadata={"agent": "ann", "agent_name": "Ann Baker", "message_id": "7-0/1"}),
        UserUttered("EXTERNAL: EXTERNAL_handoff_closed"), BotUttered("", metadata={}),
        UserUttered("thanks"),
    ]
    tracker = DialogueStateTracker.from_events("conv-1", events)

    async def get_tracker(conversation: str) -> DialogueStateTracker:
        assert conversation == "conv-1"
        return tracker

    bridge = bridge_on("redis://127.0.0.1:9/0")
    bridge.app = SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(
        processor=SimpleNamespace(get_tracker=get_tracker))))
    everything = asyncio.run(bridge.history("conv-1"))
    assert everything == {"total": 5, "lines": [
        {"speaker": "customer", "text": "where is my order?"},
        {"speaker": "bot", "text": "What's your order number?"},
        {"speaker": "system", "text": "You're number 2 in the queue."},
        {"speaker": "agent", "text": "Hi, Ann here.", "agent_name": "Ann Baker", "message_id": "7-0/1"},
        {"speaker": "customer", "text": "thanks"}]}
    assert asyncio.run(bridge.history("conv-1", limit=2)) == {"total": 5, "lines": everything["lines"][-2:]}


@pytest.mark.parametrize("language, billing", [(None, "Billing"), ("en", "Billing"), ("zh", "支付与账务")])
def test_the_customer_hears_of_a_transfer_and_of_a_lost_agent(redis_server: str, language: Any, billing: str):
    said: List[Tuple[str, Dict[str, Any]]] = []

    async def run() -> Any:
        bridge = bridge_on(redis_server)

        async def conversation_language(conversation: str) -> Any:
            return language

        bridge.language = conversation_language  # type: ignore[assignment]

        async def say(conversation: str, response: str, **values: Any) -> None:
            said.append((response, values))

        bridge.say = say  # type: ignore[assignment]
        base = {"conversation_id": "conv-t", "escalation": "e-t"}
        await bridge._on_event({**base, "type": "created"})
        await bridge._on_event({**base, "type": "assigned", "agent": "ann", "agent_name": "Ann Baker",
                                "group": "after_sales"})
        await bridge._on_event({**base, "type": "transferred", "group": "billing", "from_agent": "ann",
                                "reason": "transfer by ann: refund"})
        name_after = await bridge.redis.hget(AGENT_NAMES, "conv-t")
        await bridge._on_event({**base, "type": "transferred", "group": "billing", "from_agent": "bea",
                                "reason": "agent disconnected"})
        await bridge.redis.hdel(ACTIVE, "conv-t")
        await bridge.redis.close()
        return name_after

    assert asyncio.run(run()) is None  # the next agent's name comes with their "assigned"
    assert said[1:] == [("utter_handoff_transferred", {"group_name": billing}),
                        ("utter_handoff_agent_lost", {"group_name": billing})]
    assert notice_fields({"utter_action": "utter_handoff_transferred"}) == {"notice": True, "handoff": "transferred"}
