"""Delivering the handoff request to the handoff service: POST /v1/handoffs with the bot's service
token, a short timeout and retries (creating is idempotent per conversation and request, so a retry
never makes a second escalation). When the service cannot be reached, the request goes to an outbox
in Redis (``{shop}:handoff:outbox``) that the Rasa server's bridge keeps retrying; it is never dropped.
A request the service refuses (4xx) is parked for a person (``{shop}:handoff:undelivered``, see
common/undelivered.py; ``python -m bot.undelivered replay`` sends it again after a fix).

Settings: HANDOFF_URL, HANDOFF_BOT_TOKEN, REDIS_URL (the run command sets all three). HANDOFF_REDIS_URL, when
set, must name the same Redis (common/redis_config.py): the bridge reads the outbox there.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import aiohttp

from common.redis_config import async_redis_client, outbox_redis_url
from common.undelivered import UNDELIVERED, parked

logger = logging.getLogger(__name__)
OUTBOX = "{shop}:handoff:outbox"
ACTIVE = "{shop}:handoff:active"  # conversation -> escalation, shared with bot/bridge/keys.py
PENDING = "pending"  # ACTIVE's value while the request waits in the outbox
SURVEYS = "{shop}:handoff:surveys"  # survey answers the service could not take yet: {"escalation", "survey"}
POSITION = "{shop}:handoff:position"  # conversation -> queue position last told, for the bridge's updates
ATTEMPTS = (0.0, 0.3, 1.0)  # delays before each try
TIMEOUT_SECONDS = 3.0


@dataclass
class Delivery:
    status: str  # "sent" (answer in `answer`), "queued" (in the outbox), "rejected" or "failed"
    answer: Optional[Dict[str, Any]] = None


async def post_handoff(base_url: str, token: str, request: Dict[str, Any]) -> Dict[str, Any]:
    """The service's answer (201 or 200); raises on anything else after the retries."""
    return await post(base_url, token, "/v1/handoffs", request)


class Refused(ValueError):
    """The service refused the request (4xx other than 408/429): sending it again as it is cannot help."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"handoff service refused the request ({status}): {text[:300]}")
        self.status = status


async def post(base_url: str, token: str, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
    """POST the same `body` on every try: the answer of a 200/201; Refused (a ValueError) when the service
    refuses it (4xx other than 408/429), ConnectionError when it cannot be reached or keeps failing."""
    last: Exception = RuntimeError("not tried")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:
        for delay in ATTEMPTS:
            if delay:
                await asyncio.sleep(delay)
            try:
                async with session.post(f"{base_url.rstrip('/')}{path}", json=body,
                                        headers={"Authorization": f"Bearer {token}"}) as r:
                    if r.status in (200, 201):
                        return await r.json()
                    text = await r.text()
                    if r.status < 500 and r.status not in (408, 429):  # our request is wrong: retrying cannot help
                        raise Refused(r.status, text)
                    last = RuntimeError(f"handoff service answered {r.status}: {text[:200]}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                last = e
    raise ConnectionError(f"handoff service unreachable: {last}")


async def deliver(request: Dict[str, Any]) -> Delivery:
    base, token = os.environ.get("HANDOFF_URL"), os.environ.get("HANDOFF_BOT_TOKEN")
    if base and token:
        try:
            answer = await post_handoff(base, token, request)
            if answer.get("status") in ("waiting", "offered", "assigned"):
                await mark_active(request["conversation_id"], answer["id"], answer.get("queue_position"))
            return Delivery("sent", answer)
        except ConnectionError as e:
            logger.warning("%s; keeping the request in the outbox", e)
        except Refused as e:
            kept = await keep(UNDELIVERED, parked("handoff", request, e.status, str(e)))
            logger.error("handoff request of conversation %s refused (%s); %s", request["conversation_id"], e,
                         f"parked in {UNDELIVERED} for a person (python -m bot.undelivered replay --conversation "
                         f"{request['conversation_id']})" if kept else "only in the tracker")
            return Delivery("rejected" if kept else "failed")
    if await keep(OUTBOX, request):
        await mark_active(request["conversation_id"], PENDING)  # what the customer writes meanwhile is kept too
        return Delivery("queued")
    return Delivery("failed")


async def mark_active(conversation_id: str, escalation_id: str, position: Optional[int] = None) -> None:
    """Tell the Rasa server's bridge at once that a person is coming (it also learns it from the service's
    events, a moment later): the customer's next message must already reach the agent's side. The queue
    position the customer was told is kept so the bridge tells them only when it changes."""
    redis_url = outbox_redis_url(os.environ)
    if not redis_url:
        return
    client = async_redis_client(redis_url)
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(ACTIVE, conversation_id, escalation_id)
            if position:
                pipe.hset(POSITION, conversation_id, position)
            else:
                pipe.hdel(POSITION, conversation_id)
            await pipe.execute()
    except Exception:
        logger.warning("could not record the open handoff of %s; the bridge will learn it from the events",
                       conversation_id)
    finally:
        await client.close()


async def submit_survey(escalation_id: str, survey: Dict[str, Any]) -> str:
    """Store the customer's survey answer on the escalation (see answer_survey): the status only."""
    return (await answer_survey(escalation_id, survey))[0]


async def answer_survey(ref: str, survey: Dict[str, Any], ticket: bool = False
                        ) -> Tuple[str, Optional[Dict[str, Any]]]:
    """Store the customer's survey answer on the escalation (or, ``ticket``, on the ticket ``ref``): "stored"
    with the service's answer (its ``follow_up``: the case a "not solved" opened), "kept" (in the SURVEYS outbox,
    which the Rasa server's bridge retries), "refused" (the service said no: answered already, say) or "failed"
    (nowhere to keep it); the answer is None but for "stored"."""
    base, token = os.environ.get("HANDOFF_URL"), os.environ.get("HANDOFF_BOT_TOKEN")
    item = {"ticket" if ticket else "escalation": ref, "survey": survey}
    if base and token:
        try:
            path = f"/v1/tickets/{ref}/survey" if ticket else f"/v1/handoffs/{ref}/survey"
            return "stored", await post(base, token, path, survey)
        except Refused as e:
            if e.status != 409:  # 409: answered already
                if await keep(UNDELIVERED, parked("survey", item, e.status, str(e))):
                    logger.error("survey answer of %s refused (%s); parked in %s for a person", ref, e, UNDELIVERED)
            else:
                logger.warning("survey of %s refused: %s", ref, e)
            return "refused", None
        except ConnectionError as e:
            logger.warning("%s; keeping the survey answer in the outbox", e)
    return ("kept" if await keep(SURVEYS, item) else "failed"), None


async def keep(key: str, request: Dict[str, Any]) -> bool:
    """Append the request to a Redis list; False when there is no Redis to keep it in."""
    redis_url = outbox_redis_url(os.environ)
    if not redis_url:
        logger.error("no handoff service and no Redis configured: %s for %s is only in the tracker", key,
                     request.get("conversation_id") or request.get("escalation"))
        return False
    client = async_redis_client(redis_url)
    try:
        await client.rpush(key, json.dumps(request))
        return True
    except Exception:
        logger.exception("could not keep the handoff request in %s", key)
        return False
    finally:
        await client.close()
