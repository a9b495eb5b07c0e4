"""The in-memory twin of the Redis store, for fast unit tests: same semantics, one lock.

``conversations`` stands in for the bot's HyperLogLogs of conversation ids: tests put sets in it
(key -> ids), and ``count_conversations`` counts the distinct ids of the keys asked for.

Why over 400 lines: the twin mirrors handoff/redis_store.py one step for one step, kept in one file so each step
reads like its Redis script; access and tickets are split out (memory_access.py, tickets/memory.py).
"""
from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.language_rules import LanguageRule, parse_languages, reads

from handoff.clocks.memory_timers import MemoryTimers
from handoff.clocks.surge_store import MemorySurges
from handoff.clocks.priority_store import MemoryPriority
from handoff.routing.language_match import MemoryLanguages
from handoff.memory_access import MemoryAccess
from handoff.tickets.memory import MemoryTickets
from handoff.store import (OPEN, Agent, Conflict, Escalated, Escalation, Event, NotFound, NotYours, QueueStats, Status, Store,
                           away_reason, check_finish, check_leave, rank, survey_detail)


class MemoryStore(MemoryLanguages, MemoryAccess, MemoryTickets, MemoryTimers, MemorySurges, MemoryPriority, Store):
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._escalations: Dict[str, Escalation] = {}
        self._documents: Dict[str, Dict[str, Any]] = {}
        self._messages: Dict[str, List[Dict[str, Any]]] = {}
        self._message_ids: Dict[str, Dict[str, int]] = {}  # escalation -> "speaker:author:message_id" -> seq
        self._notes: Dict[str, List[Dict[str, Any]]] = {}
        self._customers: Dict[str, Dict[str, float]] = {}  # customer key -> {escalation: created_at}
        self.conversations: Dict[str, set] = {}  # HyperLogLog key -> conversation ids (see the module doc)
        self.lists: Dict[str, List[str]] = {}  # the bot's lists outside the prefix (list_entries)
        self._by_conversation: Dict[str, str] = {}
        self._request_keys: Dict[str, str] = {}
        self._queues: Dict[str, Dict[str, float]] = {}  # group -> {escalation: rank}
        self._since: Dict[str, float] = {}  # escalation -> when it joined its queue
        self._agents: Dict[str, Agent] = {}
        self._chats: Dict[str, set] = {}
        self._accounts: Dict[str, Dict[str, str]] = {}
        self._seen: Dict[str, float] = {}  # agent -> last sighting of their console
        self._lapsed: Dict[str, set] = {}  # escalation -> agents who let its offer lapse
        self._revoked: Dict[str, Dict[str, float]] = {}  # see handoff/memory_access.py
        self._login_counts: Dict[str, Tuple[int, float]] = {}
        self._events: List[Event] = []
        self._new_event: Optional[asyncio.Event] = None

    # -- helpers ---------------------------------------------------------------------------------
    def _emit(self, to: Optional[str], data: Dict[str, Any]) -> None:
        self._events.append(Event(f"{len(self._events) + 1}-0", [to] if to else [],
                                  {k: v for k, v in data.items() if v is not None}))
        if self._new_event is not None:
            self._new_event.set()

    @staticmethod
    def _log(e: Escalation, status: Status, now: float, agent: Optional[str] = None, detail: str = "") -> None:
        e.status = status
        e.history.append({"at": now, "status": status.value, "agent": agent, "detail": detail})

    def _enqueue(self, e: Escalation, now: float, spp: float) -> None:
        self._queues.setdefault(e.skill_group, {})[e.id] = rank(e.created_at, e.priority, spp)
        self._since[e.id] = now

    def _dequeue(self, e: Escalation) -> None:
        (self._queues.get(e.skill_group) or {}).pop(e.id, None)
        self._since.pop(e.id, None)

    def _take(self, agent_id: str, e: Escalation, now: float) -> None:
        agent = self._agents[agent_id]
        agent.load += 1
        agent.idle_since = now
        self._chats.setdefault(agent_id, set()).add(e.id)

    def _free(self, agent_id: str, e: Escalation) -> None:
        self._agents[agent_id].load -= 1
        self._chats.get(agent_id, set()).discard(e.id)

    def _find(self, escalation_id: str) -> Escalation:
        e = self._escalations.get(escalation_id)
        if e is None:
            raise NotFound(escalation_id)
        return e

    # -- escalations -----------------------------------------------------------------------------
    async def create(self, conversation_id: str, skill_group: str, priority: int, document: Dict[str, Any],
                     now: float, seconds_per_point: float, request_key: str = "",
                     facets: Optional[Dict[str, Any]] = None, language: str = "") -> Tuple[Escalation, bool]:
        async with self._lock:
            existing = self._by_conversation.get(conversation_id)
            if existing and (self._escalations[existing].status in OPEN
                             or (request_key and self._request_keys.get(existing) == request_key)):
                return copy.deepcopy(self._escalations[existing]), False
            e = Escalation(uuid.uuid4().hex, conversation_id, Status.WAITING, skill_group, priority, now,
                           facets=copy.deepcopy(facets or {}), language=language,
                           readers=[language] if language else [])
            self._index_customer(e)
            self._log(e, Status.WAITING, now)
            self._escalations[e.id] = e
            self._documents[e.id] = copy.deepcopy(document)
            self._by_conversation[conversation_id] = e.id
            self._request_keys[e.id] = request_key
            self._enqueue(e, now, seconds_per_point)
            self._emit(None, {"type": "created", "escalation": e.id, "conversation_id": conversation_id,
                              "group": skill_group, "priority": priority, "at": now})
            return copy.deepcopy(e), True

    def _index_customer(self, e: Escalation) -> None:
        customer = e.facets.get("customer")
        if customer:
            self._customers.setdefault(str(customer), {})[e.id] = e.created_at

    def _stats(self, group: str) -> QueueStats:
        online = [a for a in self._agents.values() if a.status == "online" and group in a.skills]
        queue = self._queues.get(group) or {}
        return QueueStats(group, len(queue), min((self._since[e] for e in queue), default=None), len(online),
                          sum(a.max_chats for a in online), sum(max(0, a.max_chats - a.load) for a in online))

    def _offer_head(self, group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        queue = self._queues.get(group) or {}
        free = [a for a in self._agents.values()
                if a.status == "online" and group in a.skills and a.load < a.max_chats]
        if not queue or not free:
            return None
        ranked = sorted(free, key=lambda a: (a.load, a.idle_since, a.id))
        for escalation_id in sorted(queue, key=lambda k: (queue[k], k)):  # the first chat a free agent reads
            readers = self._escalations[escalation_id].readers
            able = [a for a in ranked if reads(a.languages, readers)]
            if able:
                lapsed = self._lapsed.get(escalation_id) or set()
                return self._offer(group, escalation_id, next((a for a in able if a.id not in lapsed), able[0]),
                                   now, reservation_seconds)
        return None

    def _offer(self, group: str, escalation_id: str, agent: Agent, now: float,
               reservation_seconds: float) -> Tuple[str, str]:
        e = self._escalations[escalation_id]
        self._dequeue(e)
        e.agent_id, e.offer_deadline = agent.id, now + reservation_seconds
        self._log(e, Status.OFFERED, now, agent.id)
        self._take(agent.id, e, now)
        self._emit(agent.id, {"type": "offered", "escalation": e.id, "conversation_id": e.conversation_id,
                              "group": group, "priority": e.priority, "agent": agent.id,
                              "deadline": e.offer_deadline, "at": now})
        return escalation_id, agent.id

    async def escalate(self, conversation_id: str, chain: Sequence[str], priority: int, document: Dict[str, Any],
                       now: float, seconds_per_point: float, request_key: str, reservation_seconds: float,
                       ticket_outcome: Dict[str, Any], facets: Optional[Dict[str, Any]] = None,
                       language_rule: Optional[LanguageRule] = None) -> Escalated:
        async with self._lock:
            existing = self._by_conversation.get(conversation_id)
            if existing and (self._escalations[existing].status in OPEN
                             or (request_key and self._request_keys.get(existing) == request_key)):
                e, created = self._escalations[existing], False
            else:
                language = language_rule.language if language_rule else ""
                readers, note = [language] if language else [], ""
                staffed = [g for g in chain if self._reader_online(g, readers)]
                if not staffed:  # nobody online reads it: anyone online, and the language rule's overflow readers
                    staffed = [g for g in chain if self._stats(g).online > 0]
                    if staffed and language_rule and language_rule.overflows:
                        readers, note = language_rule.overflow_readers, language_rule.none_online_reason(chain)
                group = staffed[0] if staffed else chain[0]
                e, created = Escalation(uuid.uuid4().hex, conversation_id, Status.WAITING, group, priority, now,
                                        facets=copy.deepcopy(facets or {}), language=language, readers=list(readers),
                                        language_note=note), True
                self._index_customer(e)
                if staffed:
                    e.overflow = list(chain[:chain.index(group)])
                self._log(e, Status.WAITING, now, None, note)
                self._escalations[e.id] = e
                self._documents[e.id] = copy.deepcopy(document)
                self._by_conversation[conversation_id] = e.id
                self._request_keys[e.id] = request_key
                self._emit(None, {"type": "created", "escalation": e.id, "conversation_id": conversation_id,
                                  "group": group, "priority": priority, "at": now})
                if staffed:
                    self._enqueue(e, now, seconds_per_point)
                    self._offer_head(group, now, reservation_seconds)
                else:
                    why = f"nobody online in {' -> '.join(chain)}"
                    e.outcome = copy.deepcopy(ticket_outcome)
                    self._log(e, Status.TICKET, now, None, why)
                    self._emit(None, {"type": "ticket", "escalation": e.id, "conversation_id": conversation_id,
                                      "group": group, "detail": why, "outcome": e.outcome, "at": now})
            position = None
            if e.status == Status.WAITING:
                position = (await self._waiting_unlocked(e.skill_group)).index(e.id) + 1
            return Escalated(copy.deepcopy(e), created, position, self._stats(e.skill_group))

    async def _waiting_unlocked(self, skill_group: str) -> List[str]:
        queue = self._queues.get(skill_group) or {}
        return sorted(queue, key=lambda k: (queue[k], k))

    async def get(self, escalation_id: str) -> Escalation:
        return copy.deepcopy(self._find(escalation_id))

    async def document(self, escalation_id: str) -> Dict[str, Any]:
        if escalation_id not in self._documents:
            raise NotFound(escalation_id)
        return copy.deepcopy(self._documents[escalation_id])

    async def messages(self, escalation_id: str) -> List[Dict[str, Any]]:
        return copy.deepcopy(self._messages.get(escalation_id, []))

    async def add_note(self, escalation_id: str, text: str, author: str, now: float) -> Dict[str, Any]:
        async with self._lock:
            e = self._find(escalation_id)
            notes = self._notes.setdefault(escalation_id, [])
            note = {"id": len(notes) + 1, "text": text, "author": author, "at": now}
            notes.append(note)
            self._emit(e.agent_id, {"type": "note", "escalation": e.id, "conversation_id": e.conversation_id,
                                    "agent": e.agent_id, "note": dict(note), "at": now})
            return dict(note)

    async def notes(self, escalation_id: str) -> List[Dict[str, Any]]:
        return copy.deepcopy(self._notes.get(escalation_id, []))

    async def get_many(self, escalation_ids: Sequence[str]) -> List[Escalation]:
        return [copy.deepcopy(self._escalations[i]) for i in escalation_ids if i in self._escalations]

    def _by_creation(self, escalations: Sequence[Escalation]) -> List[str]:
        return [e.id for e in sorted(escalations, key=lambda e: (e.created_at, e.id))]

    async def created_since(self, since: float) -> List[str]:
        return self._by_creation([e for e in self._escalations.values() if e.created_at >= since])

    async def open_escalations(self) -> List[str]:
        return self._by_creation([e for e in self._escalations.values() if e.status in OPEN])

    async def customer_escalations(self, customer: str, up_to: float, limit: int) -> List[str]:
        found = [(at, i) for i, at in (self._customers.get(customer) or {}).items() if at <= up_to]
        return [i for _, i in sorted(found, reverse=True)[:limit]]

    async def count_conversations(self, keys: Sequence[str]) -> int:
        return len(set().union(*(self.conversations.get(k, set()) for k in keys)))

    async def list_entries(self, key: str, limit: int) -> Tuple[int, List[str]]:
        entries = self.lists.get(key, [])
        return len(entries), entries[:max(limit, 0)]

    async def set_agent(self, agent: Agent, now: float) -> None:
        async with self._lock:
            old = self._agents.get(agent.id)
            load = old.load if old else 0
            idle_since = old.idle_since if old and old.status == "online" else now
            self._agents[agent.id] = Agent(agent.id, tuple(agent.skills), agent.max_chats, agent.status, load,
                                           idle_since, agent.reason, 0, parse_languages(agent.languages))
            if old is None or old.status != agent.status:
                self._emit(agent.id, {"type": "agent_status", "agent": agent.id, "status": agent.status,
                                      "reason": agent.reason or None, "at": now})

    async def get_agent(self, agent_id: str) -> Agent:
        if agent_id not in self._agents:
            raise NotFound(agent_id)
        return copy.deepcopy(self._agents[agent_id])

    async def agent_chats(self, agent_id: str) -> List[str]:
        return sorted(self._chats.get(agent_id, set()))

    async def offer_next(self, skill_group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        async with self._lock:
            return self._offer_head(skill_group, now, reservation_seconds)

    async def accept(self, escalation_id: str, agent_id: str, now: float) -> Escalation:
        async with self._lock:
            e = self._find(escalation_id)
            if e.agent_id != agent_id:
                raise NotYours(f"escalation {escalation_id} is not offered to {agent_id}")
            if e.status != Status.OFFERED:
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not offered to {agent_id}")
            e.offer_deadline = None
            self._lapsed.pop(e.id, None)
            if agent_id in self._agents:
                self._agents[agent_id].missed = 0
            self._log(e, Status.ASSIGNED, now, agent_id)
            self._emit(agent_id, {"type": "assigned", "escalation": e.id, "conversation_id": e.conversation_id,
                                  "group": e.skill_group, "agent": agent_id,
                                  "agent_name": (self._accounts.get(agent_id) or {}).get("name", agent_id), "at": now})
            return copy.deepcopy(e)

    async def expire_offers(self, now: float, seconds_per_point: float, max_missed: int = 0) -> List[Tuple[str, str]]:
        async with self._lock:
            expired = []
            due = [e for e in self._escalations.values()
                   if e.status == Status.OFFERED and e.offer_deadline is not None and e.offer_deadline <= now]
            for e in sorted(due, key=lambda e: (e.offer_deadline, e.id)):
                if e.status == Status.OFFERED and e.offer_deadline is not None and e.offer_deadline <= now:
                    agent_id = e.agent_id
                    assert agent_id is not None
                    self._free(agent_id, e)
                    expired.append((e.id, agent_id))
                    e.agent_id, e.offer_deadline = None, None
                    self._log(e, Status.WAITING, now, agent_id, "offer not accepted in time")
                    self._enqueue(e, now, seconds_per_point)
                    self._emit(agent_id, {"type": "requeued", "escalation": e.id, "conversation_id": e.conversation_id,
                                          "group": e.skill_group, "agent": agent_id,
                                          "reason": "offer not accepted in time", "at": now})
                    self._lapsed.setdefault(e.id, set()).add(agent_id)
                    self._lapse(agent_id, now, max_missed)
            return sorted(expired)

    def _lapse(self, agent_id: str, now: float, max_missed: int) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        agent.missed += 1
        if max_missed > 0 and agent.missed >= max_missed and agent.status == "online":
            agent.status, agent.reason = "away", away_reason(max_missed)
            self._emit(agent_id, {"type": "agent_status", "agent": agent_id, "status": "away",
                                  "reason": agent.reason, "at": now})

    async def finish(self, escalation_id: str, agent_id: Optional[str], status: Status, now: float,
                     detail: str = "", outcome: Optional[Dict[str, Any]] = None,
                     reservation_seconds: float = 30.0) -> Escalation:
        check_finish(status)
        async with self._lock:
            e = self._find(escalation_id)
            if agent_id is not None and e.agent_id != agent_id:
                raise NotYours(f"escalation {escalation_id} is not assigned to {agent_id}")
            if e.status != Status.ASSIGNED:
                what = f"assigned to {agent_id}" if agent_id else "assigned"
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not {what}")
            assert e.agent_id is not None
            self._free(e.agent_id, e)
            e.outcome = copy.deepcopy(outcome or {})
            self._log(e, status, now, e.agent_id, detail)
            self._emit(e.agent_id, {"type": status.value, "escalation": e.id, "conversation_id": e.conversation_id,
                                    "group": e.skill_group, "agent": e.agent_id, "detail": detail,
                                    "outcome": e.outcome, "at": now})
            for group in self._agents[e.agent_id].skills:
                self._offer_head(group, now, reservation_seconds)
            return copy.deepcopy(e)

    async def leave_queue(self, escalation_id: str, status: Status, now: float, detail: str = "",
                          outcome: Optional[Dict[str, Any]] = None) -> Escalation:
        check_leave(status)
        async with self._lock:
            e = self._find(escalation_id)
            if e.status not in (Status.WAITING, Status.OFFERED):
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not waiting")
            if e.status == Status.OFFERED:
                assert e.agent_id is not None
                self._free(e.agent_id, e)
            self._dequeue(e)
            self._lapsed.pop(e.id, None)
            agent, e.agent_id, e.offer_deadline = e.agent_id, None, None
            e.outcome = copy.deepcopy(outcome or {})
            self._log(e, status, now, agent, detail)
            self._emit(agent, {"type": status.value, "escalation": e.id, "conversation_id": e.conversation_id,
                               "group": e.skill_group, "agent": agent, "detail": detail, "outcome": e.outcome,
                               "at": now})
            return copy.deepcopy(e)

    async def transfer(self, escalation_id: str, by_agent: Optional[str], now: float, seconds_per_point: float,
                       to_group: Optional[str] = None, to_agent: Optional[str] = None,
                       reservation_seconds: float = 30.0, detail: str = "",
                       from_agent: Optional[str] = None) -> Escalation:
        if not to_group and not to_agent:
            raise ValueError("a transfer needs a skill group or an agent")
        async with self._lock:
            e = self._find(escalation_id)
            old = e.agent_id
            if from_agent is not None and (e.status not in (Status.OFFERED, Status.ASSIGNED) or old != from_agent):
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not with {from_agent}")
            if by_agent is not None:
                if e.status != Status.ASSIGNED or old != by_agent:
                    raise Conflict(f"escalation {escalation_id} is {e.status.value}, not assigned to {by_agent}")
            elif e.status not in OPEN:
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not open")
            if e.status == Status.WAITING and not to_agent and to_group == e.skill_group:
                raise Conflict(f"escalation {escalation_id} is already waiting in {to_group}")
            if to_agent:
                target = self._agents.get(to_agent)
                if target is None:
                    raise NotFound(f"no agent {to_agent}")
                if target.status != "online" or target.load >= target.max_chats:
                    raise Conflict(f"agent {to_agent} is {target.status} or has no free capacity")
                if to_agent == old:
                    raise Conflict(f"escalation {escalation_id} is already with {to_agent}")
            if e.status == Status.WAITING:
                self._dequeue(e)
            if e.status in (Status.OFFERED, Status.ASSIGNED):
                assert old is not None
                self._free(old, e)
            from_group = e.skill_group
            e.skill_group = to_group or e.skill_group
            event: Dict[str, Any] = {"type": "transferred", "escalation": e.id, "conversation_id": e.conversation_id,
                                     "from_group": from_group, "group": e.skill_group, "from_agent": old,
                                     "reason": detail, "at": now}
            if to_agent:
                e.agent_id, e.offer_deadline = to_agent, now + reservation_seconds
                self._log(e, Status.OFFERED, now, to_agent, detail)
                self._take(to_agent, e, now)
                event.update(agent=to_agent, deadline=e.offer_deadline)
                self._emit(to_agent, {"type": "offered", "escalation": e.id, "conversation_id": e.conversation_id,
                                      "group": e.skill_group, "agent": to_agent, "priority": e.priority,
                                      "deadline": e.offer_deadline, "at": now})
            else:
                e.agent_id, e.offer_deadline = None, None
                self._log(e, Status.WAITING, now, None, detail)
                self._enqueue(e, now, seconds_per_point)
            self._emit(old, event)
            return copy.deepcopy(e)

    async def set_survey(self, escalation_id: str, survey: Dict[str, Any], now: float) -> Escalation:
        async with self._lock:
            e = self._find(escalation_id)
            if e.status != Status.CLOSED:
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not closed: "
                               "the survey comes after the chat is closed")
            if "survey" in e.outcome:
                raise Conflict(f"escalation {escalation_id}: survey already answered")
            answer = {**copy.deepcopy(survey), "at": now}
            e.outcome["survey"] = answer
            self._log(e, Status.CLOSED, now, e.agent_id, survey_detail(answer))
            self._emit(e.agent_id, {"type": "survey", "escalation": e.id, "conversation_id": e.conversation_id,
                                    "group": e.skill_group, "agent": e.agent_id, "survey": copy.deepcopy(answer),
                                    "at": now})
            return copy.deepcopy(e)

    async def add_message(self, escalation_id: str, speaker: str, text: str, author: Optional[str],
                          now: float, message_id: Optional[str] = None) -> Dict[str, Any]:
        async with self._lock:
            e = self._find(escalation_id)
            seen = self._message_ids.setdefault(escalation_id, {})
            sender_id = f"{speaker}:{author or ''}:{message_id}"  # ids are the sender's: another's never match
            if message_id and sender_id in seen:
                return dict(self._messages[escalation_id][seen[sender_id] - 1])
            if speaker == "agent":
                if e.status != Status.ASSIGNED or e.agent_id != author:
                    raise Conflict(f"escalation {escalation_id} is {e.status.value}, not assigned to {author}")
            elif e.status not in OPEN:
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not open")
            messages = self._messages.setdefault(escalation_id, [])
            message = {"seq": len(messages) + 1, "speaker": speaker, "text": text, "at": now}
            if author:
                message["author"] = author
            if message_id:
                message["message_id"] = message_id
                seen[sender_id] = message["seq"]
            messages.append(message)
            self._emit(e.agent_id, {"type": "message", "escalation": e.id, "conversation_id": e.conversation_id,
                                    "agent": e.agent_id, "message": dict(message), "at": now})
            return dict(message)

    async def waiting(self, skill_group: str) -> List[str]:
        queue = self._queues.get(skill_group) or {}
        return sorted(queue, key=lambda k: (queue[k], k))

    async def queue_stats(self, groups: Sequence[str]) -> List[QueueStats]:
        return [self._stats(g) for g in groups]

    # -- presence --------------------------------------------------------------------------------
    async def touch_agents(self, agent_ids: Sequence[str], now: float) -> None:
        for agent_id in agent_ids:
            self._seen[agent_id] = now

    async def lost_agents(self, before: float) -> List[str]:
        return sorted(a for a, seen in self._seen.items() if seen < before)

    async def forget_agent(self, agent_id: str, before: Optional[float] = None) -> bool:
        seen = self._seen.get(agent_id)
        if seen is None or (before is not None and seen >= before):
            return False
        del self._seen[agent_id]
        return True

    # -- accounts and events ---------------------------------------------------------------------
    async def save_account(self, agent_id: str, account: Dict[str, str]) -> None:
        self._accounts.setdefault(agent_id, {}).update(account)  # like HSET: epoch and disabled stay

    async def account(self, agent_id: str) -> Optional[Dict[str, str]]:
        found = self._accounts.get(agent_id)
        return dict(found) if found else None

    async def accounts(self) -> List[str]:
        return sorted(self._accounts)

    async def events(self, after: str, block_ms: int, count: int = 500) -> List[Event]:
        start = len(self._events) if after == "$" else int(after.split("-")[0])
        if start >= len(self._events) and block_ms:
            self._new_event = self._new_event or asyncio.Event()
            self._new_event.clear()
            try:
                await asyncio.wait_for(self._new_event.wait(), block_ms / 1000)
            except asyncio.TimeoutError:
                return []
        return copy.deepcopy(self._events[start:start + count])

    async def last_event_id(self) -> str:
        return f"{len(self._events)}-0"
