"""The Lua functions every script of the Redis store starts with: ``P`` (the key prefix, ARGV[1]), keeping an agent's
free and online sets right (``refresh``), the history (``log``), the event stream (``emit``), the queues
(``enqueue``, ``dequeue``), an agent's slots (``take``, ``free``), offering the head of a queue to a reader of the
chat's language (``offer_head``, from handoff/routing/language_match.py), the indexes (``index``) and a group's
figures (``group_stats``). The keys are listed in handoff/redis_store.py."""
from __future__ import annotations

from handoff.routing.language_match import OFFER_LUA

PRELUDE = """
local P = ARGV[1]
local function refresh(aid)
  local f = redis.call('HMGET', P .. 'agent:' .. aid, 'skills', 'max_chats', 'status', 'load', 'idle_since')
  if not f[1] then return end
  local online = f[3] == 'online'
  local free = online and tonumber(f[4]) < tonumber(f[2])
  local score = tonumber(f[4]) * 1e10 + tonumber(f[5])
  for _, s in ipairs(cjson.decode(f[1])) do
    if free then redis.call('ZADD', P .. 'free:' .. s, score, aid)
    else redis.call('ZREM', P .. 'free:' .. s, aid) end
    if online then redis.call('SADD', P .. 'online:' .. s, aid)
    else redis.call('SREM', P .. 'online:' .. s, aid) end
  end
end
local function log(eid, status, now, agent, detail)
  redis.call('HSET', P .. 'esc:' .. eid, 'status', status)
  redis.call('RPUSH', P .. 'hist:' .. eid,
             cjson.encode({at = tonumber(now), status = status, agent = agent, detail = detail or ''}))
end
local function emit(to, ev)
  redis.call('XADD', P .. 'events', '*', 'to', to or '', 'e', cjson.encode(ev))
end
local function enqueue(grp, eid, rnk, now)
  redis.call('ZADD', P .. 'queue:' .. grp, rnk, eid)
  redis.call('ZADD', P .. 'age:' .. grp, now, eid)
end
local function dequeue(grp, eid)
  redis.call('ZREM', P .. 'queue:' .. grp, eid)
  redis.call('ZREM', P .. 'age:' .. grp, eid)
end
local function take(aid, eid, now)
  redis.call('HINCRBY', P .. 'agent:' .. aid, 'load', 1)
  redis.call('HSET', P .. 'agent:' .. aid, 'idle_since', now)
  redis.call('SADD', P .. 'chats:' .. aid, eid)
  refresh(aid)
end
local function free(aid, eid)
  redis.call('HINCRBY', P .. 'agent:' .. aid, 'load', -1)
  redis.call('SREM', P .. 'chats:' .. aid, eid)
  refresh(aid)
end
""" + OFFER_LUA + """
local function index(eid, now, customer, open)
  redis.call('ZADD', P .. 'created', now, eid)
  if open then redis.call('ZADD', P .. 'open', now, eid) end
  if customer ~= '' then redis.call('ZADD', P .. 'cust:' .. customer, now, eid) end
end
local function group_stats(g)
  local online = redis.call('SMEMBERS', P .. 'online:' .. g)
  local capacity, spare = 0, 0
  for _, aid in ipairs(online) do
    local a = redis.call('HMGET', P .. 'agent:' .. aid, 'max_chats', 'load')
    capacity = capacity + tonumber(a[1])
    spare = spare + math.max(0, tonumber(a[1]) - tonumber(a[2]))
  end
  return #online, capacity, spare
end
"""
