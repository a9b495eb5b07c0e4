"""The Redis store's Lua for a chat's life outside the offers: created (``CREATE``; ``ESCALATE``: the bot's handoff in
one step, with the fallback chain, the language rule and the ticket when nobody is online), leaving the queue
(ticket or abandoned), the survey, messages and internal notes. Each runs as one script: atomic across processes."""
from __future__ import annotations

from handoff.redis_scripts.prelude import PRELUDE

CREATE = PRELUDE + """
local id, cid, group, priority, now, rnk, doc, key, facets, customer, lang = ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local existing = redis.call('GET', P .. 'conv:' .. cid)
if existing then
  local f = redis.call('HMGET', P .. 'esc:' .. existing, 'status', 'request_key')
  if f[1] == 'waiting' or f[1] == 'offered' or f[1] == 'assigned' or (key ~= '' and f[2] == key) then
    return {existing, 0}
  end
end
redis.call('HSET', P .. 'esc:' .. id, 'id', id, 'conversation_id', cid, 'skill_group', group,
           'priority', priority, 'created_at', now, 'request_key', key, 'facets', facets, 'language', lang,
           'readers', lang)
index(id, now, customer, true)
log(id, 'waiting', now, nil, '')
redis.call('SET', P .. 'doc:' .. id, doc)
redis.call('SET', P .. 'conv:' .. cid, id)
enqueue(group, id, rnk, now)
emit('', {type = 'created', escalation = id, conversation_id = cid, group = group, priority = tonumber(priority),
          at = tonumber(now)})
return {id, 1}
"""

ESCALATE = PRELUDE + """
local id, cid, priority, now, rnk, doc, key, deadline, ticket_outcome, facets, customer =
  ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local lang, over, lang_why = ARGV[13], ARGV[14], ARGV[15]
local chain = {}
for i = 16, #ARGV do table.insert(chain, ARGV[i]) end
local existing = redis.call('GET', P .. 'conv:' .. cid)
local eid, created = nil, 0
if existing then
  local f = redis.call('HMGET', P .. 'esc:' .. existing, 'status', 'request_key')
  if f[1] == 'waiting' or f[1] == 'offered' or f[1] == 'assigned' or (key ~= '' and f[2] == key) then
    eid = existing
  end
end
local skipped = {}
if not eid then
  eid, created = id, 1
  -- The first group of the chain with someone online who reads the chat's language; with no reader online
  -- anywhere, the first group with anyone online, where the language rule's overflow readers may take it.
  local group, readers, note = nil, lang, ''
  for _, g in ipairs(chain) do
    if reader_online(g, lang) then group = g break end
    table.insert(skipped, g)
  end
  if not group then
    skipped = {}
    for _, g in ipairs(chain) do
      if redis.call('SCARD', P .. 'online:' .. g) > 0 then group = g break end
      table.insert(skipped, g)
    end
    if group and over ~= lang then readers, note = over, lang_why end
  end
  redis.call('HSET', P .. 'esc:' .. id, 'id', id, 'conversation_id', cid, 'skill_group', group or chain[1],
             'priority', priority, 'created_at', now, 'request_key', key, 'facets', facets, 'language', lang,
             'readers', readers, 'lang_note', note)
  index(id, now, customer, group ~= nil)
  if group and #skipped > 0 then redis.call('HSET', P .. 'esc:' .. id, 'overflow', table.concat(skipped, ',')) end
  log(id, 'waiting', now, nil, note)
  redis.call('SET', P .. 'doc:' .. id, doc)
  redis.call('SET', P .. 'conv:' .. cid, id)
  emit('', {type = 'created', escalation = id, conversation_id = cid, group = group or chain[1],
            priority = tonumber(priority), at = tonumber(now)})
  if group then
    enqueue(group, id, rnk, now)
    offer_head(group, now, deadline)
  else
    redis.call('HSET', P .. 'esc:' .. id, 'outcome', ticket_outcome)
    local why = 'nobody online in ' .. table.concat(chain, ' -> ')
    log(id, 'ticket', now, nil, why)
    emit('', {type = 'ticket', escalation = id, conversation_id = cid, group = chain[1], detail = why,
              outcome = cjson.decode(ticket_outcome), at = tonumber(now)})
  end
end
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'skill_group', 'priority', 'agent_id', 'created_at',
                     'outcome', 'conversation_id', 'overflow', 'language', 'readers', 'lang_note')
local position = false
if f[1] == 'waiting' then position = redis.call('ZRANK', P .. 'queue:' .. f[2], eid) + 1 end
local online, capacity, spare = group_stats(f[2])
return {eid, created, f[1], f[2], f[3], f[4] or '', f[5], f[6] or '', position or 0, online, capacity, spare,
        f[8] or '', f[7], f[9] or '', f[10] or '', f[11] or ''}
"""

LEAVE_QUEUE = PRELUDE + """
local eid, status, now, detail, outcome = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'skill_group', 'conversation_id')
if not f[1] then return {'missing'} end
if f[1] ~= 'waiting' and f[1] ~= 'offered' then return {'conflict', f[1]} end
if f[1] == 'offered' then
  free(f[2], eid)
  redis.call('ZREM', P .. 'offers', eid)
end
dequeue(f[3], eid)
redis.call('DEL', P .. 'lapsed:' .. eid)
redis.call('ZREM', P .. 'open', eid)
redis.call('HDEL', P .. 'esc:' .. eid, 'agent_id', 'offer_deadline')
redis.call('HSET', P .. 'esc:' .. eid, 'outcome', outcome)
log(eid, status, now, f[2] or nil, detail)
emit(f[2] or '', {type = status, escalation = eid, conversation_id = f[4], group = f[3], agent = f[2] or nil,
                  detail = detail, outcome = cjson.decode(outcome), at = tonumber(now)})
return {'ok'}
"""

SET_SURVEY = PRELUDE + """
local eid, survey, now, detail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ek = P .. 'esc:' .. eid
local f = redis.call('HMGET', ek, 'status', 'agent_id', 'conversation_id', 'skill_group', 'survey')
if not f[1] then return {'missing'} end
if f[1] ~= 'closed' then return {'conflict', f[1]} end
if f[5] then return {'answered'} end
redis.call('HSET', ek, 'survey', survey)
log(eid, 'closed', now, f[2] or nil, detail)
emit(f[2] or '', {type = 'survey', escalation = eid, conversation_id = f[3], group = f[4], agent = f[2] or nil,
                  survey = cjson.decode(survey), at = tonumber(now)})
return {'ok', redis.call('HGETALL', ek)}
"""

ADD_MESSAGE = PRELUDE + """
local eid, speaker, author, text, now, mid = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7] or ''
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'conversation_id')
if not f[1] then return {'missing'} end
if mid ~= '' then  -- a repeat of a message id answers the message stored first, and emits nothing
  local seen = redis.call('HGET', P .. 'msgids:' .. eid, speaker .. ':' .. author .. ':' .. mid)
  if seen then return {'ok', redis.call('LINDEX', P .. 'msgs:' .. eid, tonumber(seen) - 1)} end
end
if speaker == 'agent' then
  if f[1] ~= 'assigned' or f[2] ~= author then return {'conflict', f[1]} end
elseif f[1] ~= 'waiting' and f[1] ~= 'offered' and f[1] ~= 'assigned' then return {'conflict', f[1]} end
local seq = redis.call('RPUSH', P .. 'msgs:' .. eid, '')
local m = {seq = seq, speaker = speaker, text = text, at = tonumber(now), author = author ~= '' and author or nil,
           message_id = mid ~= '' and mid or nil}
local raw = cjson.encode(m)
redis.call('LSET', P .. 'msgs:' .. eid, seq - 1, raw)
if mid ~= '' then redis.call('HSET', P .. 'msgids:' .. eid, speaker .. ':' .. author .. ':' .. mid, seq) end
emit(f[2] or '', {type = 'message', escalation = eid, conversation_id = f[3], agent = f[2] or nil, message = m,
                  at = tonumber(now)})
return {'ok', raw}
"""

ADD_NOTE = PRELUDE + """
local eid, author, text, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local f = redis.call('HMGET', P .. 'esc:' .. eid, 'status', 'agent_id', 'conversation_id')
if not f[1] then return {'missing'} end
local id = redis.call('RPUSH', P .. 'notes:' .. eid, '')
local n = {id = id, text = text, author = author, at = tonumber(now)}
local raw = cjson.encode(n)
redis.call('LSET', P .. 'notes:' .. eid, id - 1, raw)
emit(f[2] or '', {type = 'note', escalation = eid, conversation_id = f[3], agent = f[2] or nil, note = n,
                  at = tonumber(now)})
return {'ok', raw}
"""
