"""Customer -> agent: while a person holds a conversation (between ``created`` and the end) every customer
message stored in the paused tracker (Rasa predicts nothing) is forwarded to the handoff service once, in the
tracker's order.

- Queued by message id under the conversation's lock (``{shop}:handoff:forward:<id>``; the set of conversations
  with a queue: ``{shop}:handoff:forwarding``), whether the channel stored it (``store_customer_message``) or
  Rasa did because it arrived while action_request_handoff was running (``forward_stored``), then sent
  (``flush``: one sender per conversation, ``{shop}:handoff:flushing:<id>``).
- What could not be sent (the service unreachable, or the request itself still in the outbox) is sent by the
  leader bridge every half second (``_drain_forwards``): at least once, never out of order, never dropped while
  the chat is open; the service stores a message sent twice once (its ``message_id``).

A mixin of :class:`bot.bridge.bridge.HandoffBridge`.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any, Optional, Tuple

import aiohttp
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.constants import EXTERNAL_MESSAGE_PREFIX
from rasa.shared.core.events import ConversationPaused, UserUttered
from redis.exceptions import LockError

from bot.bridge.delivery import LOCK_POLL_SECONDS
from bot.bridge.keys import PENDING

logger = logging.getLogger(__name__)
SERVICE_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")  # handoff/openapi.yml MessageId
FORWARDS, FORWARDING = "{shop}:handoff:forward:", "{shop}:handoff:forwarding"  # per-conversation list; the set of them
FORWARDED = "{shop}:handoff:forwarded:"  # + conversation: set of the message ids queued for the agent (kept a day)
FLUSHING = "{shop}:handoff:flushing:"  # + conversation: lock held by whoever sends its forward queue
FORWARDED_TTL_SECONDS = 86400
# Forget a conversation's forward queue once it is empty (atomically: a message may be queued meanwhile).
FORGET_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""


def service_message_id(message_id: str) -> str:
    """The id the service stores a forwarded message under: the tracker's (Rasa's uuid hex), or a digest of
    one the service's MessageId would refuse (a channel's own), the same on every try."""
    if SERVICE_MESSAGE_ID.fullmatch(message_id):
        return message_id
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()



class ForwardingMixin:
    """Forwarding customer messages to the agent; needs ``redis``, ``session``, ``service_url``, ``app``,
    ``tickets``, ``escalation_of`` and ``_auth`` (the bridge's)."""

    redis: Any
    session: Optional[aiohttp.ClientSession]
    service_url: str
    app: Any
    tickets: Any

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

