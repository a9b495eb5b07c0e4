"""The Rasa server's side of a live handoff: one bridge per Rasa process, started by the channels.

This module holds the bridge itself: its settings, the channels' ways to push (``register_output``), the
leader lock and the jobs the leader runs, and the count of conversations for the dashboard. What it does is in
the modules beside it:

- bot/bridge/stream.py follows the handoff service's event stream (``{ho}:events``, the service's published
  interface) as the consumer group ``bridge``: an event is acknowledged once handled, a failed one is tried
  again, in order per conversation, then parked; bot/bridge/events.py acts on each event (an agent joined, an
  agent's message, the chat released, closed, made a ticket or abandoned).
- bot/bridge/delivery.py stores what the bridge says in the conversation's tracker and pushes it through the
  channel the customer last wrote on, with a ``message_id`` that is the same on every try (delivery at least
  once; the customer's side drops a repeat); bot/bridge/notices.py marks notices (queue position, agent joined,
  back with the assistant...) apart from the bot's own words.
- bot/bridge/forwarding.py forwards every customer message stored while a person has the chat to the service,
  once, in the tracker's order.
- bot/bridge/outbox.py retries the handoff requests the action server could not deliver, survey answers and
  customer messages for tickets (``{shop}:handoff:outbox``, ``{shop}:handoff:surveys``, ``{shop}:tickets:outbox``;
  LMOVE to a ``..sending`` list while on its way, so a crash in between loses nothing).
- bot/bridge/watchers.py tells waiting customers when their queue position improves and marks abandoned the
  escalations of web-chat customers who left (bot/bridge/presence.py: their sockets on every server).
- bot/bridge/tickets.py is the customer's side of tickets (``bridge.tickets``), bot/bridge/surveys.py the
  satisfaction survey when the service says it is due (``bridge.surveys``).
- It counts the conversations customers write in, per UTC day, for the supervisor dashboard
  (``count_conversation``: a HyperLogLog ``{shop}:stats:conversations:<YYYY-MM-DD>``).
- With several Rasa servers, one bridge at a time does the leader's work (following the stream, draining the
  outboxes and forward queues, the watchers): it holds a Redis lock (``{shop}:handoff:bridge``, renewed every
  few seconds); when its server dies another takes over where the stream position says. Every server forwards
  its own customers' messages.

Channels register how to push a message to a customer (``register_output``); any other Rasa connector
gets the same behaviour by calling ``register_output`` with its own push function and ``forward``
for each incoming message (docs/integrators.md, "Another messaging channel").
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import LockError

from bot.bridge.delivery import DeliveryMixin
from bot.bridge.events import EventsMixin
from bot.bridge.forwarding import ForwardingMixin
from bot.bridge.keys import ACTIVE, CONVERSATIONS_PER_DAY, LEADER
from bot.bridge.outbox import OUTBOX, SENDING, SURVEYS, SURVEYS_SENDING, OutboxMixin
from bot.bridge.surveys import SurveyRequests
from bot.bridge.tickets import TICKET_OUTBOX, TICKET_SENDING, TicketReplies
from bot.bridge.watchers import WatchersMixin
from common.redis_config import async_redis_client, outbox_redis_url
from common.redis_keys import migrate_legacy_keys
from common.routing import SKILL_GROUPS_FILE, SkillGroups

logger = logging.getLogger(__name__)

Push = Callable[[str, Dict[str, Any]], Awaitable[None]]
STATS_TTL_SECONDS = 100 * 86400  # the reports (handoff/reports/) cover up to 92 days
STATS_TIMEOUT_SECONDS = 0.5  # counting never holds a customer's message up for longer


class HandoffBridge(ForwardingMixin, EventsMixin, WatchersMixin, DeliveryMixin, OutboxMixin):
    def __init__(self, redis_url: str, service_url: str, token: str, prefix: str = "{ho}:",
                 customer_grace_seconds: float = 60.0, position_seconds: float = 5.0, event_tries: int = 10,
                 retry_seconds: float = 1.0) -> None:
        self.redis = async_redis_client(redis_url, decode_responses=True)
        self.service_url = service_url.rstrip("/")
        self.token = token
        self.stream = f"{prefix}events"
        self.customer_grace_seconds = customer_grace_seconds
        self.position_seconds = position_seconds
        self.event_tries = event_tries  # a failing event is tried this often, then parked (bot/bridge/stream.py)
        self.retry_seconds = retry_seconds  # the first retry's delay, doubling up to a minute
        self.outputs: Dict[str, Push] = {}
        self.app: Any = None
        self.tasks: List[asyncio.Task] = []
        self.session: Optional[aiohttp.ClientSession] = None
        self.groups = SkillGroups.load(os.environ.get("HANDOFF_SKILL_GROUPS") or SKILL_GROUPS_FILE)
        self._stats_warned = 0.0
        self.tickets = TicketReplies(self)  # the customer's side of tickets (bot/bridge/tickets.py)
        self.surveys = SurveyRequests(self)  # the satisfaction survey when it is due (bot/bridge/surveys.py)

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


    def _auth(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}



_bridge: Optional[HandoffBridge] = None
_made = False


def bridge() -> Optional[HandoffBridge]:
    """The process's bridge (None when live handoff is not configured)."""
    global _bridge, _made
    if not _made:
        _bridge, _made = HandoffBridge.from_env(), True
    return _bridge
