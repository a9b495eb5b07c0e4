"""The customer's side of tickets in the Rasa server (bot/bridge/tickets.py): a real redis-server, the real bridge
following the real event stream, a real HTTP stand-in for the service's ticket endpoints, and a Rasa app reduced
to its tracker and lock stores with the domain's real responses (what the customer reads is asserted)."""
from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import aiohttp
import pytest
import redis as redis_lib
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, ConversationPaused, SlotSet, UserUttered

from bot.bridge.bridge import HandoffBridge
from bot.bridge.keys import ACTIVE
from bot.bridge.tickets import AWAITING, TICKET_OUTBOX, TICKET_SENDING, UNSEEN
from tests.conftest import ROOT, free_port
from tests.ticket_standin import TICKET, TicketStandIn

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
Pushed = List[Tuple[str, Dict[str, Any]]]
INTENTS = {"I'll leave a message": "leave_message"}  # the NLU's reading of the test messages (else "inform")


class RasaApp:
    """What the bridge uses of Rasa's app: tracker store, lock store, the domain's responses, message parsing."""

    def __init__(self, channel: str = "socketio") -> None:
        self.store = InMemoryTrackerStore(DOMAIN)
        self.channel = channel
        processor = SimpleNamespace(get_tracker=self.get_tracker, save_tracker=self.store.save,
                                    parse_message=self.parse_message,
                                    _handle_message_with_tracker=self.handle_message_with_tracker)
        self.ctx = SimpleNamespace(agent=SimpleNamespace(processor=processor, lock_store=InMemoryLockStore(),
                                                         nlg=TemplatedNaturalLanguageGenerator(DOMAIN.responses)))

    async def get_tracker(self, conversation: str) -> Any:
        tracker = await self.store.retrieve(conversation)
        if tracker is None:
            tracker = await self.store.create_tracker(conversation)
            tracker.update(UserUttered("hello", input_channel=self.channel))
            await self.store.save(tracker)
        return tracker

    @staticmethod
    async def parse_message(message: UserMessage, _tracker: Any) -> Dict[str, Any]:
        return {"text": message.text, "intent": {"name": INTENTS.get(message.text, "inform"), "confidence": 0.9},
                "entities": []}

    async def handle_message_with_tracker(self, message: UserMessage, tracker: Any) -> None:
        parse = message.parse_data or await self.parse_message(message, tracker)
        tracker.update(UserUttered(message.text, parse["intent"], [], parse, input_channel=message.input_channel,
                                   message_id=message.message_id))


async def bot_lines(app: RasaApp, conversation: str) -> List[Tuple[str, Dict[str, Any]]]:
    tracker = await app.store.retrieve(conversation)
    return [(e.text, e.metadata or {}) for e in tracker.events if isinstance(e, BotUttered)]


class Setup:
    def __init__(self, redis_url: str, standin: TicketStandIn, channel: str = "socketio") -> None:
        self.app = RasaApp(channel)
        self.bridge = HandoffBridge(redis_url, standin.url, "bot-token", prefix=f"{{t{uuid.uuid4().hex[:8]}}}:")
        self.bridge.app = self.app
        self.bridge.retry_seconds = 0.05
        self.bridge.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        self.pushed: Pushed = []
        self.redis = redis_lib.Redis.from_url(redis_url, decode_responses=True)
        self.standin = standin

        async def push(to: str, message: Dict[str, Any]) -> None:
            self.pushed.append((to, message))

        self.bridge.register_output(channel, push)

    def write(self, event: Dict[str, Any]) -> None:
        self.redis.xadd(self.bridge.stream, {"to": "", "e": json.dumps(event)})

    async def follow(self, events: List[Dict[str, Any]], until: Callable[[], bool], timeout: float = 10.0) -> None:
        """Follow the stream as the leader does while `events` are written, until `until()` (and a moment more)."""
        task = asyncio.ensure_future(self.bridge._follow_events())
        await asyncio.sleep(0.3)
        for event in events:
            self.write(event)
        deadline = asyncio.get_event_loop().time() + timeout
        while not until() and asyncio.get_event_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        await self.bridge.session.close()
        await self.bridge.redis.close()


def run(redis_url: str, test: Callable[[Setup], Awaitable[None]], channel: str = "socketio") -> TicketStandIn:
    async def go() -> TicketStandIn:
        standin = await TicketStandIn().start()
        setup = Setup(redis_url, standin, channel)
        try:
            await test(setup)
        finally:
            await setup.close()
            await standin.stop()
        return standin

    return asyncio.run(go())


def reply_event(conversation: str, state: str = "pending", text: str = "Please send a photo of the error.") -> Dict:
    return {"type": "ticket_reply", "conversation_id": conversation, "ticket": TICKET["id"], "label": "T-10042",
            "text": text, "author": "ann", "agent_name": "Ann Baker", "message_id": "r1", "state": state}


# What the service's chat-became-a-ticket ending says (handoff/tickets/chat_tickets.py, _ticket): the label, not an object.
REAL_OUTCOME = {"reply_by": "2026-12-07T05:00:00Z", "reply_within_hours": 4.0, "ticket": "T-10042",
                "ticket_id": TICKET["id"], "due_local": "2026-12-07 13:00", "timezone": "Asia/Shanghai"}


def conv() -> str:
    return f"conv-{uuid.uuid4().hex[:8]}"


def test_a_reply_to_a_connected_customer_is_pushed_at_once_marked_with_its_ticket(redis_server: str):
    conversation = conv()

    async def test(s: Setup) -> None:
        await s.bridge.tickets.online(conversation)
        await s.app.get_tracker(conversation)
        await s.follow([reply_event(conversation)], lambda: bool(s.pushed))
        assert len(s.pushed) == 1
        to, message = s.pushed[0]
        assert to == conversation and message["text"] == "Please send a photo of the error."
        assert (message["ticket"], message["agent_name"], message["agent"]) == ("T-10042", "Ann Baker", "ann")
        assert message["message_id"]
        lines = await bot_lines(s.app, conversation)
        assert [(t, m.get("ticket"), m.get("agent")) for t, m in lines] == [
            ("Please send a photo of the error.", "T-10042", "ann")]
        # the ticket waits for the customer: their next chat message will go to it
        assert json.loads(s.redis.get(AWAITING + conversation)) == {"id": TICKET["id"], "label": "T-10042"}

    run(redis_server, test)


def test_a_reply_to_an_absent_customer_waits_and_is_shown_once_when_they_open_the_chat(redis_server: str):
    conversation = conv()

    async def test(s: Setup) -> None:
        await s.app.get_tracker(conversation)
        await s.bridge.tickets.online(conversation)
        await s.bridge.tickets.offline(conversation)  # they closed the page
        await s.follow([reply_event(conversation)], lambda: s.redis.llen(UNSEEN + conversation) > 0)
        assert s.pushed == [] and s.redis.get(AWAITING + conversation) is None
        shown = await s.bridge.tickets.show_unseen(conversation)
        assert [m["text"] for m in shown] == ["You have an answer about T-10042:", "Please send a photo of the error."]
        assert shown[0]["notice"] is True and shown[1]["agent_name"] == "Ann Baker"
        assert all(m["ticket"] == "T-10042" and m["message_id"] for m in shown)
        assert await s.bridge.tickets.show_unseen(conversation) == []  # once
        assert [t for t, _ in await bot_lines(s.app, conversation)] == [m["text"] for m in shown]
        # shown while the ticket waits for them: their next message is its answer
        assert json.loads(s.redis.get(AWAITING + conversation))["label"] == "T-10042"

    run(redis_server, test)


def test_the_next_message_after_a_pending_reply_goes_to_the_ticket_durably_and_once(redis_server: str):
    conversation = conv()

    async def test(s: Setup) -> None:
        await s.app.get_tracker(conversation)
        s.redis.set(AWAITING + conversation, json.dumps({"id": TICKET["id"], "label": "T-10042"}))
        message = UserMessage("Here it is: E4 blinking", None, conversation, input_channel="socketio",
                              message_id="m-0001-photo")
        said = await s.bridge.tickets.take_for_ticket(message)
        assert [m["text"] for m in said] == ["I've added that to your case T-10042. Our team will get back to you here."]
        assert said[0]["ticket"] == "T-10042"
        assert s.redis.get(AWAITING + conversation) is None
        assert s.redis.llen(TICKET_OUTBOX) == 1  # kept before it is sent: a crash now does not lose it
        drain = asyncio.ensure_future(s.bridge._drain(TICKET_OUTBOX, TICKET_SENDING,
                                                      s.bridge.tickets.send_customer_message))
        for _ in range(100):
            if s.standin.requests("/customer_messages"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        (sent,) = s.standin.requests("/customer_messages")
        assert sent["path"] == f"/v1/tickets/{TICKET['id']}/customer_messages" and sent["auth"] == "Bearer bot-token"
        assert sent["body"] == {"text": "Here it is: E4 blinking", "via": "chat", "message_id": "m-0001-photo"}
        assert s.redis.llen(TICKET_OUTBOX) == 0 and s.redis.llen(TICKET_SENDING) == 0
        # a resend of the same message is not stored or queued again; the next one is the bot's
        assert await s.bridge.tickets.take_for_ticket(message) is None
        tracker = await s.app.store.retrieve(conversation)
        assert sum(1 for e in tracker.events if isinstance(e, UserUttered) and e.message_id == "m-0001-photo") == 1

    run(redis_server, test)


def test_a_message_for_a_ticket_that_the_service_cannot_take_yet_is_sent_later(redis_server: str):
    conversation = conv()

    async def test(s: Setup) -> None:
        await s.app.get_tracker(conversation)
        s.redis.set(AWAITING + conversation, json.dumps({"id": TICKET["id"], "label": "T-10042"}))
        path = f"/v1/tickets/{TICKET['id']}/customer_messages"
        s.standin.answers[("POST", path)] = (503, {"error": {"code": "busy", "message": "later"}})
        await s.bridge.tickets.take_for_ticket(UserMessage("it still fails", None, conversation,
                                                           input_channel="socketio", message_id="m-0002-again"))
        s.bridge.retry_first_seconds = 0.1
        drain = asyncio.ensure_future(s.bridge._drain(TICKET_OUTBOX, TICKET_SENDING,
                                                      s.bridge.tickets.send_customer_message))
        for _ in range(100):
            if s.standin.requests("/customer_messages"):
                break
            await asyncio.sleep(0.05)
        del s.standin.answers[("POST", path)]  # the service is back
        for _ in range(100):
            if len(s.standin.requests("/customer_messages")) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        bodies = [r["body"] for r in s.standin.requests("/customer_messages")]
        assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same message, the same id: stored once
        assert s.redis.llen(TICKET_OUTBOX) == 0 and s.redis.zcard(TICKET_OUTBOX + ":later") == 0

    run(redis_server, test)


async def waiting_in_queue(s: Setup, conversation: str, escalation: str) -> None:
    tracker = await s.app.get_tracker(conversation)
    for e in (SlotSet("handoff_escalation", {"id": escalation, "status": "waiting"}), ConversationPaused()):
        tracker.update(e)
    await s.app.store.save(tracker)
    s.redis.hset(ACTIVE, conversation, escalation)


def test_leaving_a_message_in_the_queue_makes_a_ticket_told_once(redis_server: str):
    conversation = conv()
    escalation = f"esc-{conversation}"

    async def test(s: Setup) -> None:
        await waiting_in_queue(s, conversation, escalation)
        assert await s.bridge.store_customer_message(UserMessage("I'll leave a message", None, conversation,
                                                                 input_channel="socketio", message_id="m-leave-01"))
        (left,) = s.standin.requests("/leave_message")
        assert left["path"] == f"/v1/handoffs/{escalation}/leave_message" and left["auth"] == "Bearer bot-token"
        texts = [m["text"] for _, m in s.pushed]
        assert texts == ["No problem: I've turned your request into case T-10042, with everything you've written "
                         "so far. Our team will answer by 2026-12-07 13:00 (Asia/Shanghai time), here in the chat. "
                         "Meanwhile I'm still here if I can help."]
        assert s.pushed[0][1]["ticket"] == "T-10042" and s.pushed[0][1]["handoff"] == "ticket"
        tracker = await s.app.store.retrieve(conversation)
        assert not tracker.is_paused() and tracker.get_slot("handoff_escalation") is None  # the bot listens again
        assert s.redis.hget(ACTIVE, conversation) is None
        # the service's events for it (the chat ended as a ticket, a ticket was born) say nothing more
        ending = {"type": "ticket", "escalation": escalation, "conversation_id": conversation,
                  "outcome": REAL_OUTCOME}
        created = {"type": "ticket_created", "conversation_id": conversation, "ticket": TICKET["id"],
                   "label": "T-10042", "due_local": "2026-12-07 13:00", "timezone": "Asia/Shanghai", "state": "new"}
        await s.follow([ending, created], lambda: False, timeout=1.0)
        assert len(s.pushed) == 1 and len(await bot_lines(s.app, conversation)) == 1

    run(redis_server, test)


@pytest.mark.parametrize("answer", ["409", "down"])
def test_leaving_a_message_when_an_agent_has_the_chat_or_the_service_is_down(redis_server: str, answer: str):
    conversation = conv()
    escalation = f"esc-{conversation}"

    async def test(s: Setup) -> None:
        await waiting_in_queue(s, conversation, escalation)
        if answer == "409":
            s.standin.answers[("POST", f"/v1/handoffs/{escalation}/leave_message")] = (
                409, {"error": {"code": "conflict", "message": "assigned"}})
        else:
            s.bridge.service_url = f"http://127.0.0.1:{free_port()}"
        assert not await s.bridge.tickets.leave_message(conversation) if answer == "409" else \
            await s.bridge.tickets.leave_message(conversation)
        tracker = await s.app.store.retrieve(conversation)
        assert tracker.is_paused() and s.redis.hget(ACTIVE, conversation) == escalation  # still with the team
        texts = [m["text"] for _, m in s.pushed]
        assert texts == ([] if answer == "409" else [
            "Sorry, I couldn't save your message just now, so you're still in the queue. Everything you write here "
            "reaches our team."])

    run(redis_server, test)


def test_a_ticket_an_agent_made_is_told_once_even_when_the_event_is_handled_again(redis_server: str):
    conversation, told = conv(), conv()

    async def test(s: Setup) -> None:
        await s.bridge.tickets.online(conversation)
        await s.app.get_tracker(conversation)
        created = {"type": "ticket_created", "conversation_id": conversation, "ticket": TICKET["id"],
                   "label": "T-10042", "due_at": TICKET["due_at"], "due_local": "2026-12-07 13:00",
                   "timezone": "Asia/Shanghai", "state": "open"}
        await s.bridge._handle_event("1-0", created)
        await s.bridge._handle_event("1-0", created)  # a retry after a crash: the same message, pushed again
        assert [m["text"] for _, m in s.pushed] == ["I've opened case T-10042 for you. Our team will answer by "
                                                    "2026-12-07 13:00 (Asia/Shanghai time), here in the chat."] * 2
        assert s.pushed[0][1]["message_id"] == s.pushed[1][1]["message_id"]
        assert len(await bot_lines(s.app, conversation)) == 1
        # the action server told this customer already (its message carries the ticket's values)
        tracker = await s.app.get_tracker(told)
        tracker.update(BotUttered("case T-10042 ...", {}, {"utter_action": "utter_handoff_ticket",
                                                            "ticket_label": "T-10042"}))
        await s.app.store.save(tracker)
        await s.bridge._handle_event("2-0", {**created, "conversation_id": told})
        assert len(await bot_lines(s.app, told)) == 1 and len(s.pushed) == 2

    run(redis_server, test)


def test_a_chat_that_ends_as_a_ticket_tells_its_number_and_time_or_the_older_services_time(redis_server: str):
    new, old = conv(), conv()

    async def test(s: Setup) -> None:
        for conversation in (new, old):
            await waiting_in_queue(s, conversation, f"esc-{conversation}")
        await s.follow([{"type": "ticket", "escalation": f"esc-{new}", "conversation_id": new,
                         "outcome": REAL_OUTCOME},
                        {"type": "ticket", "escalation": f"esc-{old}", "conversation_id": old,
                         "outcome": {"reply_by": "2026-11-25T10:00:00.000Z", "reply_within_hours": 24}}],
                       lambda: len(s.pushed) >= 2)
        said = {to: m["text"] for to, m in s.pushed}
        assert "case T-10042 for you: they will answer by 2026-12-07 13:00 (Asia/Shanghai time)" in said[new]
        assert "they will answer by 2026-11-25 10:00 UTC" in said[old]
        for conversation in (new, old):
            assert not (await s.app.store.retrieve(conversation)).is_paused()

    run(redis_server, test)


def test_a_solved_ticket_is_told_and_ends_the_wait_for_the_customers_answer(redis_server: str):
    conversation = conv()

    async def test(s: Setup) -> None:
        await s.app.get_tracker(conversation)
        s.redis.set(AWAITING + conversation, json.dumps({"id": TICKET["id"], "label": "T-10042"}))
        await s.bridge._handle_event("3-0", {"type": "ticket_state", "conversation_id": conversation,
                                             "ticket": TICKET["id"], "label": "T-10042", "state": "solved"})
        assert [m["text"] for _, m in s.pushed] == ["Our team has marked your case T-10042 as solved. If there's "
                                                    "anything else, I'm here."]
        assert s.redis.get(AWAITING + conversation) is None

    run(redis_server, test)
