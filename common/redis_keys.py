"""The bot's Redis keys carry the hash tag ``{shop}``, and the keys written under their old names are moved.

Why a tag: on a Redis Cluster a command or script may only touch keys of one hash slot, and the bot moves items
between its keys in one step (LMOVE ``{shop}:handoff:outbox`` -> ``{shop}:handoff:sending``; a parked request
leaves ``sending`` and its conversation leaves ``active`` in one script; a message is queued with its mark in one
MULTI). Before, these keys were ``shop:handoff:outbox``... (no tag: each on a slot of its own). Rasa's own keys
(``shop:tracker:<id>``, ``shop:lock:<id>``, one key per conversation, spread over the cluster) are not renamed.

``migrate_legacy_keys`` moves what a version before the tag left in Redis (``shop:handoff:*``, ``shop:tickets:*``,
``shop:survey:*``, ``shop:stats:*``, ``shop:chat:*``) to the tagged name, merging with what the new name already
holds (a list's old items go first, a hash keeps the newer field, sets and HyperLogLogs are unions). It runs on
a single Redis only (where such data can be: the old names never worked on a cluster), under the bridge's
leader lock (bot/bridge/bridge.py); each key moves in one script, so running it twice or from two processes is
harmless.
"""
from __future__ import annotations

from typing import Any, List

BOT_PREFIX = "{shop}:"
LEGACY_PREFIX = "shop:"
FAMILIES = ("handoff:", "tickets:", "survey:", "stats:", "chat:")
LOCKS = ("handoff:bridge", "handoff:flushing:")  # short-lived locks: left to expire, not moved

# KEYS old, new. A HyperLogLog is a string starting with "HYLL"; another string under both names keeps the new one.
MOVE = """
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('RENAME', KEYS[1], KEYS[2]) return 1 end
if t == 'list' then
  local items = redis.call('LRANGE', KEYS[1], 0, -1)
  for i = #items, 1, -1 do redis.call('LPUSH', KEYS[2], items[i]) end
elseif t == 'hash' then
  local f = redis.call('HGETALL', KEYS[1])
  for i = 1, #f, 2 do redis.call('HSETNX', KEYS[2], f[i], f[i + 1]) end
elseif t == 'set' then
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('SADD', KEYS[2], m) end
elseif t == 'zset' then
  local z = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #z, 2 do redis.call('ZADD', KEYS[2], 'NX', z[i + 1], z[i]) end
elseif t == 'string' and redis.call('GETRANGE', KEYS[1], 0, 3) == 'HYLL' then
  redis.call('PFMERGE', KEYS[2], KEYS[2], KEYS[1])
end
redis.call('DEL', KEYS[1])
return 1
"""


def new_name(old: str) -> str:
    """``shop:handoff:outbox`` -> ``{shop}:handoff:outbox``."""
    return BOT_PREFIX + old[len(LEGACY_PREFIX):]


def is_legacy(key: str) -> bool:
    rest = key[len(LEGACY_PREFIX):]
    return key.startswith(LEGACY_PREFIX) and rest.startswith(FAMILIES) and not rest.startswith(LOCKS)


async def migrate_legacy_keys(client: Any) -> List[str]:
    """Move the bot's keys from their old names to the tagged ones (see the module); the old names moved."""
    from redis.asyncio.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        return []
    move = client.register_script(MOVE)
    moved: List[str] = []
    async for raw in client.scan_iter(match=f"{LEGACY_PREFIX}*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        if is_legacy(key) and int(await move(keys=[key, new_name(key)])):
            moved.append(key)
    return sorted(moved)
