"""Where the surge rule keeps a group's surge: a store mixin, Redis (one Lua script) and its in-memory twin.

``surge_change`` is the rule's one atomic step: it replaces (or drops) a group's surge only if the surge stored
is still the one the caller read (compared by its ``since``, "" for none), and writes the step's events and
clock-log entries with it. So when two service processes decide "start" in the same sweep, one writes the
surge and its ``surge_started`` event, the other writes nothing: a surge starts, and ends, once.

Redis keys (under the store's hash-tagged prefix, with the events they write):
  surge:<group>         hash   since (repr of the epoch start time), state (JSON of common.surge.SurgeState)
  clog:group:<group>    list   JSON clock-log entries of the group (surge_started, surge_ended)
"""
from __future__ import annotations

import abc
import asyncio
import copy
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.surge import SurgeState
from handoff.store import Event

Events = Sequence[Tuple[Sequence[str], Dict[str, Any]]]  # (agent ids it is for, event)
Log = Sequence[Tuple[str, Dict[str, Any]]]  # (subject, entry)


def since_key(state: Optional[SurgeState]) -> str:
    """A surge's identity as stored: the repr of its start time ("" for none)."""
    return repr(float(state.since)) if state is not None else ""


class SurgeStore(abc.ABC):
    @abc.abstractmethod
    async def surge_states(self, groups: Sequence[str]) -> Dict[str, SurgeState]:
        """The surges that last, by group (groups without one are left out)."""

    @abc.abstractmethod
    async def surge_change(self, group: str, expected: Optional[SurgeState], new: Optional[SurgeState],
                           events: Events = (), log: Log = ()) -> bool:
        """If the group's stored surge is ``expected`` (same ``since``; None: no surge): store ``new`` (None:
        drop it) and append ``events`` to the event stream and ``log`` to the clock logs, in one step. False,
        and nothing written, when another process changed it first."""


# ARGV: P, group, expected since ("" for none), new since ("" to drop), new state JSON, events JSON
# [[to, event-json]], log JSON [[subject, entry-json]]. 1 when written.
SURGE_CHANGE = """
local P, group, expected = ARGV[1], ARGV[2], ARGV[3]
local key = P .. 'surge:' .. group
local current = redis.call('HGET', key, 'since') or ''
if current ~= expected then return 0 end
if ARGV[4] == '' then
  redis.call('DEL', key)
else
  redis.call('HSET', key, 'since', ARGV[4], 'state', ARGV[5])
end
for _, ev in ipairs(cjson.decode(ARGV[6])) do redis.call('XADD', P .. 'events', '*', 'to', ev[1], 'e', ev[2]) end
for _, entry in ipairs(cjson.decode(ARGV[7])) do redis.call('RPUSH', P .. 'clog:' .. entry[1], entry[2]) end
return 1
"""


class RedisSurges(SurgeStore):
    """A mixin of handoff.redis_store.RedisStore (its client ``r`` and prefix ``p``)."""
    r: Any
    p: str

    async def surge_states(self, groups: Sequence[str]) -> Dict[str, SurgeState]:
        pipe = self.r.pipeline(transaction=False)
        for group in groups:
            pipe.hget(f"{self.p}surge:{group}", "state")
        out = {}
        for group, raw in zip(groups, await pipe.execute()):
            if raw:
                out[group] = SurgeState.from_dict(json.loads(raw))
        return out

    async def surge_change(self, group: str, expected: Optional[SurgeState], new: Optional[SurgeState],
                           events: Events = (), log: Log = ()) -> bool:
        if not hasattr(self, "_surge_script"):
            self._surge_script = self.r.register_script(SURGE_CHANGE)
        evs = [[",".join(to), json.dumps(ev)] for to, ev in events]
        entries = [[subject, json.dumps(entry)] for subject, entry in log]
        # cjson decodes [] as an empty object, which ipairs walks as empty too
        return bool(await self._surge_script(keys=[f"{self.p}events"], args=[  # KEYS[1]: routing on a cluster
            self.p, group, since_key(expected), since_key(new), json.dumps(new.as_dict()) if new else "",
            json.dumps(evs), json.dumps(entries)]))


class MemorySurges(SurgeStore):
    """The in-memory twin: a mixin of handoff.memory_store.MemoryStore (its event list), under its own lock.
    The clock-log entries go to the timer twin's logs (handoff/clocks/memory_timers.py), read by clock_log."""

    def _surge_state(self) -> Dict[str, Any]:
        if not hasattr(self, "_surges"):
            self._surges: Dict[str, Any] = {"states": {}, "lock": asyncio.Lock()}
        return self._surges

    async def surge_states(self, groups: Sequence[str]) -> Dict[str, SurgeState]:
        states = self._surge_state()["states"]
        return {g: states[g] for g in groups if g in states}

    async def surge_change(self, group: str, expected: Optional[SurgeState], new: Optional[SurgeState],
                           events: Events = (), log: Log = ()) -> bool:
        s = self._surge_state()
        async with s["lock"]:
            if since_key(s["states"].get(group)) != since_key(expected):
                return False
            if new is None:
                s["states"].pop(group, None)
            else:
                s["states"][group] = new
            store: Any = self
            for to, event in events:
                store._events.append(Event(f"{len(store._events) + 1}-0", list(to), copy.deepcopy(event)))
                if store._new_event is not None:
                    store._new_event.set()
            logs: List[Any] = []
            for subject, entry in log:
                logs = store._timer_state()["logs"].setdefault(subject, [])
                logs.append(copy.deepcopy(entry))
            return True
