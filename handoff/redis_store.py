"""The Redis store: every transition is one Lua script, so it is atomic across service processes.

Keys (all under one hash tag, ``{ho}:`` by default, so a Redis Cluster keeps them on one shard and
the scripts may touch any of them):
  esc:<id>     hash   id, conversation_id, status, skill_group, priority, created_at, agent_id, offer_deadline
  hist:<id>    list   JSON history entries {"at", "status", "agent", "detail"}
  doc:<id>     string the request document (JSON)
  conv:<cid>   string the conversation's latest escalation (idempotent create)
  queue:<grp>  zset   waiting escalations by rank (see handoff/store.py)
  offers       zset   offered escalations by reservation deadline
  agent:<id>   hash   id, skills (JSON list), max_chats, status, load, idle_since
  free:<grp>   zset   online agents of the group with spare capacity, by load * 1e10 + idle_since
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Optional, Tuple

import redis.asyncio as aioredis

from handoff.store import Agent, Conflict, Escalation, NotFound, Status, Store, rank

REFRESH = """
local function refresh(P, aid)
  local f = redis.call('HMGET', P .. 'agent:' .. aid, 'skills', 'max_chats', 'status', 'load', 'idle_since')
  if not f[1] then return end
  local free = f[3] == 'online' and tonumber(f[4]) < tonumber(f[2])
  local score = tonumber(f[4]) * 1e10 + tonumber(f[5])
  for _, s in ipairs(cjson.decode(f[1])) do
    if free then redis.call('ZADD', P .. 'free:' .. s, score, aid)
    else redis.call('ZREM', P .. 'free:' .. s, aid) end
  end
end
local function log(P, eid, status, now, agent, detail)
  redis.call('HSET', P .. 'esc:' .. eid, 'status', status)
  redis.call('RPUSH', P .. 'hist:' .. eid,
             cjson.encode({at = tonumber(now), status = status, agent = agent, detail = detail or ''}))
end
"""

CREATE = REFRESH + """
local P, id, cid, group, priority, now, rnk, doc = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local existing = redis.call('GET', P .. 'conv:' .. cid)
if existing then
  local st = redis.call('HGET', P .. 'esc:' .. existing, 'status')
  if st == 'waiting' or st == 'offered' or st == 'assigned' then return {existing, 0} end
end
redis.call('HSET', P .. 'esc:' .. id, 'id', id, 'conversation_id', cid, 'skill_group', group,
           'priority', priority, 'created_at', now)
log(P, id, 'waiting', now, nil, '')
redis.call('SET', P .. 'doc:' .. id, doc)
redis.call('SET', P .. 'conv:' .. cid, id)
redis.call('ZADD', P .. 'queue:' .. group, rnk, id)
return {id, 1}
"""

SET_AGENT = REFRESH + """
local P, aid, skills, max_chats, status, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ak = P .. 'agent:' .. aid
local old = redis.call('HMGET', ak, 'skills', 'status', 'idle_since', 'load')
if old[1] then
  for _, s in ipairs(cjson.decode(old[1])) do redis.call('ZREM', P .. 'free:' .. s, aid) end
end
local idle = now
if old[2] == 'online' and old[3] then idle = old[3] end
redis.call('HSET', ak, 'id', aid, 'skills', skills, 'max_chats', max_chats, 'status', status,
           'load', old[4] or 0, 'idle_since', idle)
refresh(P, aid)
return 1
"""

OFFER_NEXT = REFRESH + """
local P, group, now, deadline = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local e = redis.call('ZRANGE', P .. 'queue:' .. group, 0, 0)
if #e == 0 then return false end
local a = redis.call('ZRANGE', P .. 'free:' .. group, 0, 0)
if #a == 0 then return false end
local eid, aid = e[1], a[1]
redis.call('ZREM', P .. 'queue:' .. group, eid)
redis.call('HSET', P .. 'esc:' .. eid, 'agent_id', aid, 'offer_deadline', deadline)
log(P, eid, 'offered', now, aid, '')
redis.call('ZADD', P .. 'offers', deadline, eid)
redis.call('HINCRBY', P .. 'agent:' .. aid, 'load', 1)
redis.call('HSET', P .. 'agent:' .. aid, 'idle_since', now)
refresh(P, aid)
return {eid, aid}
"""

ACCEPT = REFRESH + """
local P, eid, aid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id')
if not f[1] then return {'missing'} end
if f[1] ~= 'offered' or f[2] ~= aid then return {'conflict', f[1]} end
redis.call('HDEL', P .. 'esc:' .. eid, 'offer_deadline')
redis.call('ZREM', P .. 'offers', eid)
log(P, eid, 'assigned', now, aid, '')
return {'ok'}
"""

EXPIRE = REFRESH + """
local P, now, spp = ARGV[1], ARGV[2], tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', P .. 'offers', '-inf', now)
local out = {}
for _, eid in ipairs(due) do
  redis.call('ZREM', P .. 'offers', eid)
  local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'skill_group', 'created_at', 'priority')
  if f[1] == 'offered' then
    redis.call('HINCRBY', P .. 'agent:' .. f[2], 'load', -1)
    refresh(P, f[2])
    redis.call('HDEL', P .. 'esc:' .. eid, 'agent_id', 'offer_deadline')
    log(P, eid, 'waiting', now, f[2], 'offer not accepted in time')
    redis.call('ZADD', P .. 'queue:' .. f[3], tonumber(f[4]) - tonumber(f[5]) * spp, eid)
    table.insert(out, eid)
    table.insert(out, f[2])
  end
end
return out
"""

FINISH = REFRESH + """
local P, eid, aid, status, now, detail = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id')
if not f[1] then return {'missing'} end
if f[1] ~= 'assigned' or (aid ~= '' and f[2] ~= aid) then return {'conflict', f[1]} end
redis.call('HINCRBY', P .. 'agent:' .. f[2], 'load', -1)
refresh(P, f[2])
log(P, eid, status, now, f[2], detail)
return {'ok'}
"""


LEAVE_QUEUE = REFRESH + """
local P, eid, status, now, detail = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'skill_group')
if not f[1] then return {'missing'} end
if f[1] ~= 'waiting' and f[1] ~= 'offered' then return {'conflict', f[1]} end
if f[1] == 'offered' then
  redis.call('HINCRBY', P .. 'agent:' .. f[2], 'load', -1)
  refresh(P, f[2])
  redis.call('ZREM', P .. 'offers', eid)
end
redis.call('ZREM', P .. 'queue:' .. f[3], eid)
redis.call('HDEL', P .. 'esc:' .. eid, 'agent_id', 'offer_deadline')
log(P, eid, status, now, f[2] or nil, detail)
return {'ok'}
"""


class RedisStore(Store):
    def __init__(self, client: aioredis.Redis, prefix: str = "{ho}:") -> None:
        self.r = client
        self.p = prefix
        self._create = client.register_script(CREATE)
        self._set_agent = client.register_script(SET_AGENT)
        self._offer_next = client.register_script(OFFER_NEXT)
        self._accept = client.register_script(ACCEPT)
        self._expire = client.register_script(EXPIRE)
        self._finish = client.register_script(FINISH)
        self._leave_queue = client.register_script(LEAVE_QUEUE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "{ho}:") -> "RedisStore":
        return cls(aioredis.Redis.from_url(url, decode_responses=True), prefix)

    async def create(self, conversation_id: str, skill_group: str, priority: int, document: Dict[str, Any],
                     now: float, seconds_per_point: float) -> Tuple[Escalation, bool]:
        new_id = uuid.uuid4().hex
        eid, created = await self._create(args=[self.p, new_id, conversation_id, skill_group, priority, repr(now),
                                                repr(rank(now, priority, seconds_per_point)), json.dumps(document)])
        return await self.get(eid), bool(int(created))

    async def get(self, escalation_id: str) -> Escalation:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hgetall(f"{self.p}esc:{escalation_id}")
            pipe.lrange(f"{self.p}hist:{escalation_id}", 0, -1)
            fields, history = await pipe.execute()
        if not fields:
            raise NotFound(escalation_id)
        entries = []
        for raw in history:
            h = json.loads(raw)
            entries.append({"at": h["at"], "status": h["status"], "agent": h.get("agent"), "detail": h.get("detail", "")})
        return Escalation(
            id=fields["id"], conversation_id=fields["conversation_id"], status=Status(fields["status"]),
            skill_group=fields["skill_group"], priority=int(fields["priority"]), created_at=float(fields["created_at"]),
            agent_id=fields.get("agent_id"),
            offer_deadline=float(fields["offer_deadline"]) if fields.get("offer_deadline") else None,
            history=entries)

    async def document(self, escalation_id: str) -> Dict[str, Any]:
        raw = await self.r.get(f"{self.p}doc:{escalation_id}")
        if raw is None:
            raise NotFound(escalation_id)
        return json.loads(raw)

    async def set_agent(self, agent: Agent, now: float) -> None:
        await self._set_agent(args=[self.p, agent.id, json.dumps(list(agent.skills)), agent.max_chats, agent.status,
                                    repr(now)])

    async def get_agent(self, agent_id: str) -> Agent:
        f = await self.r.hgetall(f"{self.p}agent:{agent_id}")
        if not f:
            raise NotFound(agent_id)
        return Agent(f["id"], tuple(json.loads(f["skills"])), int(f["max_chats"]), f["status"], int(f["load"]),
                     float(f["idle_since"]))

    async def offer_next(self, skill_group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        result = await self._offer_next(args=[self.p, skill_group, repr(now), repr(now + reservation_seconds)])
        return (result[0], result[1]) if result else None

    @staticmethod
    def _check(result: List[str], escalation_id: str, what: str) -> None:
        if result[0] == "missing":
            raise NotFound(escalation_id)
        if result[0] == "conflict":
            raise Conflict(f"escalation {escalation_id} is {result[1]}, not {what}")

    async def accept(self, escalation_id: str, agent_id: str, now: float) -> Escalation:
        self._check(await self._accept(args=[self.p, escalation_id, agent_id, repr(now)]), escalation_id,
                    f"offered to {agent_id}")
        return await self.get(escalation_id)

    async def expire_offers(self, now: float, seconds_per_point: float) -> List[Tuple[str, str]]:
        flat = await self._expire(args=[self.p, repr(now), repr(seconds_per_point)])
        return sorted(zip(flat[0::2], flat[1::2]))

    async def finish(self, escalation_id: str, agent_id: Optional[str], status: Status, now: float,
                     detail: str = "") -> Escalation:
        if status not in (Status.RELEASED, Status.CLOSED):
            raise ValueError(f"cannot finish as {status.value}")
        self._check(await self._finish(args=[self.p, escalation_id, agent_id or "", status.value, repr(now), detail]),
                    escalation_id, f"assigned to {agent_id}")
        return await self.get(escalation_id)

    async def leave_queue(self, escalation_id: str, status: Status, now: float, detail: str = "") -> Escalation:
        if status not in (Status.TICKET, Status.ABANDONED):
            raise ValueError(f"cannot leave the queue as {status.value}")
        self._check(await self._leave_queue(args=[self.p, escalation_id, status.value, repr(now), detail]),
                    escalation_id, "waiting")
        return await self.get(escalation_id)

    async def waiting(self, skill_group: str) -> List[str]:
        return await self.r.zrange(f"{self.p}queue:{skill_group}", 0, -1)
