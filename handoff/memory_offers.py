"""The in-memory twin's steps that take or free an agent's slot (a mixin of handoff.memory_store.MemoryStore, under
its lock): offer the head of a queue, accept, lapse, finish and transfer; each mirrors its Redis script in
handoff/redis_scripts/offers.py."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

from common.language_rules import reads
from handoff.store import OPEN, Agent, Conflict, Escalation, NotFound, NotYours, Status, away_reason, check_finish


class MemoryOffers:
    """Mixed into MemoryStore (its lock, escalations, queues, agents and helpers)."""

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
