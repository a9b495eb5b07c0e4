"""The Redis store's Lua for the steps that take or free an agent's slot: offer the head of a queue, accept, lapse
(offers past their deadline back to the queue, the agent into the chat's lapsed set, set away after missing
``max_missed`` in a row), finish (the freed slot offered the next chat at once) and transfer. Each runs as one
script: atomic across processes."""
from __future__ import annotations

from handoff.redis_scripts.prelude import PRELUDE

OFFER_NEXT = PRELUDE + """
local r = offer_head(ARGV[2], ARGV[3], ARGV[4])
if not r then return false end
return r
"""

ACCEPT = PRELUDE + """
local eid, aid, now = ARGV[2], ARGV[3], ARGV[4]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'conversation_id', 'skill_group')
if not f[1] then return {'missing'} end
if f[2] ~= aid then return {'not_yours', f[1]} end
if f[1] ~= 'offered' then return {'conflict', f[1]} end
redis.call('HDEL', P .. 'esc:' .. eid, 'offer_deadline')
redis.call('ZREM', P .. 'offers', eid)
redis.call('DEL', P .. 'lapsed:' .. eid)
if redis.call('EXISTS', P .. 'agent:' .. aid) == 1 then redis.call('HSET', P .. 'agent:' .. aid, 'missed', 0) end
log(eid, 'assigned', now, aid, '')
emit(aid, {type = 'assigned', escalation = eid, conversation_id = f[3], group = f[4], agent = aid,
           agent_name = redis.call('HGET', P .. 'cred:' .. aid, 'name') or aid, at = tonumber(now)})
return {'ok', redis.call('HGETALL', P .. 'esc:' .. eid)}
"""

EXPIRE = PRELUDE + """
local now, spp, max_missed = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', P .. 'offers', '-inf', now)
local out = {}
for _, eid in ipairs(due) do
  redis.call('ZREM', P .. 'offers', eid)
  local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'skill_group', 'created_at', 'priority',
                       'conversation_id')
  if f[1] == 'offered' then
    free(f[2], eid)
    redis.call('HDEL', P .. 'esc:' .. eid, 'agent_id', 'offer_deadline')
    log(eid, 'waiting', now, f[2], 'offer not accepted in time')
    enqueue(f[3], eid, tonumber(f[4]) - tonumber(f[5]) * spp, now)
    emit(f[2], {type = 'requeued', escalation = eid, conversation_id = f[6], group = f[3], agent = f[2],
                reason = 'offer not accepted in time', at = tonumber(now)})
    redis.call('SADD', P .. 'lapsed:' .. eid, f[2])
    redis.call('EXPIRE', P .. 'lapsed:' .. eid, 86400)
    local ak = P .. 'agent:' .. f[2]
    if redis.call('EXISTS', ak) == 1 then
      local missed = redis.call('HINCRBY', ak, 'missed', 1)
      if max_missed > 0 and missed >= max_missed and redis.call('HGET', ak, 'status') == 'online' then
        local why = 'missed ' .. max_missed .. ' offers in a row'
        redis.call('HSET', ak, 'status', 'away', 'reason', why)
        refresh(f[2])
        emit(f[2], {type = 'agent_status', agent = f[2], status = 'away', reason = why, at = tonumber(now)})
      end
    end
    table.insert(out, eid)
    table.insert(out, f[2])
  end
end
return out
"""

FINISH = PRELUDE + """
local eid, aid, status, now, detail, outcome, deadline = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'conversation_id', 'skill_group')
if not f[1] then return {'missing'} end
if aid ~= '' and f[2] ~= aid then return {'not_yours', f[1]} end
if f[1] ~= 'assigned' then return {'conflict', f[1]} end
free(f[2], eid)
redis.call('ZREM', P .. 'open', eid)
redis.call('HSET', P .. 'esc:' .. eid, 'outcome', outcome)
log(eid, status, now, f[2], detail)
emit(f[2], {type = status, escalation = eid, conversation_id = f[3], group = f[4], agent = f[2], detail = detail,
            outcome = cjson.decode(outcome), at = tonumber(now)})
-- The freed slot takes the next waiting chat of the agent's groups at once (the sweeper would, a moment later).
local skills = redis.call('HGET', P .. 'agent:' .. f[2], 'skills')
if skills then
  for _, g in ipairs(cjson.decode(skills)) do offer_head(g, now, deadline) end
end
return {'ok', redis.call('HGETALL', P .. 'esc:' .. eid)}
"""

TRANSFER = PRELUDE + """
local eid, by, now, spp, to_group, to_agent, deadline, detail, from_agent =
  ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local ek = P .. 'esc:' .. eid
local f = redis.call('HMGET', ek, 'status', 'agent_id', 'skill_group', 'created_at', 'priority', 'conversation_id')
if not f[1] then return {'missing'} end
local st, old = f[1], f[2]
if from_agent ~= '' and ((st ~= 'offered' and st ~= 'assigned') or old ~= from_agent) then
  return {'moved_on', st}
end
if by ~= '' then
  if st ~= 'assigned' or old ~= by then return {'conflict', st} end
elseif st ~= 'waiting' and st ~= 'offered' and st ~= 'assigned' then return {'conflict', st} end
local group = to_group
if st == 'waiting' and to_agent == '' and group == f[3] then return {'conflict', 'already waiting in ' .. group} end
if to_agent ~= '' then
  local a = redis.call('HMGET', P .. 'agent:' .. to_agent, 'skills', 'max_chats', 'status', 'load')
  if not a[1] then return {'no_agent'} end
  if a[3] ~= 'online' or tonumber(a[4]) >= tonumber(a[2]) then return {'agent_busy', a[3]} end
  if to_agent == old then return {'conflict', st} end
  if group == '' then group = f[3] end
end
if st == 'waiting' then dequeue(f[3], eid) end
if st == 'offered' then redis.call('ZREM', P .. 'offers', eid) end
if st == 'offered' or st == 'assigned' then free(old, eid) end
redis.call('HSET', ek, 'skill_group', group)
local ev = {type = 'transferred', escalation = eid, conversation_id = f[6], from_group = f[3], group = group,
            from_agent = old or nil, reason = detail, at = tonumber(now)}
if to_agent ~= '' then
  redis.call('HSET', ek, 'agent_id', to_agent, 'offer_deadline', deadline)
  log(eid, 'offered', now, to_agent, detail)
  redis.call('ZADD', P .. 'offers', deadline, eid)
  take(to_agent, eid, now)
  ev.agent = to_agent
  ev.deadline = tonumber(deadline)
  emit(to_agent, {type = 'offered', escalation = eid, conversation_id = f[6], group = group, agent = to_agent,
                  priority = tonumber(f[5]), deadline = tonumber(deadline), at = tonumber(now)})
else
  redis.call('HDEL', ek, 'agent_id', 'offer_deadline')
  log(eid, 'waiting', now, nil, detail)
  enqueue(group, eid, tonumber(f[4]) - tonumber(f[5]) * spp, now)
end
emit(old or '', ev)
return {'ok'}
"""
