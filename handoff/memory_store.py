"""The in-memory twin of the Redis store, for fast unit tests: same semantics, one lock."""
from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any, Dict, List, Optional, Tuple

from handoff.store import OPEN, Agent, Conflict, Escalation, NotFound, Status, Store, rank


class MemoryStore(Store):
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._escalations: Dict[str, Escalation] = {}
        self._documents: Dict[str, Dict[str, Any]] = {}
        self._by_conversation: Dict[str, str] = {}
        self._queues: Dict[str, Dict[str, float]] = {}  # group -> {escalation: rank}
        self._agents: Dict[str, Agent] = {}

    @staticmethod
    def _log(e: Escalation, status: Status, now: float, agent: Optional[str] = None, detail: str = "") -> None:
        e.status = status
        e.history.append({"at": now, "status": status.value, "agent": agent, "detail": detail})

    async def create(self, conversation_id: str, skill_group: str, priority: int, document: Dict[str, Any],
                     now: float, seconds_per_point: float) -> Tuple[Escalation, bool]:
        async with self._lock:
            existing = self._by_conversation.get(conversation_id)
            if existing and self._escalations[existing].status in OPEN:
                return copy.deepcopy(self._escalations[existing]), False
            e = Escalation(uuid.uuid4().hex, conversation_id, Status.WAITING, skill_group, priority, now)
            self._log(e, Status.WAITING, now)
            self._escalations[e.id] = e
            self._documents[e.id] = copy.deepcopy(document)
            self._by_conversation[conversation_id] = e.id
            self._queues.setdefault(skill_group, {})[e.id] = rank(now, priority, seconds_per_point)
            return copy.deepcopy(e), True

    def _find(self, escalation_id: str) -> Escalation:
        e = self._escalations.get(escalation_id)
        if e is None:
            raise NotFound(escalation_id)
        return e

    async def get(self, escalation_id: str) -> Escalation:
        return copy.deepcopy(self._find(escalation_id))

    async def document(self, escalation_id: str) -> Dict[str, Any]:
        if escalation_id not in self._documents:
            raise NotFound(escalation_id)
        return copy.deepcopy(self._documents[escalation_id])

    async def set_agent(self, agent: Agent, now: float) -> None:
        async with self._lock:
            old = self._agents.get(agent.id)
            load = old.load if old else 0
            idle_since = old.idle_since if old and old.status == "online" else now
            self._agents[agent.id] = Agent(agent.id, tuple(agent.skills), agent.max_chats, agent.status, load,
                                           idle_since)

    async def get_agent(self, agent_id: str) -> Agent:
        if agent_id not in self._agents:
            raise NotFound(agent_id)
        return copy.deepcopy(self._agents[agent_id])

    async def offer_next(self, skill_group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        async with self._lock:
            queue = self._queues.get(skill_group) or {}
            free = [a for a in self._agents.values()
                    if a.status == "online" and skill_group in a.skills and a.load < a.max_chats]
            if not queue or not free:
                return None
            escalation_id = min(queue, key=lambda k: (queue[k], k))
            agent = min(free, key=lambda a: (a.load, a.idle_since, a.id))
            del queue[escalation_id]
            e = self._escalations[escalation_id]
            e.agent_id, e.offer_deadline = agent.id, now + reservation_seconds
            self._log(e, Status.OFFERED, now, agent.id)
            agent.load += 1
            agent.idle_since = now
            return escalation_id, agent.id

    async def accept(self, escalation_id: str, agent_id: str, now: float) -> Escalation:
        async with self._lock:
            e = self._find(escalation_id)
            if e.status != Status.OFFERED or e.agent_id != agent_id:
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not offered to {agent_id}")
            e.offer_deadline = None
            self._log(e, Status.ASSIGNED, now, agent_id)
            return copy.deepcopy(e)

    async def expire_offers(self, now: float, seconds_per_point: float) -> List[Tuple[str, str]]:
        async with self._lock:
            expired = []
            for e in self._escalations.values():
                if e.status == Status.OFFERED and e.offer_deadline is not None and e.offer_deadline <= now:
                    agent = self._agents[e.agent_id]  # type: ignore[index]
                    agent.load -= 1
                    expired.append((e.id, agent.id))
                    e.agent_id, e.offer_deadline = None, None
                    self._log(e, Status.WAITING, now, agent.id, "offer not accepted in time")
                    self._queues.setdefault(e.skill_group, {})[e.id] = rank(e.created_at, e.priority,
                                                                             seconds_per_point)
            return sorted(expired)

    async def finish(self, escalation_id: str, agent_id: Optional[str], status: Status, now: float,
                     detail: str = "") -> Escalation:
        if status not in (Status.RELEASED, Status.CLOSED):
            raise ValueError(f"cannot finish as {status.value}")
        async with self._lock:
            e = self._find(escalation_id)
            if e.status != Status.ASSIGNED or (agent_id is not None and e.agent_id != agent_id):
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not assigned to {agent_id}")
            agent = self._agents[e.agent_id]  # type: ignore[index]
            agent.load -= 1
            self._log(e, status, now, e.agent_id, detail)
            return copy.deepcopy(e)

    async def leave_queue(self, escalation_id: str, status: Status, now: float, detail: str = "") -> Escalation:
        if status not in (Status.TICKET, Status.ABANDONED):
            raise ValueError(f"cannot leave the queue as {status.value}")
        async with self._lock:
            e = self._find(escalation_id)
            if e.status not in (Status.WAITING, Status.OFFERED):
                raise Conflict(f"escalation {escalation_id} is {e.status.value}, not waiting")
            if e.status == Status.OFFERED:
                self._agents[e.agent_id].load -= 1  # type: ignore[index]
            (self._queues.get(e.skill_group) or {}).pop(e.id, None)
            agent, e.agent_id, e.offer_deadline = e.agent_id, None, None
            self._log(e, status, now, agent, detail)
            return copy.deepcopy(e)

    async def waiting(self, skill_group: str) -> List[str]:
        queue = self._queues.get(skill_group) or {}
        return sorted(queue, key=lambda k: (queue[k], k))
