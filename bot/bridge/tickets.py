"""The customer's side of tickets in the Rasa server : part of the handoff bridge (bot/bridge/bridge.py),
which owns one :class:`TicketReplies` (``bridge.tickets``). What it says is in domain.yml's responses.

- Events of the service's stream for a conversation (handled before the bridge's check that it follows the
  conversation: a ticket outlives the chat it came from):
  - ``ticket_reply``: an agent's public reply. A customer who is connected (a web-chat socket said hello and did
    not leave, ``{shop}:chat:online``; a REST shop with a callback) gets it at once, stored in the tracker like an
    agent's message and marked ``{"ticket": "T-10042"}``. Otherwise it is kept in ``{shop}:tickets:unseen:<id>``
    and shown, once, when they next open the chat (``show_unseen``: the socket.io ``session_request``, the REST
    channel's next message), after "You have an answer about T-10042:" (``utter_ticket_reply_unseen``).
  - ``ticket_created``: the customer is told the number and the answer time (``utter_ticket_created``), unless a
    message of the conversation told them of that ticket already (the action server's, the leave-a-message one).
  - ``ticket_state`` solved: they are told (``utter_ticket_solved``); solved or closed ends any wait for them.
- A reply shown in the chat while its ticket is ``pending`` (waiting on the customer) marks the conversation
  (``{shop}:tickets:awaiting:<id>`` = the ticket, for AWAITING_TTL_SECONDS): their next chat message, unless a
  person has the chat, goes to the ticket instead of to the bot (``take_for_ticket``): stored in the tracker,
  queued in the outbox ``{shop}:tickets:outbox`` (drained by the leader bridge like the handoff outbox,
  bot/bridge/outbox.py: ``POST /v1/tickets/{id}/customer_messages``, retried, parked when refused), the mark cleared,
  and the customer told ``utter_ticket_message_added``.
- "Leave a message" while waiting in the queue (intent ``leave_message`` in the paused tracker, which Rasa does
  not predict for): ``leave_message`` asks the service to make the waiting chat a ticket (``POST
  /v1/handoffs/{id}/leave_message``), tells the number and the answer time (``utter_leave_message_done``) and
  gives the chat back to the bot, as after any ticket. When an agent has the chat already the message simply
  reaches them; when the service cannot be reached the customer is told they are still in the queue.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

import aiohttp
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.bridge.delivery import HANDLING, LOCK_POLL_SECONDS, hand_back_events
from bot.bridge.forwarding import service_message_id
from bot.bridge.keys import ACTIVE, AGENT_NAMES, LEFT, PENDING, POSITION
from bot.bridge.notices import PUBLIC_FIELDS, notice_fields
from bot.bridge.outbox import RETRY, SENT, TICKET_MESSAGES, Sent, classify
from common.customer_tickets import reply_by_text, ticket_response, ticket_values, told_about

if TYPE_CHECKING:  # the bridge imports this module
    from bot.bridge.bridge import HandoffBridge

logger = logging.getLogger(__name__)

UNSEEN = "{shop}:tickets:unseen:"  # + conversation: list of replies not shown yet (JSON, oldest first)
AWAITING = "{shop}:tickets:awaiting:"  # + conversation: {"id", "label"} of the ticket their next message goes to
ONLINE = "{shop}:chat:online"  # zset conversation -> when a web-chat socket of it last said hello
TICKET_OUTBOX, TICKET_SENDING = TICKET_MESSAGES, "{shop}:tickets:sending"
AWAITING_TTL_SECONDS = 3 * 86400
UNSEEN_TTL_SECONDS = 30 * 86400
ONLINE_STALE_SECONDS = 12 * 3600  # a socket that said hello longer ago counts as gone (a crashed server's)
LEAVE_INTENT = "leave_message"
LEAVE_DONE, LEAVE_FAILED = "utter_leave_message_done", "utter_leave_message_failed"
CREATED, SOLVED = "utter_ticket_created", "utter_ticket_solved"
UNSEEN_INTRO, ADDED = "utter_ticket_reply_unseen", "utter_ticket_message_added"


def ticket_of(event: Mapping[str, Any]) -> Dict[str, Any]:
    """What an event says of its ticket, as one mapping for ticket_values: the event's own fields, an ending's
    ``outcome`` (whose ``ticket`` is the label, beside ``due_local`` and ``timezone``) and any ``ticket`` object
    inside either (later ones win)."""
    merged: Dict[str, Any] = {}
    outcome = event.get("outcome") if isinstance(event.get("outcome"), Mapping) else {}
    for part in (event, outcome, outcome.get("ticket"), event.get("ticket")):
        if isinstance(part, Mapping):
            merged.update({k: v for k, v in part.items() if v is not None})
    if isinstance(outcome.get("ticket"), str) and not merged.get("label"):  # an ending names it: "T-10042"
        merged["label"] = outcome["ticket"]
    return merged


def holds_message(events: Any, message_id: Optional[str]) -> bool:
    """Whether the tracker's events hold a message (customer's or bot's) with this id."""
    for e in events:
        if isinstance(e, UserUttered) and message_id and e.message_id == message_id:
            return True
        if isinstance(e, BotUttered) and message_id and (e.metadata or {}).get("message_id") == message_id:
            return True
    return False


class TicketReplies:
    """The ticket side of one bridge; uses its Redis client, HTTP session, Rasa app and ways to push."""

    def __init__(self, bridge: "HandoffBridge") -> None:
        self.bridge = bridge
        self.rest_pushes = False  # the REST channel has a callback URL: a REST customer is always reachable

    @property
    def redis(self) -> Any:
        return self.bridge.redis

    def _lock(self, conversation: str) -> Any:
        return self.bridge.app.ctx.agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS)

    @staticmethod
    def _public(text: str, metadata: Mapping[str, Any]) -> Dict[str, Any]:
        return {"text": text, **{k: metadata[k] for k in PUBLIC_FIELDS if metadata.get(k) is not None}}

    @staticmethod
    def _event_ids() -> str:
        """The prefix of the ids of what the event being handled says (empty outside an event)."""
        handling = HANDLING.get()
        return f"{handling.event_id}/" if handling is not None else ""

    # -- presence --------------------------------------------------------------------------------
    async def online(self, conversation: str) -> None:
        """A web-chat socket of the conversation said hello (session_request)."""
        await self.redis.zadd(ONLINE, {conversation: time.time()})

    async def offline(self, conversation: str) -> None:
        """The conversation's last web-chat socket (on this server) went away."""
        await self.redis.zrem(ONLINE, conversation)

    async def connected(self, conversation: str) -> bool:
        """Whether a message pushed now reaches the customer: a web-chat socket of theirs is open, or they write
        through a REST shop that takes callbacks."""
        tracker = await self.bridge.app.ctx.agent.processor.get_tracker(conversation)
        channel = tracker.get_latest_input_channel()
        if channel == "rest":
            return self.rest_pushes and "rest" in self.bridge.outputs
        if channel != "socketio" or channel not in self.bridge.outputs:
            return False
        seen = await self.redis.zscore(ONLINE, conversation)
        return seen is not None and float(seen) > time.time() - ONLINE_STALE_SECONDS

    # -- events ----------------------------------------------------------------------------------
    async def on_event(self, event: Dict[str, Any]) -> bool:
        """Handle a ticket event for the customer; False for any other event (the bridge handles it)."""
        kind, conversation = event.get("type"), str(event.get("conversation_id") or "")
        if kind not in ("ticket_reply", "ticket_created", "ticket_state"):
            return False
        if conversation and self.bridge.app is not None:
            if kind == "ticket_reply":
                await self._reply(conversation, event)
            elif kind == "ticket_created":
                await self._created(conversation, event)
            else:
                await self._state(conversation, event)
        return True

    async def _reply(self, conversation: str, event: Dict[str, Any]) -> None:
        text = str(event.get("text") or "")
        if not text.strip():
            return
        author = event.get("author")
        metadata = {"agent": author, "agent_name": event.get("agent_name") or author, "ticket": event.get("label")}
        if await self.connected(conversation):
            await self.bridge.deliver(conversation, text, metadata)
            if event.get("state") == "pending":
                await self._await(conversation, event.get("ticket"), event.get("label"))
            return
        item = {**metadata, "text": text, "ticket_id": event.get("ticket"), "state": event.get("state"),
                "message_id": self.bridge._message_id()}
        key = UNSEEN + conversation
        if any(json.loads(raw).get("message_id") == item["message_id"] for raw in await self.redis.lrange(key, 0, -1)):
            return  # kept on an earlier try of this event
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(key, json.dumps(item)).expire(key, UNSEEN_TTL_SECONDS).execute()

    async def _await(self, conversation: str, ticket: Any, label: Any) -> None:
        if ticket:
            await self.redis.set(AWAITING + conversation, json.dumps({"id": ticket, "label": label}),
                                 ex=AWAITING_TTL_SECONDS)

    async def _told(self, conversation: str, label: str) -> bool:
        """Whether the customer heard of this ticket (waiting for the conversation's turn in progress, e.g. the
        action server's answer that made the ticket, to be saved first)."""
        async with self._lock(conversation):
            tracker = await self.bridge.app.ctx.agent.processor.get_tracker(conversation)
        return told_about(tracker.events, label, self._event_ids())

    async def _created(self, conversation: str, event: Dict[str, Any]) -> None:
        values = ticket_values(ticket_of(event))
        if not values.get("ticket_label") or await self._told(conversation, values["ticket_label"]):
            return
        await self.bridge.say(conversation, CREATED if values.get("due_local") else ticket_response(values) or
                              CREATED, **values)

    async def _state(self, conversation: str, event: Dict[str, Any]) -> None:
        state = event.get("state")
        if state not in ("solved", "closed"):
            return
        raw = await self.redis.get(AWAITING + conversation)
        if raw and json.loads(raw).get("id") == event.get("ticket"):
            await self.redis.delete(AWAITING + conversation)
        if state == "solved" and event.get("label"):
            await self.bridge.say(conversation, SOLVED, ticket_label=str(event["label"]))

    async def ending(self, conversation: str, event: Dict[str, Any]) -> Tuple[Optional[str], Dict[str, Any]]:
        """For the bridge's ``ticket`` ending of a chat: the response and values that tell the customer, or
        (None, values) when a message told them of this ticket already (leave_message, ticket_created)."""
        values = ticket_values(ticket_of(event)) or {"reply_by": reply_by_text(None)}
        if values.get("ticket_label") and await self._told(conversation, values["ticket_label"]):
            return None, values
        return ticket_response(values), values

    # -- the customer opens the chat, or writes --------------------------------------------------
    async def show_unseen(self, conversation: str) -> List[Dict[str, Any]]:
        """The replies kept while the customer was away, each after its "You have an answer about T-...", stored
        in the tracker (once, by message id) and dropped from the list; what to show them, in order."""
        key = UNSEEN + conversation
        raws = await self.redis.lrange(key, 0, -1)
        if not raws or self.bridge.app is None:
            return []
        agent = self.bridge.app.ctx.agent
        shown: List[Dict[str, Any]] = []
        awaiting: Optional[Dict[str, Any]] = None
        async with self._lock(conversation):
            tracker = await agent.processor.get_tracker(conversation)
            channel = tracker.get_latest_input_channel() or "rest"
            for raw in raws:
                item = json.loads(raw)
                label = str(item.get("ticket") or "")
                intro = await agent.nlg.generate(UNSEEN_INTRO, tracker, channel, ticket_label=label)
                said = [(str((intro or {}).get("text") or ""), {"utter_action": UNSEEN_INTRO, "notice": True,
                                                                 "ticket": label,
                                                                 "message_id": f"{item['message_id']}/about"}),
                        (item["text"], {k: item.get(k) for k in ("agent", "agent_name", "ticket", "message_id")})]
                for text, metadata in said:
                    if text and not holds_message(tracker.events, metadata["message_id"]):
                        tracker.update(BotUttered(text, {}, metadata))
                    if text:
                        shown.append(self._public(text, metadata))
                if item.get("state") == "pending":
                    awaiting = item
            await agent.processor.save_tracker(tracker)
        if awaiting:
            await self._await(conversation, awaiting.get("ticket_id"), awaiting.get("ticket"))
        await self.redis.ltrim(key, len(raws), -1)
        return shown

    async def take_for_ticket(self, message: UserMessage) -> Optional[List[Dict[str, Any]]]:
        """The customer's message, when a ticket waits for their answer and no person has the chat: stored in the
        tracker, queued for the ticket and answered; what to show them ([] for a resend of a stored message).
        None: the message is not the ticket's (the bot handles it)."""
        conversation = message.sender_id
        if self.bridge.app is None:
            return None
        raw = await self.redis.get(AWAITING + conversation)
        if not raw or await self.bridge.escalation_of(conversation):
            return None
        awaited = json.loads(raw)
        agent = self.bridge.app.ctx.agent
        async with self._lock(conversation):
            tracker = await agent.processor.get_tracker(conversation)
            if holds_message(tracker.events, message.message_id):
                return []
            message.parse_data = await agent.processor.parse_message(message, tracker)
            await agent.processor._handle_message_with_tracker(message, tracker)
            item = {"ticket": awaited["id"], "label": awaited.get("label"), "conversation_id": conversation,
                    "text": message.text, "via": "chat", "message_id": service_message_id(message.message_id)}
            async with self.redis.pipeline(transaction=True) as pipe:  # on its way before the mark goes
                await pipe.rpush(TICKET_OUTBOX, json.dumps(item)).delete(AWAITING + conversation).execute()
            values = {"ticket_label": str(awaited.get("label") or "")}
            channel = tracker.get_latest_input_channel() or "rest"
            generated = await agent.nlg.generate(ADDED, tracker, channel, **values)
            text = str((generated or {}).get("text") or "")
            metadata = {"utter_action": ADDED, **notice_fields({"utter_action": ADDED, **values}),
                        "message_id": uuid.uuid4().hex}
            if text:
                tracker.update(BotUttered(text, {}, metadata))
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            await agent.processor.save_tracker(tracker)
        logger.info("%s: a message for ticket %s queued", conversation, awaited.get("label") or awaited["id"])
        return [self._public(text, metadata)] if text else []

    async def send_customer_message(self, item: Dict[str, Any]) -> Sent:
        """One item of the ticket outbox to ``POST /v1/tickets/{id}/customer_messages`` (bot/bridge/outbox.py drains it)."""
        assert self.bridge.session is not None
        body = {k: item[k] for k in ("text", "via", "message_id") if item.get(k)}
        try:
            async with self.bridge.session.post(f"{self.bridge.service_url}/v1/tickets/{item['ticket']}/"
                                                "customer_messages", json=body, headers=self.bridge._auth()) as r:
                outcome = classify(r.status)
                if outcome != SENT:
                    logger.warning("ticket outbox: the service answered %s for %s", r.status, item.get("label"))
                return Sent(outcome, r.status, "" if outcome == SENT else (await r.text())[:500])
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            logger.info("ticket outbox: service still unreachable (%s)", e)
            return Sent(RETRY, None, str(e))

    # -- leaving a message instead of waiting -----------------------------------------------------
    @staticmethod
    def asks_to_leave(parse_data: Optional[Mapping[str, Any]]) -> bool:
        """Whether the NLU read the message as "I'll leave a message" (below the fallback threshold it is
        nlu_fallback)."""
        return ((parse_data or {}).get("intent") or {}).get("name") == LEAVE_INTENT

    async def leave_message(self, conversation: str) -> bool:
        """Make the waiting chat a ticket and tell the customer (see the module docstring); False when there is
        no waiting chat to make one of (the message went to the person who has it)."""
        bridge = self.bridge
        escalation = await bridge.escalation_of(conversation)
        if not escalation or escalation == PENDING or bridge.app is None or bridge.session is None:
            return False
        agent = bridge.app.ctx.agent
        # Under the conversation's lock from the request to the saved answer: the ending event the service sends
        # meanwhile waits for it and finds the customer told (ending()).
        async with self._lock(conversation):
            tracker = await agent.processor.get_tracker(conversation)
            if not tracker.is_paused():
                return False
            status, answer = await self._post_leave(escalation)
            if status in (200, 201) and answer.get("status") == "ticket":
                values = ticket_values(answer.get("ticket")) or {"reply_by": reply_by_text(None)}
                response = LEAVE_DONE if values.get("due_local") else ticket_response(values) or LEAVE_DONE
                generated = await agent.nlg.generate(response, tracker, tracker.get_latest_input_channel() or "rest",
                                                     **values)
                text = str((generated or {}).get("text") or "")
                metadata = {"utter_action": response, **notice_fields({"utter_action": response, **values}),
                            "message_id": uuid.uuid4().hex}
                for e in [*hand_back_events(), *([BotUttered(text, {}, metadata)] if text else []),
                          ActionExecuted(ACTION_LISTEN_NAME)]:
                    tracker.update(e)
                await agent.processor.save_tracker(tracker)
            elif status in (404, 409):
                return False  # a person has the chat, or it ended: the message went to the chat as usual
        if status not in (200, 201) or answer.get("status") != "ticket":
            await bridge.say(conversation, LEAVE_FAILED)
            return True
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.hdel(ACTIVE, conversation).hdel(POSITION, conversation).zrem(LEFT, conversation).hdel(
                AGENT_NAMES, conversation).execute()
        logger.info("%s left a message: escalation %s is ticket %s", conversation, escalation,
                    values.get("ticket_label"))
        if text:
            await bridge._push(conversation, tracker, text, metadata)
        return True

    async def _post_leave(self, escalation: str) -> Tuple[Optional[int], Dict[str, Any]]:
        bridge = self.bridge
        try:
            async with bridge.session.post(f"{bridge.service_url}/v1/handoffs/{escalation}/leave_message",
                                           headers=bridge._auth()) as r:
                if r.status in (200, 201):
                    answer = await r.json()
                    return r.status, answer if isinstance(answer, dict) else {}
                logger.warning("leave_message for %s: %s %s", escalation, r.status, (await r.text())[:300])
                return r.status, {}
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            logger.warning("leave_message for %s failed: %r", escalation, e)
            return None, {}
