"""The in-memory twin of the Redis store, for fast unit tests: same semantics, one lock.

``conversations`` stands in for the bot's HyperLogLogs of conversation ids: tests put sets in it
(key -> ids), and ``count_conversations`` counts the distinct ids of the keys asked for.

The twin mirrors handoff/redis_store.py one step for one step; the steps that take or free an agent's slot are in
memory_offers.py, agents, presence and accounts in memory_agents.py, access in memory_access.py, tickets in
tickets/memory.py, timers and surges in clocks/.
"""
from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.language_rules import LanguageRule
from handoff.clocks.memory_timers import MemoryTimers
from handoff.clocks.priority_store import MemoryPriority
from handoff.clocks.surge_store import MemorySurges
from handoff.memory_access import MemoryAccess
from handoff.memory_agents import MemoryAgents
from handoff.memory_offers import MemoryOffers
from handoff.routing.language_match import MemoryLanguages
from handoff.store import (OPEN, Agent, Conflict, Escalated, Escalation, Event, NotFound, Status, Store, check_leave,
                           rank, survey_detail)
from handoff.tickets.memory import MemoryTickets


class MemoryStore(MemoryOffers, MemoryAgents, MemoryLanguages, MemoryAccess, MemoryTickets, MemoryTimers, MemorySurges,
                  MemoryPriority, Store):
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

    # -- events ----------------------------------------------------------------------------------
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
