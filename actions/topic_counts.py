"""Bot conversations per day and topic, for the reports' bot containment by topic (docs/reports.md).

action_score_conversation runs after every customer message with the tracker at hand; it calls ``count_topic``
with the topic of that message (actions/signals.py ``topic_of``: the FAQ sub-intent, or the intent of a task;
none for small talk), which adds the conversation to the HyperLogLog ``{shop}:stats:topic:<YYYY-MM-DD>:<topic>``
(UTC day, like the bot's daily count ``{shop}:stats:conversations:<day>``), kept ``TTL_SECONDS`` so a quarter's
report still has its counts. In the Redis of the handoff outbox (REDIS_URL / HANDOFF_REDIS_URL), one pipelined
call on a connection pool kept per process; best effort: no Redis, a slow one or an error loses that count and
never fails or holds up the answer for longer than ``TIMEOUT_SECONDS`` (a warning at most once a minute).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Dict, Optional

import redis.asyncio as aioredis

from common.redis_config import async_redis_client, outbox_redis_url

logger = logging.getLogger(__name__)

TOPIC_KEY = "{shop}:stats:topic:"  # + YYYY-MM-DD:<topic>; handoff/reports/read.py reads it
TTL_SECONDS = 100 * 86400  # the reports cover up to 92 days
TIMEOUT_SECONDS = 0.3
_clients: Dict[Any, aioredis.Redis] = {}
_warned = [0.0]


def topic_key(topic: str, now: Optional[float] = None) -> str:
    return f"{TOPIC_KEY}{time.strftime('%Y-%m-%d', time.gmtime(time.time() if now is None else now))}:{topic}"


def _client(url: str) -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get((url, loop))
    if client is None:
        client = _clients[(url, loop)] = async_redis_client(url, socket_connect_timeout=TIMEOUT_SECONDS)
    return client


async def count_topic(conversation_id: str, topic: Optional[str]) -> bool:
    """Add the conversation to today's count of ``topic``; False when nothing was counted."""
    url = outbox_redis_url(os.environ)
    if not topic or not conversation_id or not url:
        return False
    key = topic_key(topic)
    try:
        async with _client(url).pipeline(transaction=False) as pipe:
            await asyncio.wait_for(pipe.pfadd(key, conversation_id).expire(key, TTL_SECONDS).execute(),
                                   TIMEOUT_SECONDS)
        return True
    except Exception as e:  # noqa: BLE001 - counting is best effort
        if time.monotonic() - _warned[0] > 60:
            _warned[0] = time.monotonic()
            logger.warning("counting conversations per topic failed: %r", e)
        return False
