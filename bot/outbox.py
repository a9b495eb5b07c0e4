"""The outboxes the Rasa server's handoff bridge drains (bot/handoff_bridge.py): handoff requests the
action server could not deliver (``shop:handoff:outbox``) and survey answers (``shop:handoff:surveys``),
each item moved to a ``..sending`` list while on its way (LMOVE), so a crash in between leaves it to be sent
again, never lost. A mixin of :class:`bot.handoff_bridge.HandoffBridge`: it uses the bridge's Redis client,
HTTP session and ``say``."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict

import aiohttp

logger = logging.getLogger("bot.handoff_bridge")

ACTIVE = "shop:handoff:active"  # hash conversation id -> escalation id (bot/handoff_bridge.py)
POSITION = "shop:handoff:position"  # hash conversation id -> the queue position the customer was last told
OUTBOX, SENDING = "shop:handoff:outbox", "shop:handoff:sending"
SURVEYS, SURVEYS_SENDING = "shop:handoff:surveys", "shop:handoff:surveys_sending"


class OutboxMixin:
    """Draining the outboxes; needs ``redis``, ``session``, ``service_url``, ``_auth`` and ``say``."""

    redis: Any
    session: Any
    service_url: str

    async def _drain(self, outbox: str, sending: str, send: Callable[[Dict[str, Any]], Awaitable[bool]]) -> None:
        """Send what waits in `outbox`, each item moved to `sending` while on its way (LMOVE): a crash
        leaves it there, and it goes back to the outbox when a bridge starts again."""
        while True:
            moved = await self.redis.lmove(sending, outbox, "RIGHT", "LEFT")
            if moved is None:
                break
        while True:
            try:
                raw = await self.redis.lmove(outbox, sending, "LEFT", "RIGHT")
                if raw is None:
                    await asyncio.sleep(1.0)
                    continue
                if await send(json.loads(raw)):
                    await self.redis.lrem(sending, 1, raw)
                else:
                    await self.redis.lmove(sending, outbox, "RIGHT", "LEFT")
                    await asyncio.sleep(2.0)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("%s: %s; retrying", outbox, e)
                await asyncio.sleep(2.0)

    async def _send_survey(self, item: Dict[str, Any]) -> bool:
        assert self.session is not None
        try:
            async with self.session.post(f"{self.service_url}/v1/handoffs/{item['escalation']}/survey",
                                         json=item["survey"], headers=self._auth()) as r:
                if r.status == 200:
                    return True
                if 400 <= r.status < 500:  # answered already, or refused: retrying cannot help
                    logger.warning("survey for %s refused: %s %s", item["escalation"], r.status, await r.text())
                    return True
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            logger.info("survey outbox: service still unreachable (%s)", e)
        return False

    async def _send(self, request: Dict[str, Any]) -> bool:
        assert self.session is not None
        try:
            async with self.session.post(f"{self.service_url}/v1/handoffs", json=request, headers=self._auth()) as r:
                if r.status in (200, 201):
                    answer = await r.json()
                    logger.info("outbox: delivered the handoff of %s (%s)", request["conversation_id"], answer["status"])
                    if answer.get("status") in ("waiting", "offered", "assigned"):
                        await self.redis.hset(ACTIVE, request["conversation_id"], answer["id"])
                    await self._announce(request["conversation_id"], answer)
                    return True
                logger.warning("outbox: the service answered %s", r.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            logger.info("outbox: service still unreachable (%s)", e)
        return False

    async def _announce(self, conversation: str, answer: Dict[str, Any]) -> None:
        """A delayed request reached the team: say where it stands now."""
        if answer.get("status") == "waiting" and answer.get("queue_position"):
            await self.redis.hset(POSITION, conversation, answer["queue_position"])
            await self.say(conversation, "utter_handoff_queued", position=answer["queue_position"],
                           wait_minutes=max(1, round((answer.get("estimated_wait_seconds") or 0) / 60)))
        elif answer.get("status") in ("offered", "assigned"):
            await self.say(conversation, "utter_handoff_connecting")
