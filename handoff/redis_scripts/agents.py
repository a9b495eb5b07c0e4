"""The Redis store's Lua for agents and queues: set an agent's skills, capacity and status; drop a lost agent from
the presence record once (``FORGET_AGENT``: the caller that dropped them handles them); each group's waiting count,
oldest wait and capacity."""
from __future__ import annotations

from handoff.redis_scripts.prelude import PRELUDE

SET_AGENT = PRELUDE + """
local aid, skills, max_chats, status, now, reason, langs = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8]
local ak = P .. 'agent:' .. aid
local old = redis.call('HMGET', ak, 'skills', 'status', 'idle_since', 'load')
if old[1] then
  for _, s in ipairs(cjson.decode(old[1])) do
    redis.call('ZREM', P .. 'free:' .. s, aid)
    redis.call('SREM', P .. 'online:' .. s, aid)
  end
end
local idle = now
if old[2] == 'online' and old[3] then idle = old[3] end
redis.call('HSET', ak, 'id', aid, 'skills', skills, 'max_chats', max_chats, 'status', status,
           'load', old[4] or 0, 'idle_since', idle, 'reason', reason, 'missed', 0, 'languages', langs)
refresh(aid)
if old[2] ~= status then
  emit(aid, {type = 'agent_status', agent = aid, status = status, reason = reason ~= '' and reason or nil,
             at = tonumber(now)})
end
return 1
"""

FORGET_AGENT = """
local key, aid, before = KEYS[1], ARGV[1], ARGV[2]
local seen = redis.call('ZSCORE', key, aid)
if not seen then return 0 end
if before ~= '' and tonumber(seen) >= tonumber(before) then return 0 end
return redis.call('ZREM', key, aid)
"""

QUEUE_STATS = PRELUDE + """
local out = {}
for i = 2, #ARGV do
  local g = ARGV[i]
  local waiting = redis.call('ZCARD', P .. 'queue:' .. g)
  local oldest = redis.call('ZRANGE', P .. 'age:' .. g, 0, 0, 'WITHSCORES')
  local online, capacity, spare = group_stats(g)
  table.insert(out, cjson.encode({group = g, waiting = waiting, oldest = oldest[2] or false, online = online,
                                  capacity = capacity, free = spare}))
end
return out
"""
