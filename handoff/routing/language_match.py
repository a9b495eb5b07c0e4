"""Matching a waiting chat to an agent who reads its language: the Lua the Redis store's scripts share, the two
store steps of the language overflow, and their in-memory twins (mixins of RedisStore and MemoryStore).

The rule is common/language_rules.py ``reads``: an agent may take a chat when they read one of the chat's
*readers* (``esc:<id>`` field ``readers``, "zh" or "zh,en"; "*" or none: anyone). An agent's languages are the
``agent:<id>`` field ``languages`` (JSON list; ``["en"]`` when missing: agents saved before languages existed).

``offer_head`` (used by every script that offers: escalate, offer_next, finish) walks the group's queue in rank
order and offers the first chat that some free agent can read, to the best-ranked such agent (fewest chats,
idle longest, not one who let this chat's offer lapse unless all of them did). So a Chinese chat at the head
that no free agent reads does not hold up the English chat behind it; it keeps its place for the next reader.
Cost: one pass over the free agents, then over the queue until a match (both short in practice).

``widen_readers`` (the sweeper's language overflow) sets a waiting chat's readers and writes the reason in its
history and the event stream, once: only while the chat still waits with the readers the caller saw.
"""
from __future__ import annotations

import abc
from typing import Any, List, Sequence

from common.language_rules import parse_languages, reads

# Defines agent_langs, can_read, reader_online and offer_head; needs PRELUDE's P, log, emit, dequeue, take.
OFFER_LUA = """
local function agent_langs(aid)
  local raw = redis.call('HGET', P .. 'agent:' .. aid, 'languages')
  local s = {}
  if not raw or raw == '' then s['en'] = true return s end
  for _, l in ipairs(cjson.decode(raw)) do s[l] = true end
  return s
end
local function can_read(langs, readers)
  if not readers or readers == '' then return true end
  for l in string.gmatch(readers, '[^,]+') do
    if l == '*' or langs[l] then return true end
  end
  return false
end
local function reader_online(g, readers)
  for _, aid in ipairs(redis.call('SMEMBERS', P .. 'online:' .. g)) do
    if can_read(agent_langs(aid), readers) then return true end
  end
  return false
end
local function offer_to(group, eid, aid, now, deadline)
  dequeue(group, eid)
  redis.call('HSET', P .. 'esc:' .. eid, 'agent_id', aid, 'offer_deadline', deadline)
  log(eid, 'offered', now, aid, '')
  redis.call('ZADD', P .. 'offers', deadline, eid)
  take(aid, eid, now)
  local f = redis.call('HMGET', P .. 'esc:' .. eid, 'conversation_id', 'priority')
  emit(aid, {type = 'offered', escalation = eid, conversation_id = f[1], group = group, priority = tonumber(f[2]),
             agent = aid, deadline = tonumber(deadline), at = tonumber(now)})
  return {eid, aid}
end
local function able_agent(agents, langs, eid)
  -- The best-ranked free agent who reads the chat and has not let its offer lapse; if all have, the best-ranked.
  local readers = redis.call('HGET', P .. 'esc:' .. eid, 'readers')
  local lk = P .. 'lapsed:' .. eid
  local lapsed = redis.call('EXISTS', lk) == 1
  local first = nil
  for i, a in ipairs(agents) do
    if can_read(langs[i], readers) then
      first = first or a
      if not lapsed or redis.call('SISMEMBER', lk, a) == 0 then return a end
    end
  end
  return first
end
local function offer_head(group, now, deadline)
  local agents = redis.call('ZRANGE', P .. 'free:' .. group, 0, -1)
  if #agents == 0 then return nil end
  local langs = {}
  for i, a in ipairs(agents) do langs[i] = agent_langs(a) end
  local start = 0
  while true do  -- the queue in pages of 50: the head usually matches, so a long queue is not read whole
    local page = redis.call('ZRANGE', P .. 'queue:' .. group, start, start + 49)
    if #page == 0 then return nil end
    for _, eid in ipairs(page) do
      local aid = able_agent(agents, langs, eid)
      if aid then return offer_to(group, eid, aid, now, deadline) end
    end
    start = start + 50
  end
end
"""

WIDEN = """
local eid, seen, readers, now, detail = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local k = P .. 'esc:' .. eid
local f = redis.call('HMGET', k, 'status', 'readers', 'conversation_id', 'skill_group', 'language')
if not f[1] then return -1 end
if f[1] ~= 'waiting' or (f[2] or '') ~= seen then return 0 end
redis.call('HSET', k, 'readers', readers, 'lang_note', detail)
redis.call('RPUSH', P .. 'hist:' .. eid, cjson.encode({at = tonumber(now), status = 'waiting', detail = detail}))
emit('', {type = 'language_overflow', escalation = eid, conversation_id = f[3], group = f[4], language = f[5],
          readers = readers, reason = detail, at = tonumber(now)})
return 1
"""

GROUP_LANGUAGES = """
local seen, out = {}, {}
for _, aid in ipairs(redis.call('SMEMBERS', P .. 'online:' .. ARGV[2])) do
  for l in pairs(agent_langs(aid)) do
    if not seen[l] then seen[l] = true table.insert(out, l) end
  end
end
return out
"""


class LanguageSteps(abc.ABC):
    """The store's language steps (part of handoff/store.py Store)."""

    @abc.abstractmethod
    async def widen_readers(self, escalation_id: str, seen: Sequence[str], readers: Sequence[str], now: float,
                            detail: str) -> bool:
        """The language overflow of a waiting chat: its readers ``seen`` become ``readers``, with ``detail`` in its
        history, ``language_note`` and a ``language_overflow`` event. False when it no longer waits with ``seen``
        (offered meanwhile, or another process widened it). NotFound for no such chat."""

    @abc.abstractmethod
    async def group_languages(self, group: str) -> List[str]:
        """The languages the group's online agents read, sorted."""


def readers_field(readers: Sequence[str]) -> str:
    """How the Redis store keeps a chat's readers ("" = anyone)."""
    return ",".join(readers)


class RedisLanguages:
    """Language steps of the Redis store (its ``_run`` runs PRELUDE + the script by name)."""

    async def _run(self, name: str, *args: Any) -> Any: ...  # RedisStore's

    async def widen_readers(self, escalation_id: str, seen: Sequence[str], readers: Sequence[str], now: float,
                            detail: str) -> bool:
        """Widen a waiting chat's readers from ``seen`` to ``readers``, logging ``detail``; False when it moved on
        (offered, gone, or widened by another process). NotFound for no such chat."""
        from handoff.store import NotFound
        done = int(await self._run("widen", escalation_id, readers_field(seen), readers_field(readers), repr(now),
                                   detail))
        if done == -1:
            raise NotFound(escalation_id)
        return done == 1

    async def group_languages(self, group: str) -> List[str]:
        """The languages the group's online agents read, sorted."""
        return sorted(await self._run("group_languages", group))


class MemoryLanguages:
    """The in-memory twin of RedisLanguages (MemoryStore's lock, agents and escalations)."""

    _lock: Any
    _agents: Any

    async def widen_readers(self, escalation_id: str, seen: Sequence[str], readers: Sequence[str], now: float,
                            detail: str) -> bool:
        async with self._lock:
            e = self._find(escalation_id)  # type: ignore[attr-defined]
            if e.status.value != "waiting" or list(e.readers) != list(seen):
                return False
            e.readers, e.language_note = list(readers), detail
            e.history.append({"at": now, "status": "waiting", "agent": None, "detail": detail})
            self._emit(None, {"type": "language_overflow", "escalation": e.id,  # type: ignore[attr-defined]
                              "conversation_id": e.conversation_id, "group": e.skill_group, "language": e.language,
                              "readers": readers_field(readers), "reason": detail, "at": now})
            return True

    async def group_languages(self, group: str) -> List[str]:
        found = set()
        for a in self._agents.values():
            if a.status == "online" and group in a.skills:
                found.update(parse_languages(a.languages))
        return sorted(found)

    def _reader_online(self, group: str, readers: Sequence[str]) -> bool:
        return any(a.status == "online" and group in a.skills and reads(a.languages, readers)
                   for a in self._agents.values())
