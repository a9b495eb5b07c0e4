"""The Rasa server's side of a live handoff: one bridge per Rasa process, started by the channels.

- It follows the handoff service's event stream (``{ho}:events`` in Redis, the service's published
  interface) as the consumer group ``bridge`` (bot/handoff_events.py: an event is acknowledged once handled,
  a failed one is tried again, in order per conversation, then parked) and acts on the events of
  its conversations: an agent joined, an agent's message, the chat released, closed, made a ticket or
  abandoned. What it says to the customer is stored in the conversation's tracker (agent messages
  as bot messages marked ``{"agent": id}``) and sent through the channel the customer last wrote on.
  Every message it pushes carries a ``message_id``, the same on every try (``<event id>/<n>`` for what an
  event says, stored with the message in the tracker, which holds it once), so the customer's side drops a
  repeat: delivery is at least once.
- While an agent holds a conversation (between ``created`` and the end) every customer message stored in
  the paused tracker (Rasa predicts nothing) is forwarded to the service once, in the tracker's order: queued
  by message id under the conversation's lock, whether the channel stored it (``store_customer_message``) or
  Rasa did because it arrived while action_request_handoff was running (``forward_stored``), then sent.
- It retries the handoff requests the action server could not deliver (the outbox
  ``{shop}:handoff:outbox``), moving each one to ``{shop}:handoff:sending`` while it is on its way
  (LMOVE), so a crash in between leaves it to be sent again, never lost; survey answers likewise
  (``{shop}:handoff:surveys``). Per-item backoff, and what a refused item becomes: bot/outbox.py.
- When an agent closes the chat it triggers the intent ``EXTERNAL_handoff_closed`` (the bot says so); the
  satisfaction survey follows when the service says it is due (``survey_requested``, bot/survey_requests.py).
- While a customer waits in the queue it tells them when their position improves (every
  HANDOFF_POSITION_SECONDS), and it marks the escalation abandoned when a web-chat customer left
  and did not come back within HANDOFF_CUSTOMER_GRACE_SECONDS.
- What it pushes says who is talking, for the web chat: an agent's message carries ``agent`` (id) and
  ``agent_name`` (from the ``assigned`` event, kept per conversation in ``{shop}:handoff:agent_names``); a
  notice (queue position, agent joined, back with the assistant, closed, survey...) carries
  ``"notice": true``, the ``handoff`` state it reports and, in the queue, ``queue_position``
  (``notice_fields``; the channels mark the action server's handoff messages the same way).
- It counts the conversations customers write in, per UTC day, for the supervisor dashboard
  (``count_conversation``: a HyperLogLog ``{shop}:stats:conversations:<YYYY-MM-DD>``).
- With several Rasa servers, one bridge at a time does this work: it holds a Redis lock
  (``{shop}:handoff:bridge``, renewed every few seconds); when its server dies another takes over where the
  stream position says. Every server forwards its own customers' messages (``forward``).

Channels register how to push a message to a customer (``register_output``); any other Rasa connector
gets the same behaviour by calling ``register_output`` with its own push function and ``forward``
for each incoming message (see README, "Human handoff in the channels").

Why over 400 lines: event handling, forwarding and queue notices share the bridge's state (tracker locks, the
ACTIVE map); the outbox, the event follower and ticket replies are split out already (bot/outbox.py,
bot/handoff_events.py, bot/ticket_replies.py); the rest is issue 18's split.
"""
from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import os
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import aiohttp
import redis.asyncio as aioredis
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, EXTERNAL_MESSAGE_PREFIX
from rasa.shared.core.events import (ActionExecuted, BotUttered, ConversationPaused, ConversationResumed, Event, SlotSet,
                                     UserUttered)
from redis.exceptions import LockError

from bot import presence
from bot.handoff_events import EventFollower
from bot.outbox import AGENT_NAMES, OUTBOX, SENDING, SURVEYS, SURVEYS_SENDING, OutboxMixin
from bot.ticket_replies import TICKET_OUTBOX, TICKET_SENDING, TicketReplies
from bot.survey_requests import SurveyRequests
from common.redis_config import async_redis_client, outbox_redis_url
from common.redis_keys import migrate_legacy_keys
from common.routing import SKILL_GROUPS_FILE, SkillGroups

logger = logging.getLogger(__name__)
SERVICE_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")  # handoff/openapi.yml MessageId


def service_message_id(message_id: str) -> str:
    """The id the service stores a forwarded message under: the tracker's (Rasa's uuid hex), or a digest of
    one the service's MessageId would refuse (a channel's own), the same on every try."""
    if SERVICE_MESSAGE_ID.fullmatch(message_id):
        return message_id
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()


Push = Callable[[str, Dict[str, Any]], Awaitable[None]]
ACTIVE = "{shop}:handoff:active"  # hash conversation id -> escalation id, while a person has or gets the chat
POSITION = "{shop}:handoff:position"  # hash conversation id -> the queue position the customer was last told
LEFT = "{shop}:handoff:left"  # zset conversation id -> when its last web-chat socket went away
CONVERSATIONS_PER_DAY = "{shop}:stats:conversations:"  # + UTC day: HyperLogLog of the conversations customers wrote in
STATS_TTL_SECONDS = 100 * 86400  # the reports (handoff/reports/) cover up to 92 days
STATS_TIMEOUT_SECONDS = 0.5  # counting never holds a customer's message up for longer
FORWARDS, FORWARDING = "{shop}:handoff:forward:", "{shop}:handoff:forwarding"  # per-conversation list; the set of them
FORWARDED = "{shop}:handoff:forwarded:"  # + conversation: set of the message ids queued for the agent (kept a day)
FLUSHING = "{shop}:handoff:flushing:"  # + conversation: lock held by whoever sends its forward queue
FORWARDED_TTL_SECONDS = 86400
PENDING = "pending"  # ACTIVE's value while the handoff request waits in the outbox (actions/delivery.py)
LEADER = "{shop}:handoff:bridge"
# How often a waiting writer polls the conversation's lock; Rasa's default, 1 s, would delay an agent's message
# by up to a second whenever the customer's message is being processed at the same moment.
LOCK_POLL_SECONDS = 0.005
# Forget a conversation's forward queue once it is empty (atomically: a message may be queued meanwhile).
FORGET_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""
CLOSED_INTENT = "EXTERNAL_handoff_closed"
ENDINGS = {"released": "utter_handoff_released", "closed": None, "ticket": "utter_handoff_ticket",
           "abandoned": None}  # a ticket's response depends on what the service says of it (bot/ticket_replies.py)
# The responses that are notices rather than the bot talking, each with the handoff state it reports (the web
# chat shows them apart, keeps a "waiting for an agent" line and knows when a person has the chat).
NOTICES: Dict[str, Optional[str]] = {
    "utter_handoff_queued": "waiting", "utter_handoff_position_update": "waiting",
    "utter_handoff_queued_surge": "waiting", "utter_handoff_position_update_surge": "waiting",  # docs/surge.md
    "utter_handoff_connecting": "connecting", "utter_handoff_agent_joined": "joined",
    "utter_handoff_delayed": "delayed", "utter_handoff_failed": "failed", "utter_handoff_ticket": "ticket",
    "utter_handoff_ticket_undated": "ticket", "utter_handoff_ticket_reply_by": "ticket",
    "utter_leave_message_done": "ticket", "utter_leave_message_failed": "waiting", "utter_ticket_created": "ticket",
    "utter_ticket_reply_unseen": None, "utter_ticket_message_added": None, "utter_ticket_solved": None,
    "utter_handoff_released": "released", "utter_handoff_closed": "closed",
    "utter_handoff_transferred": "transferred", "utter_handoff_agent_lost": "transferred",
    "utter_ask_survey_resolved": None, "utter_ask_survey_rating": None, "utter_survey_rating_invalid": None,
    "utter_survey_thanks": None, "utter_survey_follow_up": "ticket", "utter_survey_follow_up_team": "ticket",
    "utter_survey_reopened": "ticket",
}
# What a message pushed to a customer may carry besides its text and buttons.
PUBLIC_FIELDS = ("message_id", "agent", "agent_name", "notice", "handoff", "queue_position", "ticket", "surge")


def hand_back_events() -> List[Event]:
    """What the tracker gets when a person hands the conversation back (released, closed, ticket, abandoned,
    undeliverable): the bot listens again, the request slots are cleared, so a later problem can hand off
    again, and so is the decision from before the handoff (the scores start afresh from the ``resume``, as
    actions/handoff.py does after a ticket): a stale "hand off" would otherwise make HandoffPolicy ask again on
    the survey's trigger or the customer's next message, a second escalation for a solved problem."""
    return [ConversationResumed(), SlotSet("handoff_request", None), SlotSet("handoff_escalation", None),
            SlotSet("handoff_decision", None)]


class _Handling:
    """The event being handled (in its task's context): the ids of the messages it says derive from it."""

    def __init__(self, event_id: str) -> None:
        self.event_id, self.said = event_id, 0


_HANDLING: ContextVar[Optional[_Handling]] = ContextVar("handoff_event", default=None)


def notice_fields(message: Dict[str, Any]) -> Dict[str, Any]:
    """The fields that mark a message as a notice: {} for the bot's own words, else {"notice": True,
    "handoff": state?, "queue_position": n?, "agent_name": name?, "ticket": label?, "surge": true?}. `message` is what Rasa hands an output
    channel (``utter_action`` names the response; the values it was filled with are beside it)."""
    response = message.get("utter_action")
    if response not in NOTICES:
        return {}
    fields: Dict[str, Any] = {"notice": True}
    if NOTICES[response]:
        fields["handoff"] = NOTICES[response]
    position = message.get("position")
    if NOTICES[response] == "waiting" and str(position).isdigit() and int(position) > 0:
        fields["queue_position"] = int(position)
    if response.endswith("_surge"):  # the group is busy and more colleagues are joining (docs/surge.md)
        fields["surge"] = True
    if response == "utter_handoff_agent_joined" and message.get("agent_name"):
        fields["agent_name"] = str(message["agent_name"])
    if message.get("ticket_label"):  # the ticket it is about: "T-10042"
        fields["ticket"] = str(message["ticket_label"])
    return fields


class NoticeCollector(CollectingOutputChannel):
    """Rasa's collecting output channel, with the notice fields on each message (REST replies, triggers)."""

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        fields = notice_fields(message)
        before = len(self.messages)
        await super().send_response(recipient_id, message)
        for collected in self.messages[before:]:
            collected.update(fields)


class HandoffBridge(OutboxMixin):
    def __init__(self, redis_url: str, service_url: str, token: str, prefix: str = "{ho}:",
                 customer_grace_seconds: float = 60.0, position_seconds: float = 5.0, event_tries: int = 10,
                 retry_seconds: float = 1.0) -> None:
        self.redis = async_redis_client(redis_url, decode_responses=True)
        self.service_url = service_url.rstrip("/")
        self.token = token
        self.stream = f"{prefix}events"
        self.customer_grace_seconds = customer_grace_seconds
        self.position_seconds = position_seconds
        self.event_tries = event_tries  # a failing event is tried this often, then parked (bot/handoff_events.py)
        self.retry_seconds = retry_seconds  # the first retry's delay, doubling up to a minute
        self.outputs: Dict[str, Push] = {}
        self.app: Any = None
        self.tasks: List[asyncio.Task] = []
        self.session: Optional[aiohttp.ClientSession] = None
        self.groups = SkillGroups.load(os.environ.get("HANDOFF_SKILL_GROUPS") or SKILL_GROUPS_FILE)
        self._stats_warned = 0.0
        self.tickets = TicketReplies(self)  # the customer's side of tickets (bot/ticket_replies.py)
        self.surveys = SurveyRequests(self)  # the satisfaction survey when it is due (bot/survey_requests.py)

    @classmethod
    def from_env(cls) -> Optional["HandoffBridge"]:
        url, token = os.environ.get("HANDOFF_URL"), os.environ.get("HANDOFF_BOT_TOKEN")
        redis_url = outbox_redis_url(os.environ)  # RedisMismatch: the Rasa server refuses to start
        if not (url and token and redis_url):
            logger.warning("no HANDOFF_URL, HANDOFF_BOT_TOKEN or REDIS_URL: live handoff is off")
            return None
        return cls(redis_url, url, token, os.environ.get("HANDOFF_REDIS_PREFIX", "{ho}:"),
                   float(os.environ.get("HANDOFF_CUSTOMER_GRACE_SECONDS", "60")),
                   float(os.environ.get("HANDOFF_POSITION_SECONDS", "5")),
                   int(os.environ.get("HANDOFF_EVENT_TRIES", "10")),
                   float(os.environ.get("HANDOFF_EVENT_RETRY_SECONDS", "1")))

    def register_output(self, channel: str, push: Push) -> None:
        self.outputs[channel] = push

    async def start(self, app: Any) -> None:
        if self.tasks:
            return
        self.app = app
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self.tasks = [asyncio.ensure_future(self._lead())]
        # The model is loaded (before_server_start): keep its million objects out of the collector's full
        # passes, which otherwise pause the process for a few hundred ms now and then.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.session:
            await self.session.close()
        await self.redis.close()

    async def _lead(self) -> None:
        """Do the bridge's work while holding the leader lock; wait for it otherwise."""
        while True:
            lock = self.redis.lock(LEADER, timeout=10, sleep=0.5)
            try:
                await lock.acquire()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
                logger.warning("handoff bridge: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(1.0)
                continue
            logger.info("handoff bridge: following the handoff service's events")
            await self._migrate_keys()
            work = [asyncio.ensure_future(job) for job in (
                self._follow_events(), self._drain(OUTBOX, SENDING, self._send),
                self._drain(SURVEYS, SURVEYS_SENDING, self._send_survey), self._drain_forwards(),
                self._drain(TICKET_OUTBOX, TICKET_SENDING, self.tickets.send_customer_message),
                self._watch_customers(),
                self._watch_positions())]
            try:
                while True:
                    await asyncio.sleep(3.0)
                    await lock.reacquire()
            except (LockError, aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
                logger.warning("handoff bridge: lost the leader lock (%s); another server may take over", e)
            finally:
                for task in work:
                    task.cancel()

    async def _migrate_keys(self) -> None:
        """The leader moves what an older version kept under the untagged names (common/redis_keys.py)."""
        try:
            moved = await migrate_legacy_keys(self.redis)
        except (aioredis.RedisError, OSError) as e:
            logger.warning("handoff bridge: could not move the keys kept under their old names yet: %s", e)
            return
        if moved:
            logger.warning("handoff bridge: moved %d keys to their {shop} names: %s", len(moved), ", ".join(moved))

    # -- customer -> agent -----------------------------------------------------------------------
    async def escalation_of(self, conversation_id: str) -> Optional[str]:
        """The open escalation of the conversation (recorded by the action server the moment the service
        answered, and by the leader bridge from the event stream); one Redis read, right on every server."""
        return await self.redis.hget(ACTIVE, conversation_id)

    async def customer_left(self, conversation_id: str) -> None:
        """The customer's last web-chat socket closed: if a person is coming, start the grace period."""
        if await self.redis.hexists(ACTIVE, conversation_id):
            await self.redis.zadd(LEFT, {conversation_id: time.time()})

    async def customer_back(self, conversation_id: str, socket_id: Optional[str] = None) -> None:
        """A web-chat socket of the customer's is open (on any server: bot/presence.py)."""
        if socket_id:
            await presence.opened(self.redis, conversation_id, socket_id)
        await self.redis.zrem(LEFT, conversation_id)

    async def socket_closed(self, conversation_id: str, socket_id: str) -> bool:
        """Whether the customer's last web-chat socket, on every server, just closed."""
        return await presence.closed(self.redis, conversation_id, socket_id) == 0

    async def count_conversation(self, conversation_id: str) -> None:
        """Count a customer message's conversation in today's (UTC) HyperLogLog for the supervisor dashboard
        (``PFCOUNT {shop}:stats:conversations:<YYYY-MM-DD>``: conversations that day; kept 100 days for the reports). One pipelined
        call; never fails or holds up the message: a Redis hiccup loses that count, nothing else."""
        key = CONVERSATIONS_PER_DAY + time.strftime("%Y-%m-%d", time.gmtime())
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                await asyncio.wait_for(pipe.pfadd(key, conversation_id).expire(key, STATS_TTL_SECONDS).execute(),
                                       STATS_TIMEOUT_SECONDS)
        except Exception as e:  # noqa: BLE001 - counting is best effort
            if time.monotonic() - self._stats_warned > 60:  # once a minute at most, not once a message
                self._stats_warned = time.monotonic()
                logger.warning("counting conversations for the dashboard failed: %r", e)

    async def forward(self, conversation_id: str, text: str) -> bool:
        """For a connector that keeps no tracker of its own: send a customer message to the agent's side;
        False when no person has or gets this conversation. Our channels call store_customer_message (and
        forward_stored after Rasa), which forward what the tracker stored, in its order, exactly once.

        The message is queued for the conversation (``{shop}:handoff:forward:<id>``) and the queue sent in order
        at once, or by the leader bridge once the service can take it (unreachable, or the request itself still
        in the outbox): at least once, never out of order, never dropped while the chat is open."""
        escalation = await self.escalation_of(conversation_id)
        if not escalation or self.session is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(FORWARDS + conversation_id, json.dumps(
                {"text": text, "at": time.time(), "message_id": uuid.uuid4().hex})).sadd(
                FORWARDING, conversation_id).execute()
        await self.flush(conversation_id)
        return True

    async def _post_message(self, escalation: str, text: str, delays: Tuple[float, ...] = (0.0,),
                            message_id: Optional[str] = None) -> str:
        """"sent", "ended" (the chat is over: the bot has it again) or "failed" (try later). With its
        `message_id`, a message sent again (a crash after the POST) is stored and shown once by the service."""
        assert self.session is not None
        body = {"text": text, **({"message_id": service_message_id(message_id)} if message_id else {})}
        for delay in delays:
            await asyncio.sleep(delay)
            try:
                async with self.session.post(f"{self.service_url}/v1/handoffs/{escalation}/messages",
                                             json=body, headers=self._auth()) as r:
                    if r.status == 201:
                        return "sent"
                    if r.status in (404, 409):
                        return "ended"
                    logger.warning("forwarding to %s: %s %s", escalation, r.status, await r.text())
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                logger.info("forwarding to %s failed: %s", escalation, e)
        return "failed"

    async def _drain_forwards(self) -> None:
        """Send the queued customer messages of each conversation, oldest first (what a channel's own flush
        left: the service was unreachable, or the request itself still in the outbox)."""
        while True:
            await asyncio.sleep(0.5)
            try:
                for conversation in await self.redis.smembers(FORWARDING):
                    await self.flush(conversation)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("forwarding queued customer messages: %s", e)

    async def flush(self, conversation: str) -> None:
        """Send the conversation's forward queue to the agent in order, one sender at a time (a Redis lock per
        conversation: a second sender leaves it to the one sending); stops at the first failure (tried again
        by the leader every half second)."""
        if self.session is None:
            return
        lock = self.redis.lock(FLUSHING + conversation, timeout=30)
        if not await lock.acquire(blocking=False):
            return
        try:
            queue = FORWARDS + conversation
            escalation = await self.escalation_of(conversation)
            if escalation == PENDING:
                return  # the request itself is still on its way
            while escalation:
                raw = await self.redis.lindex(queue, 0)
                if raw is None:
                    break
                queued = json.loads(raw)
                outcome = await self._post_message(escalation, queued["text"], message_id=queued.get("message_id"))
                if outcome == "failed":
                    break
                await self.redis.lpop(queue)
            if not escalation:  # the chat ended: the messages are in the tracker, the bot has them
                await self.redis.delete(queue)
            await self.redis.register_script(FORGET_IF_EMPTY)(keys=[queue, FORWARDING], args=[conversation])
        finally:
            try:
                await lock.release()
            except LockError:
                pass

    async def _queue_unforwarded(self, tracker: Any) -> int:
        """Under the conversation's lock: queue for the agent, in the tracker's order, every customer message
        stored since the handoff paused the bot that is not queued yet (by message id); how many.

        This is where every message a person should see is forwarded from, whoever stored it: the channel
        (store_customer_message) or Rasa itself, for a message that arrived while action_request_handoff was
        running and found the tracker paused when its turn came (it was stored, nothing predicted)."""
        events = list(tracker.events)
        paused = max((i for i, e in enumerate(events) if isinstance(e, ConversationPaused)), default=None)
        if paused is None or not tracker.is_paused():
            return 0
        waiting = [e for e in events[paused + 1:] if isinstance(e, UserUttered) and e.text and e.message_id
                   and not e.text.startswith(EXTERNAL_MESSAGE_PREFIX)]
        if not waiting:
            return 0
        conversation = tracker.sender_id
        marked = FORWARDED + conversation
        known = await self.redis.smembers(marked)  # a handful: the messages of one handoff
        new = [e for e in waiting if e.message_id not in known]
        if new:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.rpush(FORWARDS + conversation, *[json.dumps(
                    {"text": e.text, "at": e.timestamp, "message_id": e.message_id}) for e in new]).sadd(
                    FORWARDING, conversation).sadd(marked, *[e.message_id for e in new]).expire(
                    marked, FORWARDED_TTL_SECONDS).execute()
        return len(new)

    async def forward_stored(self, conversation: str) -> None:
        """After Rasa handled a customer message: if a person has or gets the conversation and the message was
        stored in the paused tracker (it arrived while the handoff was being made), queue it for the agent,
        with any other such message before it, and send the queue."""
        if self.app is None or not await self.escalation_of(conversation):
            return
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            queued = await self._queue_unforwarded(await agent.processor.get_tracker(conversation))
        if queued:
            await self.flush(conversation)

    async def history(self, conversation: str, limit: int = 100) -> Dict[str, Any]:
        """What the customer has seen of the conversation, from its tracker: {"total": lines in all,
        "lines": the last `limit` as {"speaker", "text", "agent_name"?, "message_id"?}}. The web chat uses it after a
        reconnect to show what was pushed while it was offline."""
        tracker = await self.app.ctx.agent.processor.get_tracker(conversation)
        lines: List[Dict[str, Any]] = []
        for e in tracker.events:
            if isinstance(e, UserUttered) and e.text and not e.text.startswith(EXTERNAL_MESSAGE_PREFIX):
                lines.append({"speaker": "customer", "text": e.text, **({"message_id": e.message_id}
                                                                        if e.message_id else {})})
            elif isinstance(e, BotUttered) and e.text:
                data = e.metadata or {}
                line = {"speaker": "agent" if data.get("agent") else "bot", "text": e.text}
                if data.get("message_id"):
                    line["message_id"] = data["message_id"]
                if data.get("agent"):
                    line["agent_name"] = data.get("agent_name") or data["agent"]
                elif data.get("utter_action") in NOTICES:
                    line["speaker"] = "system"
                lines.append(line)
        return {"total": len(lines), "lines": lines[-limit:]}

    async def store_customer_message(self, message: UserMessage) -> bool:
        """While a person has the conversation, store the customer's message in the tracker (parsed by the
        NLU, as Rasa would) without running slot mappings, scoring or predictions, which a paused tracker
        does not use; False when the bot has the conversation (the caller hands it to Rasa as usual)."""
        if self.app is None or not await self.escalation_of(message.sender_id):
            return False
        agent = self.app.ctx.agent
        # Parsed under the conversation's lock, so that a message parsed faster never overtakes an earlier one.
        async with agent.lock_store.lock(message.sender_id, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(message.sender_id)
            if not tracker.is_paused():
                return False  # the bot has it again: Rasa handles the message
            if not (message.message_id and any(isinstance(e, UserUttered) and e.message_id == message.message_id
                                               for e in reversed(tracker.events))):
                message.parse_data = await agent.processor.parse_message(message, tracker)
                await agent.processor._handle_message_with_tracker(message, tracker)
                await agent.processor.save_tracker(tracker)
            # else: a client's resend of a message stored already (bot/channels/once.py): not stored again, but
            # queued if it is not yet (its first try may have failed between the save and the queueing).
            # Queued for the agent under the lock, in the tracker's order (after any earlier one Rasa stored).
            await self._queue_unforwarded(tracker)
        await self.flush(message.sender_id)
        if self.tickets.asks_to_leave(message.parse_data):  # parsed just now: "I'll leave a message" in the queue
            await self.tickets.leave_message(message.sender_id)
        return True

    def _auth(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- agent -> customer -----------------------------------------------------------------------
    async def _follow_events(self) -> None:
        """Handle the service's events as the consumer group ``bridge`` (bot/handoff_events.py)."""
        await EventFollower(self.redis, self.stream, self._handle_event, self.event_tries, self.retry_seconds).run()

    async def _handle_event(self, event_id: str, event: Dict[str, Any]) -> None:
        token = _HANDLING.set(_Handling(event_id))  # each try says the same message ids
        try:
            await self._on_event(event)
        finally:
            _HANDLING.reset(token)

    async def _on_event(self, event: Dict[str, Any]) -> None:
        kind, conversation = event.get("type"), event.get("conversation_id")
        if not conversation:
            return
        if await self.tickets.on_event(event):  # a ticket's, whether or not a chat of it is followed
            return
        if await self.surveys.on_event(event):  # the survey, due after the chat ended (bot/survey_requests.py)
            return
        if kind == "created":
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.hset(ACTIVE, conversation, event["escalation"]).hdel(AGENT_NAMES, conversation).execute()
            return
        if await self.escalation_of(conversation) != event.get("escalation"):
            return  # another bot's conversation, or one this bridge no longer follows
        if kind == "assigned":  # also after a transfer: the next agent's name replaces the last one's
            await self._agree_paused(conversation, event["escalation"])
            name = event.get("agent_name") or event.get("agent") or "A colleague"
            if event.get("agent"):
                await self.redis.hset(AGENT_NAMES, conversation, json.dumps({"id": event["agent"], "name": name}))
            await self.say(conversation, "utter_handoff_agent_joined", agent_name=name,
                           group_name=await self._group_name(conversation, event.get("group")))
        elif kind == "transferred":  # to another group or agent, or back to the queue when the agent was lost
            lost = "agent disconnected" in str(event.get("reason") or "")
            await self.redis.hdel(AGENT_NAMES, conversation)
            await self.say(conversation, "utter_handoff_agent_lost" if lost else "utter_handoff_transferred",
                           group_name=await self._group_name(conversation, event.get("group")))
        elif kind == "message" and event["message"].get("speaker") == "agent":
            message = event["message"]
            author = message.get("author")
            await self.deliver(conversation, message["text"],
                               {"agent": author, "agent_name": await self.agent_name(conversation, author)})
        elif kind in ENDINGS:
            # The conversation is forgotten last, so that a failed try is tried again from the start.
            if await self._paused(conversation):
                response, values = ENDINGS[kind], {}
                if kind == "ticket":  # its number and answer time, unless the customer heard of it already
                    response, values = await self.tickets.ending(conversation, event)
                survey = [SlotSet("survey_escalation", event["escalation"])] if kind == "closed" else []
                await self.resume(conversation, response, survey, **values)
                if kind == "closed":  # the rules say so and run the satisfaction survey
                    await self.trigger(conversation, CLOSED_INTENT)
            else:  # the bot has it already (the action server said "ticket" itself), or this is a retry
                await self._end_again(conversation, kind, event["escalation"])
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.hdel(ACTIVE, conversation).hdel(POSITION, conversation).zrem(LEFT, conversation).hdel(
                    AGENT_NAMES, conversation).execute()

    async def agent_name(self, conversation: str, agent: Optional[str]) -> Optional[str]:
        """The name of the agent who has the conversation (from their ``assigned`` event); their id when the
        name is not known."""
        raw = await self.redis.hget(AGENT_NAMES, conversation)
        try:
            known = json.loads(raw) if raw else {}
        except ValueError:
            known = {}
        return known.get("name") if known.get("id") == agent and known.get("name") else agent

    async def _group_name(self, conversation: str, group: Optional[str]) -> str:
        """The group's name in the conversation's language (``language`` slot; skill_groups.yml ``names``)."""
        language = await self.language(conversation)
        try:
            return self.groups.name(group or "", language)
        except KeyError:
            return group or "our team"

    async def language(self, conversation: str) -> Optional[str]:
        """The conversation's ``language`` slot (None: English, the default; also before the bridge is attached
        to a Rasa app)."""
        if self.app is None:
            return None
        return (await self.app.ctx.agent.processor.get_tracker(conversation)).get_slot("language")

    async def _paused(self, conversation: str) -> bool:
        return (await self.app.ctx.agent.processor.get_tracker(conversation)).is_paused()

    async def _agree_paused(self, conversation: str, escalation: str) -> None:
        """A person has the chat, so the bot must be quiet: pause the tracker if it does not say so already. It
        says so unless the Rasa server died between the action server creating the escalation and saving the
        tracker (the request's turn is then lost); without this the customer's next messages would go to the
        bot while an agent waits for them."""
        if self.app is None:
            return  # not serving conversations (no Rasa app): nothing to agree with
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            if tracker.is_paused():
                return
            logger.warning("%s: an agent has escalation %s but the tracker was not paused; pausing it", conversation,
                           escalation)
            for e in (SlotSet("handoff_escalation", {"id": escalation, "status": "assigned"}), ConversationPaused()):
                tracker.update(e)
            await agent.processor.save_tracker(tracker)

    async def _update_tracker(self, conversation: str, events: List[Event]) -> Any:
        """Append events to the conversation's tracker under its lock; the updated tracker."""
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            for e in events:
                tracker.update(e)
            await agent.processor.save_tracker(tracker)
        return tracker

    @staticmethod
    def _message_id() -> str:
        """The id of the next message said: ``<event id>/<n>`` while handling an event (the same on every try
        of it), else a random one."""
        handling = _HANDLING.get()
        if handling is None:
            return uuid.uuid4().hex
        handling.said += 1
        return f"{handling.event_id}/{handling.said}"

    async def deliver(self, conversation: str, text: str, metadata: Dict[str, Any],
                      data: Optional[Dict[str, Any]] = None) -> None:
        """Store a message to the customer in the tracker (once: a retry finds it there by its message id) and
        push it through their channel; raises when the push fails, so that the event is tried again."""
        metadata = {**metadata, "message_id": metadata.get("message_id") or self._message_id()}
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            if not any(isinstance(e, BotUttered) and (e.metadata or {}).get("message_id") == metadata["message_id"]
                       for e in reversed(tracker.events)):
                tracker.update(BotUttered(text, data or {}, metadata))
                await agent.processor.save_tracker(tracker)
        await self._push(conversation, tracker, text, metadata)

    async def _push(self, conversation: str, tracker: Any, text: str, metadata: Dict[str, Any]) -> None:
        channel = tracker.get_latest_input_channel() or "rest"
        push = self.outputs.get(channel)
        if push is None:
            logger.warning("no way to push to %s on channel %s: the message is in the tracker only", conversation,
                           channel)
            return
        await push(conversation, {"text": text, **{k: metadata[k] for k in (*PUBLIC_FIELDS, "buttons")
                                                   if metadata.get(k) is not None}})

    async def _end_again(self, conversation: str, kind: str, escalation: str) -> None:
        """A retry of an ending whose first try failed half-way (the bot has the conversation back already):
        push again what it said, with the same message ids, and finish what it did not (the listen that ends
        the bot's turn, the survey after a close)."""
        handling = _HANDLING.get()
        if handling is None:
            return
        tracker = await self.app.ctx.agent.processor.get_tracker(conversation)
        events = list(tracker.events)
        mine = f"{handling.event_id}/"
        start = next((i for i, e in enumerate(events) if (
            isinstance(e, BotUttered) and str((e.metadata or {}).get("message_id") or "").startswith(mine)
            or kind == "closed" and isinstance(e, SlotSet) and e.key == "survey_escalation"
            and e.value == escalation)), None)
        if start is None:
            return  # not this event's doing: the action server ended the handoff itself
        after = events[start:]
        triggered = next((i for i, e in enumerate(after) if isinstance(e, UserUttered)
                          and (e.intent or {}).get("name") == CLOSED_INTENT), None)
        # The bot's turn after the trigger ends at the customer's next message (what follows was pushed as usual).
        answered = next((i for i, e in enumerate(after) if triggered is not None and i > triggered
                         and isinstance(e, UserUttered)), len(after))
        for i, e in enumerate(after):
            if not isinstance(e, BotUttered) or not e.text:
                continue
            meta = e.metadata or {}
            if triggered is not None and triggered < i < answered:  # the survey's first questions, as trigger() did
                meta = {**notice_fields(meta), "message_id": self._message_id()}
                if (e.data or {}).get("buttons"):
                    meta["buttons"] = e.data["buttons"]
            elif not str(meta.get("message_id") or "").startswith(mine):
                continue
            await self._push(conversation, tracker, e.text, meta)
        if not any(isinstance(e, ActionExecuted) and e.action_name == ACTION_LISTEN_NAME for e in after):
            await self._update_tracker(conversation, [ActionExecuted(ACTION_LISTEN_NAME)])
        if kind == "closed" and triggered is None:
            await self.trigger(conversation, CLOSED_INTENT)

    async def say(self, conversation: str, response: str, **values: Any) -> None:
        """Say one of the domain's responses (wording stays in domain.yml)."""
        agent = self.app.ctx.agent
        tracker = await agent.processor.get_tracker(conversation)
        channel = tracker.get_latest_input_channel() or "rest"
        message = await agent.nlg.generate(response, tracker, channel, **values)
        if message and message.get("text"):
            await self.deliver(conversation, message["text"],
                               {"utter_action": response, **notice_fields({"utter_action": response, **values})})

    async def resume(self, conversation: str, response: Optional[str], extra: Optional[List[Event]] = None,
                     **values: Any) -> None:
        """The bot takes the conversation back, with its slots and context; the request slots are cleared so a
        later problem can hand off again."""
        await self._update_tracker(conversation, [*hand_back_events(), *(extra or [])])
        if response:
            await self.say(conversation, response, **values)
        # The bot's turn ends here: the next customer message is predicted from a listening state, not as the
        # continuation of action_request_handoff (whose successor would be action_listen).
        await self._update_tracker(conversation, [ActionExecuted(ACTION_LISTEN_NAME)])

    async def trigger(self, conversation: str, intent: str) -> None:
        """Run the bot on an external intent (as Rasa's trigger_intent endpoint does) and push what it says."""
        agent = self.app.ctx.agent
        collector = NoticeCollector()
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            await agent.processor.trigger_external_user_uttered(intent, None, tracker, collector)
        push = self.outputs.get(tracker.get_latest_input_channel() or "rest")
        for message in collector.messages if push else []:
            await push(conversation, {**{k: v for k, v in message.items() if k != "recipient_id"},
                                      "message_id": self._message_id()})

    # -- waiting customers -----------------------------------------------------------------------
    async def _watch_customers(self) -> None:
        """Mark abandoned the escalations of web-chat customers gone for longer than the grace period."""
        while True:
            await asyncio.sleep(1.0)
            try:
                for conversation in await self.redis.zrangebyscore(LEFT, 0, time.time() - self.customer_grace_seconds):
                    if not await self.redis.zrem(LEFT, conversation):
                        continue  # taken care of already
                    escalation = await self.escalation_of(conversation)
                    if escalation:
                        await self._abandon(conversation, escalation)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("watching for customers who left: %s", e)

    async def _abandon(self, conversation: str, escalation: str) -> None:
        assert self.session is not None
        async with self.session.post(f"{self.service_url}/v1/handoffs/{escalation}/abandon",
                                     headers=self._auth()) as r:
            if r.status == 200:
                logger.info("%s left while waiting: escalation %s abandoned", conversation, escalation)
            elif r.status != 409:  # 409: an agent has the chat already, or it ended
                logger.warning("abandoning %s: %s %s", escalation, r.status, await r.text())

    async def _watch_positions(self) -> None:
        """Tell waiting customers when their place in the queue improves."""
        while True:
            await asyncio.sleep(self.position_seconds)
            try:
                for conversation, told in (await self.redis.hgetall(POSITION)).items():
                    await self._update_position(conversation, int(told))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("queue position updates: %s", e)

    async def _update_position(self, conversation: str, told: int) -> None:
        assert self.session is not None
        escalation = await self.escalation_of(conversation)
        record: Dict[str, Any] = {}
        if escalation:
            async with self.session.get(f"{self.service_url}/v1/handoffs/{escalation}", headers=self._auth()) as r:
                record = await r.json() if r.status == 200 else {}
        position = record.get("queue_position")
        if record.get("status") != "waiting" or not position:
            await self.redis.hdel(POSITION, conversation)
        elif position < told:
            await self.redis.hset(POSITION, conversation, position)
            surge = "_surge" if record.get("surge") else ""  # the group surges: more colleagues are joining
            await self.say(conversation, f"utter_handoff_position_update{surge}", position=position,
                           wait_minutes=max(1, round((record.get("estimated_wait_seconds") or 0) / 60)))


_bridge: Optional[HandoffBridge] = None
_made = False


def bridge() -> Optional[HandoffBridge]:
    """The process's bridge (None when live handoff is not configured)."""
    global _bridge, _made
    if not _made:
        _bridge, _made = HandoffBridge.from_env(), True
    return _bridge
