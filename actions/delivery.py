"""Delivering the handoff request to the handoff service: POST /v1/handoffs with the bot's service
token, a short timeout and retries (creating is idempotent per conversation and request, so a retry
never makes a second escalation). When the service cannot be reached, the request goes to an outbox
in Redis (``shop:handoff:outbox``) that the Rasa server's bridge keeps retrying; it is never dropped.

Settings: HANDOFF_URL, HANDOFF_BOT_TOKEN, REDIS_URL (the run command sets all three).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

import aiohttp
import redis.asyncio as aioredis

logger = logging.getLogger(__name__)
OUTBOX = "shop:handoff:outbox"
ACTIVE = "shop:handoff:active"  # conversation -> escalation, shared with bot/handoff_bridge.py
REJECTED = "shop:handoff:rejected"  # refused by the service (a bug): kept for a person, not retried
ATTEMPTS = (0.0, 0.3, 1.0)  # delays before each try
TIMEOUT_SECONDS = 3.0


@dataclass
class Delivery:
    status: str  # "sent" (answer in `answer`), "queued" (in the outbox), "rejected" or "failed"
    answer: Optional[Dict[str, Any]] = None


async def post_handoff(base_url: str, token: str, request: Dict[str, Any]) -> Dict[str, Any]:
    """The service's answer (201 or 200); raises on anything else after the retries."""
    last: Exception = RuntimeError("not tried")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:
        for delay in ATTEMPTS:
            if delay:
                await asyncio.sleep(delay)
            try:
                async with session.post(f"{base_url.rstrip('/')}/v1/handoffs", json=request,
                                        headers={"Authorization": f"Bearer {token}"}) as r:
                    if r.status in (200, 201):
                        return await r.json()
                    body = await r.text()
                    if r.status < 500:  # our request is wrong: retrying will not help
                        raise ValueError(f"handoff service refused the request ({r.status}): {body[:300]}")
                    last = RuntimeError(f"handoff service answered {r.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                last = e
    raise ConnectionError(f"handoff service unreachable: {last}")


async def deliver(request: Dict[str, Any]) -> Delivery:
    base, token = os.environ.get("HANDOFF_URL"), os.environ.get("HANDOFF_BOT_TOKEN")
    if base and token:
        try:
            answer = await post_handoff(base, token, request)
            if answer.get("status") in ("waiting", "offered", "assigned"):
                await mark_active(request["conversation_id"], answer["id"])
            return Delivery("sent", answer)
        except ConnectionError as e:
            logger.warning("%s; keeping the request in the outbox", e)
        except ValueError:
            logger.exception("handoff request refused; kept in %s for a person to look at", REJECTED)
            return Delivery("failed" if not await keep(REJECTED, request) else "rejected")
    return Delivery("queued") if await keep(OUTBOX, request) else Delivery("failed")


async def mark_active(conversation_id: str, escalation_id: str) -> None:
    """Tell the Rasa server's bridge at once that a person is coming (it also learns it from the service's
    events, a moment later): the customer's next message must already reach the agent's side."""
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        return
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.hset(ACTIVE, conversation_id, escalation_id)
    except Exception:
        logger.warning("could not record the open handoff of %s; the bridge will learn it from the events",
                       conversation_id)
    finally:
        await client.close()


async def keep(key: str, request: Dict[str, Any]) -> bool:
    """Append the request to a Redis list; False when there is no Redis to keep it in."""
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        logger.error("no handoff service and no Redis configured: the handoff request of %s is only in the tracker",
                     request.get("conversation_id"))
        return False
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.rpush(key, json.dumps(request))
        return True
    except Exception:
        logger.exception("could not keep the handoff request in %s", key)
        return False
    finally:
        await client.close()
