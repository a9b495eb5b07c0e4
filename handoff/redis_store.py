"""The Redis store: every transition is one Lua script (handoff/redis_scripts/), so it is atomic across service
processes.

Keys (all under one hash tag, ``{ho}:`` by default, so a Redis Cluster keeps them on one shard and
the scripts may touch any of them):
  esc:<id>      hash   id, conversation_id, status, skill_group, priority, created_at, agent_id,
                       offer_deadline, outcome (JSON), survey (JSON: read back as outcome["survey"]),
                       facets (JSON: customer key, trigger names, topics, for the statistics)
                       language, readers (who may take it: "zh", "zh,en"; "*" or "" anyone), lang_note (why the
                       readers were widened: the language overflow; see handoff/routing/language_match.py)
  hist:<id>     list   JSON history entries {"at", "status", "agent", "detail"}
  doc:<id>      string the request document (JSON)
  msgs:<id>     list   JSON messages appended while a person handles the chat
  msgids:<id>   hash   "<speaker>:<author>:<message_id>" -> seq of the message its sender stored with that id
                       (a repeat adds nothing; kept, like msgs:<id>, as long as the escalation)
  notes:<id>    list   JSON internal notes of agents and supervisors (never messages)
  created       zset   every escalation by created_at (the day's statistics read a range of it)
  open          zset   escalations waiting, offered or assigned, by created_at (the SLA watch)
  cust:<key>    zset   a customer's escalations by created_at (their earlier conversations)
  conv:<cid>    string the conversation's latest escalation (idempotent create)
  queue:<grp>   zset   waiting escalations by rank (see handoff/store.py)
  age:<grp>     zset   the same escalations by the time they joined the queue (oldest wait)
  offers        zset   offered escalations by reservation deadline
  agent:<id>    hash   id, skills (JSON list), max_chats, status, load, idle_since, reason (why the status was
                       set for them, "" when they chose it), missed (offers let lapse in a row)
                       languages (JSON list; ["en"] when missing)
  lapsed:<id>   set    agents who let this escalation's offer lapse (not offered it again while another free
                       agent can take it; dropped when it is accepted or leaves the queue; expires after a day)
  chats:<id>    set    escalations offered or assigned to the agent
  free:<grp>    zset   online agents of the group with spare capacity, by load * 1e10 + idle_since
  online:<grp>  set    online agents of the group
  cred:<id>     hash   an agent's account: name, role, password_hash
  accounts      set    every account's id (accounts:complete: set once the accounts saved before this
                       index existed were found with one SCAN)
  (cred:<id> epoch and disabled, revoked:<id>, login:*: see handoff/redis_access.py)
  (surge:<group>, clog:group:<group>: the surge rule, see handoff/clocks/surge_store.py)
  presence      zset   agents by their last sighting (their console's WebSocket open on some process)
  events        stream every transition, written by the same script; trimmed by the sweeper, never past what
                a consumer group has not acknowledged (handoff/event_retention.py)

The scripts are in handoff/redis_scripts/; access, tickets, timers, surges and event retention are mixins beside
their concern (redis_access.py, tickets/redis_tickets.py, clocks/redis_timers.py, clocks/surge_store.py,
clocks/priority_store.py, event_retention.py).
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

import redis.asyncio as aioredis
import ujson

from common.language_rules import LanguageRule, parse_languages
from common.redis_config import async_redis_client
from common.undelivered import REPLAY_OF
from handoff import redis_access
from handoff.clocks.priority_store import RedisPriority
from handoff.clocks.redis_timers import RedisTimers
from handoff.clocks.surge_store import RedisSurges
from handoff.event_retention import TRIM_EVENTS
from handoff.redis_access import RedisAccess
from handoff.redis_scripts.agents import FORGET_AGENT, QUEUE_STATS, SET_AGENT
from handoff.redis_scripts.chats import ADD_MESSAGE, ADD_NOTE, CREATE, ESCALATE, LEAVE_QUEUE, SET_SURVEY
from handoff.redis_scripts.offers import ACCEPT, EXPIRE, FINISH, OFFER_NEXT, TRANSFER
from handoff.redis_scripts.prelude import PRELUDE
from handoff.routing.language_match import GROUP_LANGUAGES, WIDEN, RedisLanguages, readers_field
from handoff.store import (Agent, Conflict, Escalated, Escalation, Event, NotFound, NotYours, QueueStats, Status,
                           Store, check_finish, check_leave, rank, survey_detail)
from handoff.tickets.redis_tickets import RedisTickets


class RedisStore(RedisLanguages, RedisAccess, RedisTickets, RedisTimers, RedisSurges, RedisPriority, Store):
    def __init__(self, client: aioredis.Redis, prefix: str = "{ho}:") -> None:
        self.r = client
        self.p = prefix
        self._scripts = {name: client.register_script(src) for name, src in {
            "create": CREATE, "escalate": ESCALATE, "set_agent": SET_AGENT, "offer_next": OFFER_NEXT, "accept": ACCEPT,
            "expire": EXPIRE, "finish": FINISH, "leave_queue": LEAVE_QUEUE, "transfer": TRANSFER,
            "add_message": ADD_MESSAGE, "queue_stats": QUEUE_STATS, "set_survey": SET_SURVEY,
            "add_note": ADD_NOTE, "widen": PRELUDE + WIDEN, "group_languages": PRELUDE + GROUP_LANGUAGES,
            **{k: PRELUDE + v for k, v in redis_access.SCRIPTS.items()}}.items()}
        self._plain = {name: client.register_script(src) for name, src in redis_access.PLAIN.items()}
        self._forget = client.register_script(FORGET_AGENT)
        self._trim_events = client.register_script(TRIM_EVENTS)

    @classmethod
    def from_url(cls, url: str, prefix: str = "{ho}:", **kwargs: Any) -> "RedisStore":
        kwargs.setdefault("health_check_interval", 10)
        return cls(async_redis_client(url, decode_responses=True, **kwargs), prefix)

    async def _run(self, name: str, *args: Any) -> Any:
        # KEYS[1] only routes the script on a Redis Cluster (to the node of the prefix's hash slot, where every key
        # it touches is: they all carry the prefix); the scripts build their keys from the prefix, ARGV[1].
        return await self._scripts[name](keys=[f"{self.p}events"], args=[self.p, *args])

    async def close(self) -> None:
        await self.r.close()

    async def ping(self) -> None:
        await self.r.ping()

    async def create(self, conversation_id: str, skill_group: str, priority: int, document: Dict[str, Any],
                     now: float, seconds_per_point: float, request_key: str = "",
                     facets: Optional[Dict[str, Any]] = None, language: str = "") -> Tuple[Escalation, bool]:
        new_id = uuid.uuid4().hex
        eid, created = await self._run("create", new_id, conversation_id, skill_group, priority, repr(now),
                                       repr(rank(now, priority, seconds_per_point)), json.dumps(document),
                                       request_key, json.dumps(facets or {}), str((facets or {}).get("customer") or ""),
                                       language)
        return await self.get(eid), bool(int(created))

    async def escalate(self, conversation_id: str, chain: Sequence[str], priority: int, document: Dict[str, Any],
                       now: float, seconds_per_point: float, request_key: str, reservation_seconds: float,
                       ticket_outcome: Dict[str, Any], facets: Optional[Dict[str, Any]] = None,
                       language_rule: Optional[LanguageRule] = None) -> Escalated:
        lang = language_rule.language if language_rule else ""
        over = readers_field(language_rule.overflow_readers) if language_rule else ""
        why = language_rule.none_online_reason(chain) if language_rule else ""
        res = await self._run("escalate", uuid.uuid4().hex, conversation_id, priority, repr(now),
                              repr(rank(now, priority, seconds_per_point)), ujson.dumps(document), request_key,
                              repr(now + reservation_seconds), ujson.dumps(ticket_outcome), ujson.dumps(facets or {}),
                              str((facets or {}).get("customer") or ""), lang, over, why, *chain)
        (eid, created, status, group, prio, agent, created_at, outcome, position, online, capacity, free,
         skipped, cid, language, readers, note) = res
        e = Escalation(id=eid, conversation_id=cid, status=Status(status), skill_group=group, priority=int(prio),
                       created_at=float(created_at), agent_id=agent or None,
                       outcome=json.loads(outcome) if outcome else {}, language=language,
                       readers=[r for r in readers.split(",") if r], language_note=note)
        e.overflow = [g for g in skipped.split(",") if g]
        return Escalated(e, bool(int(created)), int(position) or None,
                         QueueStats(group, 0, None, int(online), int(capacity), int(free)))

    async def get(self, escalation_id: str) -> Escalation:
        found = await self.get_many([escalation_id])
        if not found:
            raise NotFound(escalation_id)
        return found[0]

    async def get_many(self, escalation_ids: Sequence[str]) -> List[Escalation]:
        out: List[Escalation] = []
        for start in range(0, len(escalation_ids), 500):  # one round trip per 500
            chunk = escalation_ids[start:start + 500]
            async with self.r.pipeline(transaction=True) as pipe:
                for eid in chunk:
                    pipe.hgetall(f"{self.p}esc:{eid}")
                    pipe.lrange(f"{self.p}hist:{eid}", 0, -1)
                replies = await pipe.execute()
            for fields, history in zip(replies[0::2], replies[1::2]):
                if fields:
                    out.append(self._escalation(fields, history))
        return out

    @staticmethod
    def _escalation(fields: Dict[str, str], history: List[str]) -> Escalation:
        entries = []
        for raw in history:
            h = json.loads(raw)
            entries.append({"at": h["at"], "status": h["status"], "agent": h.get("agent"), "detail": h.get("detail", "")})
        e = RedisStore._from_fields(fields)
        e.history = entries
        return e

    async def document(self, escalation_id: str) -> Dict[str, Any]:
        raw = await self.r.get(f"{self.p}doc:{escalation_id}")
        if raw is None:
            raise NotFound(escalation_id)
        return json.loads(raw)

    async def messages(self, escalation_id: str) -> List[Dict[str, Any]]:
        return [json.loads(raw) for raw in await self.r.lrange(f"{self.p}msgs:{escalation_id}", 0, -1)]

    async def add_note(self, escalation_id: str, text: str, author: str, now: float) -> Dict[str, Any]:
        result = await self._run("add_note", escalation_id, author, text, repr(now))
        self._check(result, escalation_id, "noted")
        return json.loads(result[1])

    async def notes(self, escalation_id: str) -> List[Dict[str, Any]]:
        return [json.loads(raw) for raw in await self.r.lrange(f"{self.p}notes:{escalation_id}", 0, -1)]

    async def created_since(self, since: float) -> List[str]:
        return await self.r.zrangebyscore(f"{self.p}created", repr(since), "+inf")

    async def open_escalations(self) -> List[str]:
        return await self.r.zrange(f"{self.p}open", 0, -1)

    async def customer_escalations(self, customer: str, up_to: float, limit: int) -> List[str]:
        return await self.r.zrevrangebyscore(f"{self.p}cust:{customer}", repr(up_to), "-inf", start=0, num=limit)

    async def count_conversations(self, keys: Sequence[str]) -> int:
        return int(await self.r.pfcount(*keys)) if keys else 0

    async def list_entries(self, key: str, limit: int) -> Tuple[int, List[str]]:
        if limit <= 0:
            return int(await self.r.llen(key)), []
        async with self.r.pipeline(transaction=True) as pipe:
            length, entries = await pipe.llen(key).lrange(key, 0, limit - 1).execute()
        return int(length), [e.decode() if isinstance(e, bytes) else e for e in entries]

    async def set_agent(self, agent: Agent, now: float) -> None:
        await self._run("set_agent", agent.id, json.dumps(list(agent.skills)), agent.max_chats, agent.status,
                        repr(now), agent.reason, json.dumps(list(parse_languages(agent.languages))))

    async def get_agent(self, agent_id: str) -> Agent:
        f = await self.r.hgetall(f"{self.p}agent:{agent_id}")
        if not f:
            raise NotFound(agent_id)
        return Agent(f["id"], tuple(json.loads(f["skills"])), int(f["max_chats"]), f["status"], int(f["load"]),
                     float(f["idle_since"]), f.get("reason", ""), int(f.get("missed") or 0),
                     parse_languages(json.loads(f["languages"]) if f.get("languages") else ()))

    async def agent_chats(self, agent_id: str) -> List[str]:
        return sorted(await self.r.smembers(f"{self.p}chats:{agent_id}"))

    async def offer_next(self, skill_group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        result = await self._run("offer_next", skill_group, repr(now), repr(now + reservation_seconds))
        return (result[0], result[1]) if result else None

    @staticmethod
    def _check(result: List[str], escalation_id: str, what: str) -> None:
        if result[0] == "missing":
            raise NotFound(escalation_id)
        if result[0] == "not_yours":
            raise NotYours(f"escalation {escalation_id} is not {what}")
        if result[0] == "conflict":
            raise Conflict(f"escalation {escalation_id} is {result[1]}, not {what}")
        if result[0] == "no_agent":
            raise NotFound(f"no agent {what}")
        if result[0] == "agent_busy":
            raise Conflict(f"agent {what} is {result[1]} or has no free capacity")
        if result[0] == "moved_on":
            raise Conflict(f"escalation {escalation_id} is {result[1]}, not with {what}")

    @staticmethod
    def _outcome(fields: Dict[str, str]) -> Dict[str, Any]:
        """The outcome field, with the survey (a field of its own, written once) as ``outcome["survey"]``."""
        outcome = json.loads(fields["outcome"]) if fields.get("outcome") else {}
        if fields.get("survey"):
            outcome["survey"] = json.loads(fields["survey"])
        return outcome

    @staticmethod
    def _summary(flat: List[str]) -> Escalation:
        """An Escalation from its hash as a script returns it (HGETALL), without the history."""
        return RedisStore._from_fields(dict(zip(flat[0::2], flat[1::2])))

    @staticmethod
    def _from_fields(f: Dict[str, str]) -> Escalation:
        """An Escalation from its hash's fields, without the history."""
        return Escalation(
            id=f["id"], conversation_id=f["conversation_id"], status=Status(f["status"]), skill_group=f["skill_group"],
            priority=int(f["priority"]), created_at=float(f["created_at"]), agent_id=f.get("agent_id"),
            offer_deadline=float(f["offer_deadline"]) if f.get("offer_deadline") else None,
            outcome=RedisStore._outcome(f), overflow=[g for g in f.get("overflow", "").split(",") if g],
            facets=json.loads(f["facets"]) if f.get("facets") else {}, language=f.get("language", ""),
            readers=[r for r in f.get("readers", "").split(",") if r], language_note=f.get("lang_note", ""))

    async def accept(self, escalation_id: str, agent_id: str, now: float) -> Escalation:
        result = await self._run("accept", escalation_id, agent_id, repr(now))
        self._check(result, escalation_id, f"offered to {agent_id}")
        return self._summary(result[1])

    async def expire_offers(self, now: float, seconds_per_point: float, max_missed: int = 0) -> List[Tuple[str, str]]:
        flat = await self._run("expire", repr(now), repr(seconds_per_point), int(max_missed))
        return sorted(zip(flat[0::2], flat[1::2]))

    async def finish(self, escalation_id: str, agent_id: Optional[str], status: Status, now: float,
                     detail: str = "", outcome: Optional[Dict[str, Any]] = None,
                     reservation_seconds: float = 30.0) -> Escalation:
        check_finish(status)
        result = await self._run("finish", escalation_id, agent_id or "", status.value, repr(now), detail,
                                 json.dumps(outcome or {}), repr(now + reservation_seconds))
        self._check(result, escalation_id, f"assigned to {agent_id}" if agent_id else "assigned")
        return self._summary(result[1])

    async def leave_queue(self, escalation_id: str, status: Status, now: float, detail: str = "",
                          outcome: Optional[Dict[str, Any]] = None) -> Escalation:
        check_leave(status)
        self._check(await self._run("leave_queue", escalation_id, status.value, repr(now), detail,
                                    json.dumps(outcome or {})), escalation_id, "waiting")
        return await self.get(escalation_id)

    async def transfer(self, escalation_id: str, by_agent: Optional[str], now: float, seconds_per_point: float,
                       to_group: Optional[str] = None, to_agent: Optional[str] = None,
                       reservation_seconds: float = 30.0, detail: str = "",
                       from_agent: Optional[str] = None) -> Escalation:
        if not to_group and not to_agent:
            raise ValueError("a transfer needs a skill group or an agent")
        result = await self._run("transfer", escalation_id, by_agent or "", repr(now), repr(seconds_per_point),
                                 to_group or "", to_agent or "", repr(now + reservation_seconds), detail,
                                 from_agent or "")
        what = f"assigned to {by_agent}" if by_agent else "open"
        self._check(result, escalation_id, str(from_agent) if result[0] == "moved_on" else what)
        return await self.get(escalation_id)

    async def set_survey(self, escalation_id: str, survey: Dict[str, Any], now: float) -> Escalation:
        answer = {**survey, "at": now}
        result = await self._run("set_survey", escalation_id, json.dumps(answer), repr(now), survey_detail(answer))
        if result[0] == "missing":
            raise NotFound(escalation_id)
        if result[0] == "conflict":
            raise Conflict(f"escalation {escalation_id} is {result[1]}, not closed: "
                           "the survey comes after the chat is closed")
        if result[0] == "answered":
            raise Conflict(f"escalation {escalation_id}: survey already answered")
        return self._summary(result[1])

    async def add_message(self, escalation_id: str, speaker: str, text: str, author: Optional[str],
                          now: float, message_id: Optional[str] = None) -> Dict[str, Any]:
        result = await self._run("add_message", escalation_id, speaker, author or "", text, repr(now),
                                 message_id or "")
        self._check(result, escalation_id, f"assigned to {author}" if speaker == "agent" else "open")
        return json.loads(result[1])

    async def waiting(self, skill_group: str) -> List[str]:
        return await self.r.zrange(f"{self.p}queue:{skill_group}", 0, -1)

    async def queue_stats(self, groups: Sequence[str]) -> List[QueueStats]:
        rows = [json.loads(raw) for raw in await self._run("queue_stats", *groups)] if groups else []
        return [QueueStats(r["group"], r["waiting"], float(r["oldest"]) if r["oldest"] else None, r["online"],
                           r["capacity"], r["free"]) for r in rows]

    async def touch_agents(self, agent_ids: Sequence[str], now: float) -> None:
        if agent_ids:
            await self.r.zadd(f"{self.p}presence", {agent_id: now for agent_id in agent_ids})

    async def lost_agents(self, before: float) -> List[str]:
        return sorted(await self.r.zrangebyscore(f"{self.p}presence", "-inf", f"({before!r}"))

    async def forget_agent(self, agent_id: str, before: Optional[float] = None) -> bool:
        removed = await self._forget(keys=[f"{self.p}presence"],
                                     args=[agent_id, repr(before) if before is not None else ""])
        return bool(int(removed))

    async def save_account(self, agent_id: str, account: Dict[str, str]) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(f"{self.p}cred:{agent_id}", mapping=account)
            pipe.sadd(f"{self.p}accounts", agent_id)
            await pipe.execute()

    async def account(self, agent_id: str) -> Optional[Dict[str, str]]:
        return await self.r.hgetall(f"{self.p}cred:{agent_id}") or None

    async def accounts(self) -> List[str]:
        if not await self.r.exists(f"{self.p}accounts:complete"):
            # Accounts saved before the index existed: found once with a SCAN, then the index is complete.
            keys = [k async for k in self.r.scan_iter(match=f"{self.p}cred:*", count=500)]
            ids = [k[len(self.p) + 5:] for k in keys]
            async with self.r.pipeline(transaction=True) as pipe:
                if ids:
                    pipe.sadd(f"{self.p}accounts", *ids)
                pipe.set(f"{self.p}accounts:complete", "1")
                await pipe.execute()
        return sorted(await self.r.smembers(f"{self.p}accounts"))

    async def events(self, after: str, block_ms: int, count: int = 500) -> List[Event]:
        key = f"{self.p}events"
        if after == "$":
            after = await self.last_event_id()
        reply = await self.r.xread({key: after}, count=count, block=block_ms or None)  # BLOCK 0 would wait forever
        out = []
        for _stream, entries in reply or []:
            for eid, fields in entries:
                out.append(Event(eid, [t for t in fields.get("to", "").split(",") if t], ujson.loads(fields["e"]),
                                 REPLAY_OF in fields))
        return out

    async def last_event_id(self) -> str:
        last = await self.r.xrevrange(f"{self.p}events", count=1)
        return last[0][0] if last else "0-0"

    async def trim_events(self, cap: int) -> int:
        trimmed, length, _oldest_needed = await self._trim_events(keys=[f"{self.p}events"], args=[cap])
        return int(length)
