"""The outboxes the Rasa server's handoff bridge drains (bot/bridge/bridge.py): handoff requests the
action server could not deliver (``{shop}:handoff:outbox``), survey answers (``{shop}:handoff:surveys``) and customer
messages for tickets (``{shop}:tickets:outbox``, bot/bridge/tickets.py).

- Each item is moved to a ``..sending`` list while on its way (LMOVE), so a crash in between leaves it to be
  sent again, never lost.
- A transient failure (no connection, a timeout, 5xx, 408, 429) puts the item aside with its attempt count in a
  sorted set by next attempt time (``<outbox>:later``; backoff doubling from HANDOFF_RETRY_FIRST_SECONDS to
  HANDOFF_RETRY_MAX_SECONDS); the items behind it keep flowing, and it comes back to the outbox when due.
- A refusal (any other 4xx: a 413 for a long transcript, a 401 after a token rotation...) cannot be cured by
  sending the same item again: it is parked for a person in ``{shop}:handoff:undelivered`` (common/undelivered.py;
  ``python -m bot.undelivered replay`` after a fix), with an ERROR log line naming the conversation, and a
  waiting customer is told (``utter_handoff_failed``) and has the bot again (they can ask for a person later).

A mixin of :class:`bot.bridge.bridge.HandoffBridge`: it uses the bridge's Redis client, HTTP session, ``say``
and ``resume``. Each move between the lists is one Lua script (atomic).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any, Awaitable, Callable, Dict, NamedTuple, Optional, Tuple

import aiohttp
from rasa.shared.core.events import ConversationPaused, SlotSet

from bot.bridge.keys import ACTIVE, AGENT_NAMES, POSITION
from common.undelivered import UNDELIVERED, parked

logger = logging.getLogger(__name__)

OUTBOX, SENDING = "{shop}:handoff:outbox", "{shop}:handoff:sending"
SURVEYS, SURVEYS_SENDING = "{shop}:handoff:surveys", "{shop}:handoff:surveys_sending"
LATER = ":later"  # + outbox: zset of {"item", "attempts"} -> when to try again
TICKET_MESSAGES = "{shop}:tickets:outbox"  # customer messages for tickets (bot/bridge/tickets.py)
KINDS = {OUTBOX: "handoff", SURVEYS: "survey", TICKET_MESSAGES: "ticket_message"}
SENT, RETRY, REFUSED = "sent", "retry", "refused"

# KEYS sending, later; ARGV raw item, next attempt time, {"item", "attempts"}
PUT_ASIDE = """
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
"""
# KEYS later, outbox; ARGV now: the items due go back to the outbox's tail
DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, item in ipairs(due) do
  redis.call('ZREM', KEYS[1], item)
  redis.call('RPUSH', KEYS[2], item)
end
return #due
"""
# KEYS sending, undelivered, active, position; ARGV raw item, parked entry, conversation id ('' for a survey).
# The conversation no longer waits for a person (unless it got an escalation meanwhile): 1 when it did wait.
PARK = """
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[3], ARGV[3]) == 'pending' then
  redis.call('HDEL', KEYS[3], ARGV[3])
  redis.call('HDEL', KEYS[4], ARGV[3])
  return 1
end
return 0
"""


class Sent(NamedTuple):
    outcome: str  # SENT, RETRY or REFUSED
    status: Optional[int] = None  # the service's HTTP status (None: no answer)
    detail: str = ""


def classify(status: int) -> str:
    """SENT for 2xx; RETRY for 5xx, 408 and 429 (the service may take it later); REFUSED for any other answer."""
    if 200 <= status < 300:
        return SENT
    if status >= 500 or status in (408, 429):
        return RETRY
    return REFUSED


def backoff_seconds(attempts: int, first: float, most: float) -> float:
    """How long an item that failed `attempts` + 1 times waits: doubling from `first`, at most `most`."""
    return min(most, first * 2 ** min(attempts, 30))


def wrap(item: Dict[str, Any], attempts: int) -> str:
    return json.dumps({"item": item, "attempts": attempts})


def unwrap(raw: str) -> Tuple[Dict[str, Any], int]:
    """(item, attempts so far): what the action server queued is the bare item, a retried one is wrapped."""
    doc = json.loads(raw)
    if isinstance(doc, dict) and set(doc) == {"item", "attempts"}:
        return doc["item"], int(doc["attempts"])
    return doc, 0


class OutboxMixin:
    """Draining the outboxes; needs ``redis``, ``session``, ``service_url``, ``_auth``, ``say``, ``resume``,
    ``_paused`` and ``_update_tracker`` (the bridge's)."""

    redis: Any
    session: Any
    service_url: str

    retry_first_seconds = float(os.environ.get("HANDOFF_RETRY_FIRST_SECONDS", "1"))
    retry_max_seconds = float(os.environ.get("HANDOFF_RETRY_MAX_SECONDS", "15"))
    outbox_poll_seconds = 1.0

    async def _drain(self, outbox: str, sending: str, send: Callable[[Dict[str, Any]], Awaitable[Sent]]) -> None:
        """Send what waits in `outbox`, one item at a time (see the module docstring)."""
        kind, later = KINDS[outbox], outbox + LATER
        put_aside, due, park = (self.redis.register_script(s) for s in (PUT_ASIDE, DUE, PARK))
        while True:  # what a crashed bridge left on its way goes out again
            if await self.redis.lmove(sending, outbox, "RIGHT", "LEFT") is None:
                break
        while True:
            try:
                await due(keys=[later, outbox], args=[time.time()])
                raw = await self.redis.lmove(outbox, sending, "LEFT", "RIGHT")
                if raw is None:
                    await asyncio.sleep(self.outbox_poll_seconds)
                    continue
                item, attempts = unwrap(raw)
                result = await send(item)
                if result.outcome == SENT:
                    await self.redis.lrem(sending, 1, raw)
                elif result.outcome == RETRY:
                    wait = backoff_seconds(attempts, self.retry_first_seconds, self.retry_max_seconds)
                    await put_aside(keys=[sending, later], args=[raw, time.time() + wait, wrap(item, attempts + 1)])
                else:
                    conversation = str(item.get("conversation_id") or "") if kind == "handoff" else ""
                    entry = parked(kind, item, result.status, result.detail, attempts + 1)
                    waited = await park(keys=[sending, UNDELIVERED, ACTIVE, POSITION],
                                        args=[raw, json.dumps(entry), conversation])
                    logger.error("%s of %s refused by the handoff service (%s %s): parked in %s for a person "
                                 "(python -m bot.undelivered replay --conversation %s)", kind,
                                 conversation or item.get("escalation"), result.status, result.detail[:200],
                                 UNDELIVERED, conversation or item.get("escalation"))
                    if waited and await self._paused(conversation):
                        await self.resume(conversation, "utter_handoff_failed")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("%s: %s; retrying", outbox, e)
                await asyncio.sleep(2.0)

    async def _send_survey(self, item: Dict[str, Any]) -> Sent:
        assert self.session is not None
        path = f"/v1/tickets/{item['ticket']}/survey" if item.get("ticket") else \
            f"/v1/handoffs/{item['escalation']}/survey"  # a ticket's survey, or a chat's
        try:
            async with self.session.post(f"{self.service_url}{path}", json=item["survey"], headers=self._auth()) as r:
                if r.status == 409:  # answered already
                    logger.warning("survey for %s: answered already", item.get("escalation") or item.get("ticket"))
                    return Sent(SENT, r.status)
                return Sent(classify(r.status), r.status, "" if r.status == 200 else (await r.text())[:500])
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            logger.info("survey outbox: service still unreachable (%s)", e)
            return Sent(RETRY, None, str(e))

    async def _send(self, request: Dict[str, Any]) -> Sent:
        assert self.session is not None
        conversation = request["conversation_id"]
        try:
            async with self.session.post(f"{self.service_url}/v1/handoffs", json=request, headers=self._auth()) as r:
                if r.status not in (200, 201):
                    logger.warning("outbox: the service answered %s for the handoff of %s", r.status, conversation)
                    return Sent(classify(r.status), r.status, (await r.text())[:500])
                answer = await r.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            logger.info("outbox: service still unreachable (%s)", e)
            return Sent(RETRY, None, str(e))
        logger.info("outbox: delivered the handoff of %s (%s)", conversation, answer["status"])
        if answer.get("status") in ("waiting", "offered", "assigned"):
            await self.redis.hset(ACTIVE, conversation, answer["id"])
            if not await self._paused(conversation):  # a replayed request: a person has the chat now
                await self._update_tracker(conversation, [ConversationPaused(), SlotSet("handoff_request", request)])
        await self._announce(conversation, answer)
        return Sent(SENT, r.status)

    async def _announce(self, conversation: str, answer: Dict[str, Any]) -> None:
        """A delayed request reached the team: say where it stands now."""
        if answer.get("status") == "waiting" and answer.get("queue_position"):
            await self.redis.hset(POSITION, conversation, answer["queue_position"])
            surge = "_surge" if answer.get("surge") else ""  # the group surges (docs/surge.md)
            await self.say(conversation, f"utter_handoff_queued{surge}", position=answer["queue_position"],
                           wait_minutes=max(1, round((answer.get("estimated_wait_seconds") or 0) / 60)))
        elif answer.get("status") in ("offered", "assigned"):
            if await self.redis.hexists(AGENT_NAMES, conversation):
                return  # an agent quicker than this answer joined already: "connecting" would come after "joined"
            await self.say(conversation, "utter_handoff_connecting")
