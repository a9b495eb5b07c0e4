"""Raising an open chat's priority (an SLA breach action): one atomic store step, in Redis (a Lua script) and in
the in-memory twin, mixins of RedisStore and MemoryStore.

``raise_chat_priority(escalation_id, at_least, seconds_per_point)`` sets the priority of a waiting, offered or
assigned chat to ``at_least`` when it is lower, and re-ranks a waiting chat in its group's queue by the points
it gained (rank = joined - priority * seconds_per_point, handoff/store.py), so it is offered sooner. Checked and
idempotent: a chat already at or above ``at_least`` is left alone (False), so a timer fired twice raises once;
NotFound for no such chat; Conflict for a chat that is no longer open (closed, abandoned, a ticket).
"""
from __future__ import annotations

from typing import Any

from handoff.store import OPEN, Conflict, NotFound

RAISE_PRIORITY = """
local P, eid, want, spp = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local k = P .. 'esc:' .. eid
local f = redis.call('HMGET', k, 'status', 'priority', 'skill_group')
if not f[1] then return -1 end
if f[1] ~= 'waiting' and f[1] ~= 'offered' and f[1] ~= 'assigned' then return -2 end
local old = tonumber(f[2])
if old >= want then return 0 end
redis.call('HSET', k, 'priority', want)
if f[1] == 'waiting' then
  local q = P .. 'queue:' .. f[3]
  local r = redis.call('ZSCORE', q, eid)
  if r then redis.call('ZADD', q, tonumber(r) - (want - old) * spp, eid) end
end
return 1
"""


class RedisPriority:
    r: Any
    p: str

    async def raise_chat_priority(self, escalation_id: str, at_least: int, seconds_per_point: float) -> bool:
        if not hasattr(self, "_raise_priority"):
            self._raise_priority = self.r.register_script(RAISE_PRIORITY)
        done = int(await self._raise_priority(keys=[f"{self.p}events"],  # KEYS[1]: routing on a cluster
                                              args=[self.p, escalation_id, int(at_least), repr(float(seconds_per_point))]))
        if done == -1:
            raise NotFound(escalation_id)
        if done == -2:
            raise Conflict(f"{escalation_id} is no longer open")
        return done == 1


class MemoryPriority:
    _lock: Any
    _queues: Any

    async def raise_chat_priority(self, escalation_id: str, at_least: int, seconds_per_point: float) -> bool:
        async with self._lock:
            e = self._find(escalation_id)  # type: ignore[attr-defined]
            if e.status not in OPEN:
                raise Conflict(f"{escalation_id} is no longer open")
            if e.priority >= at_least:
                return False
            gained, e.priority = at_least - e.priority, int(at_least)
            queue = self._queues.get(e.skill_group, {})
            if escalation_id in queue:
                queue[escalation_id] -= gained * seconds_per_point
            return True
