"""Which web-chat sockets a customer has open, over every Rasa server.

A customer waiting for a person who closes their last chat tab is given a grace period, then taken for gone
(bot/bridge/watchers.py ``customer_left``). With several Rasa servers behind the load balancer, their tabs can
be connected to different servers, and python-socketio's rooms only know this server's sockets; so each open
socket is a member of one Redis set per conversation, ``{shop}:chat:sockets:<conversation>`` (one key: one
hash slot on a Redis Cluster; changed in MULTI/EXEC so the last one out is known exactly once).

A server that dies leaves its sockets' ids in the set, so their customer is not taken for gone (the safe side:
nobody's chat is closed for them); the set expires a day after the last socket opened.
"""
from __future__ import annotations

from typing import Any

SOCKETS = "{shop}:chat:sockets:"  # + conversation id: set of the socket ids open on it, any server
KEEP_SECONDS = 24 * 3600


async def opened(redis: Any, conversation_id: str, socket_id: str) -> None:
    key = SOCKETS + conversation_id
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.sadd(key, socket_id).expire(key, KEEP_SECONDS).execute()


async def closed(redis: Any, conversation_id: str, socket_id: str) -> int:
    """Forget ``socket_id``; how many sockets of the conversation are still open (0: it was the last)."""
    key = SOCKETS + conversation_id
    async with redis.pipeline(transaction=True) as pipe:
        _, left = await pipe.srem(key, socket_id).scard(key).execute()
    return int(left)
