"""The Redis timer store: each step one Lua script, so claims and completions are atomic across processes.

Keys (under the store's hash-tagged prefix, so one Redis Cluster slot with the events they write):
  timers          zset   scheduled timers by due time (member: the timer's key)
  timers:leased   zset   claimed timers by lease deadline (a lapsed one is claimed again)
  timer:<key>     hash   kind, due, payload (JSON), attempt, lease (token of the current claim, "" if none)
  tonce:<key>     string set by a ``once`` scheduling, expires after ONCE_DAYS
  clog:<subject>  list   JSON clock-log entries of ``chat:<id>`` / ``ticket:<id>`` (kept like the chat's history)
The events a completion writes go to the store's ``events`` stream, in the store's format (fields ``to``, ``e``).
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Optional

from handoff.clocks.timers import ONCE_DAYS, Fired, Timer, TimerStore

_PUT = """
local function put(P, key, kind, due, payload)
  redis.call('DEL', P .. 'timer:' .. key)
  redis.call('HSET', P .. 'timer:' .. key, 'kind', kind, 'due', due, 'payload', payload, 'attempt', 0, 'lease', '')
  redis.call('ZREM', P .. 'timers:leased', key)
  redis.call('ZADD', P .. 'timers', due, key)
end
"""

SCHEDULE = _PUT + """
if ARGV[6] ~= '0' and not redis.call('SET', ARGV[1] .. 'tonce:' .. ARGV[2], '1', 'NX', 'EX', ARGV[6]) then
  return 0
end
put(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""

CANCEL = """
local P, key = ARGV[1], ARGV[2]
redis.call('ZREM', P .. 'timers', key)
redis.call('ZREM', P .. 'timers:leased', key)
return redis.call('DEL', P .. 'timer:' .. key)
"""

# ARGV: P, now, lease_until, limit, token prefix. Lapsed leases first (their timers are the oldest due), then
# scheduled timers due by now. Returns flat [key, kind, due, payload, attempt, lease, ...].
CLAIM = """
local P, now, until_, limit, tok = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5]
local out, n = {}, 0
local function take(key)
  local tk = P .. 'timer:' .. key
  if redis.call('EXISTS', tk) == 0 then  -- its hash is gone (deleted by hand, evicted): drop, never garble
    redis.call('ZREM', P .. 'timers', key)
    redis.call('ZREM', P .. 'timers:leased', key)
    return
  end
  n = n + 1
  local lease = tok .. n
  redis.call('HSET', tk, 'lease', lease)
  local attempt = redis.call('HINCRBY', tk, 'attempt', 1)
  redis.call('ZADD', P .. 'timers:leased', until_, key)
  local f = redis.call('HMGET', tk, 'kind', 'due', 'payload')
  for _, v in ipairs({key, f[1], f[2], f[3], tostring(attempt), lease}) do out[#out + 1] = v end
end
for _, key in ipairs(redis.call('ZRANGEBYSCORE', P .. 'timers:leased', '-inf', now, 'LIMIT', 0, limit)) do
  take(key)
end
if n < limit then
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', now, 'LIMIT', 0, limit - n)) do
    redis.call('ZREM', P .. 'timers', key)
    take(key)
  end
end
return out
"""

# ARGV: P, key, lease, fired (JSON {events: [[to, ev-json]], log: [[subject, entry-json]], schedule: [[k, kind,
# due, payload-json]]}). 1 when written, 0 when the lease was lost.
COMPLETE = _PUT + """
local P, key, lease = ARGV[1], ARGV[2], ARGV[3]
if lease == '' or redis.call('HGET', P .. 'timer:' .. key, 'lease') ~= lease then return 0 end
redis.call('DEL', P .. 'timer:' .. key)
redis.call('ZREM', P .. 'timers:leased', key)
local fired = cjson.decode(ARGV[4])
for _, ev in ipairs(fired.events) do redis.call('XADD', P .. 'events', '*', 'to', ev[1], 'e', ev[2]) end
for _, entry in ipairs(fired.log) do redis.call('RPUSH', P .. 'clog:' .. entry[1], entry[2]) end
for _, s in ipairs(fired.schedule) do put(P, s[1], s[2], s[3], s[4]) end
return 1
"""

RETRY = """
local P, key, lease, due = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local tk = P .. 'timer:' .. key
if lease == '' or redis.call('HGET', tk, 'lease') ~= lease then return 0 end
redis.call('HSET', tk, 'lease', '', 'due', due)
redis.call('ZREM', P .. 'timers:leased', key)
redis.call('ZADD', P .. 'timers', due, key)
return 1
"""


class RedisTimers(TimerStore):
    """A mixin of handoff.redis_store.RedisStore (its client ``r`` and prefix ``p``)."""
    r: Any
    p: str

    def _timer_scripts(self) -> Dict[str, Any]:
        if not hasattr(self, "_tscripts"):
            self._tscripts = {name: self.r.register_script(src) for name, src in
                              {"schedule": SCHEDULE, "cancel": CANCEL, "claim": CLAIM, "complete": COMPLETE,
                               "retry": RETRY}.items()}
        return self._tscripts

    async def _timer_run(self, name: str, *args: Any) -> Any:
        return await self._timer_scripts()[name](keys=[f"{self.p}events"], args=[self.p, *args])  # KEYS: routing

    async def timer_now(self) -> float:
        seconds, micros = await self.r.time()
        return int(seconds) + int(micros) / 1e6

    async def schedule_timer(self, key: str, kind: str, due: float, payload: Dict[str, Any],
                             once: bool = False) -> bool:
        return bool(await self._timer_run("schedule", key, kind, repr(float(due)), json.dumps(payload),
                                          ONCE_DAYS * 86400 if once else 0))

    async def cancel_timer(self, key: str) -> bool:
        return bool(await self._timer_run("cancel", key))

    async def get_timer(self, key: str) -> Optional[Timer]:
        f = await self.r.hgetall(f"{self.p}timer:{key}")
        if not f:
            return None
        return Timer(key, f["kind"], float(f["due"]), json.loads(f["payload"]), int(f["attempt"]), f["lease"])

    async def claim_timers(self, now: float, lease_seconds: float, limit: int) -> List[Timer]:
        flat = await self._timer_run("claim", repr(float(now)), repr(float(now + lease_seconds)), int(limit),
                                     uuid.uuid4().hex + ":")
        return [Timer(flat[i], flat[i + 1], float(flat[i + 2]), json.loads(flat[i + 3]), int(flat[i + 4]),
                      flat[i + 5]) for i in range(0, len(flat), 6)]

    async def complete_timer(self, timer: Timer, fired: Fired) -> bool:
        # None values left out, as the store's own events (Lua tables drop nil) and the in-memory twin do
        body = {"events": [[to or "", json.dumps({k: v for k, v in ev.items() if v is not None})]
                           for to, ev in fired.events],
                "log": [[subject, json.dumps(entry)] for subject, entry in fired.log],
                "schedule": [[s.key, s.kind, repr(float(s.due)), json.dumps(s.payload)] for s in fired.schedule]}
        # cjson decodes [] as an empty object, which ipairs walks as empty too
        return bool(await self._timer_run("complete", timer.key, timer.lease, json.dumps(body)))

    async def retry_timer(self, timer: Timer, due: float) -> bool:
        return bool(await self._timer_run("retry", timer.key, timer.lease, repr(float(due))))

    async def timer_counts(self, now: float) -> Dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(f"{self.p}timers")
        pipe.zcount(f"{self.p}timers", "-inf", now)
        pipe.zcard(f"{self.p}timers:leased")
        scheduled, due, leased = await pipe.execute()
        return {"scheduled": scheduled, "due": due, "leased": leased}

    async def clock_log(self, subject: str) -> List[Dict[str, Any]]:
        return [json.loads(x) for x in await self.r.lrange(f"{self.p}clog:{subject}", 0, -1)]
