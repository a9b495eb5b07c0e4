"""Retention of the event stream ``<prefix>events``: what a reader has not acknowledged is never trimmed.

The stream is the service's published interface: the bot's bridge reads it through a Redis Streams consumer
group (``bridge``) and acknowledges each event once it is fully handled (bot/bridge/stream.py). Writing an
event never trims the stream; the sweeper calls ``TRIM_EVENTS`` (every HANDOFF_SWEEP_SECONDS, any process)
which, atomically:

- with consumer groups: trims by MINID = the oldest id any group still needs: the oldest entry of its
  pending list (delivered, not acknowledged) or, when nothing is pending, its last-delivered id. A group
  that lags (its bridge stopped for hours) keeps everything since; there is no count cap then, on purpose:
  memory grows instead of events being lost (``trim_events`` reports the length; the sweeper warns when it
  passes the cap). A group nobody will read again is removed with ``XGROUP DESTROY <prefix>events <group>``.
- without any group: keeps about the newest HANDOFF_EVENTS_CAP entries (a safety cap; the service's own
  WebSocket fan-out reads live and needs no history).

Trimming is approximate (``~``: whole stream nodes), so a little more than needed is kept, never less; each
call trims at most 10,000 entries (XTRIM's default LIMIT with ``~``), so a sweep never holds Redis long and a
backlog is worked off over a few sweeps.
"""
from __future__ import annotations

TRIM_EVENTS = """
local key, cap = KEYS[1], tonumber(ARGV[1])
if redis.call('EXISTS', key) == 0 then return {0, 0, ''} end
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am < bm end
  return as < bs
end
local minid = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local needed = f['last-delivered-id']
  if tonumber(f['pending']) > 0 then
    needed = redis.call('XPENDING', key, f['name'])[2]
  end
  if minid == nil or older(needed, minid) then minid = needed end
end
local trimmed
if minid then
  trimmed = redis.call('XTRIM', key, 'MINID', '~', minid)
else
  trimmed = redis.call('XTRIM', key, 'MAXLEN', '~', cap)
end
return {trimmed, redis.call('XLEN', key), minid or ''}
"""
