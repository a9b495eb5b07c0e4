"""Customers waiting for a person: the leader bridge tells them when their place in the queue improves (every
HANDOFF_POSITION_SECONDS; the position they were last told: ``{shop}:handoff:position``), and marks the
escalation abandoned when a web-chat customer left (their last socket, on every server, closed:
bot/bridge/presence.py; ``{shop}:handoff:left``) and did not come back within HANDOFF_CUSTOMER_GRACE_SECONDS.

A mixin of :class:`bot.bridge.bridge.HandoffBridge`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, Optional

from bot.bridge import presence
from bot.bridge.keys import ACTIVE, LEFT, POSITION

logger = logging.getLogger(__name__)


class WatchersMixin:
    """Waiting customers; needs ``redis``, ``session``, ``service_url``, ``customer_grace_seconds``,
    ``position_seconds``, ``escalation_of``, ``_auth`` and ``say`` (the bridge's)."""

    redis: Any
    session: Any
    service_url: str
    customer_grace_seconds: float
    position_seconds: float

    async def customer_left(self, conversation_id: str) -> None:
        """The customer's last web-chat socket closed: if a person is coming, start the grace period."""
        if await self.redis.hexists(ACTIVE, conversation_id):
            await self.redis.zadd(LEFT, {conversation_id: time.time()})

    async def customer_back(self, conversation_id: str, socket_id: Optional[str] = None) -> None:
        """A web-chat socket of the customer's is open (on any server: bot/bridge/presence.py)."""
        if socket_id:
            await presence.opened(self.redis, conversation_id, socket_id)
        await self.redis.zrem(LEFT, conversation_id)

    async def socket_closed(self, conversation_id: str, socket_id: str) -> bool:
        """Whether the customer's last web-chat socket, on every server, just closed."""
        return await presence.closed(self.redis, conversation_id, socket_id) == 0

    # -- the leader's watchers -------------------------------------------------------------------
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


