"""The in-memory twin's agents, presence, accounts and queue figures (a mixin of handoff.memory_store.MemoryStore,
under its lock); each step mirrors its Redis twin (handoff/redis_scripts/agents.py)."""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence

from common.language_rules import parse_languages
from handoff.store import Agent, NotFound, QueueStats


class MemoryAgents:
    """Mixed into MemoryStore (its lock, agents, chats, queues, presence and accounts)."""

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

    def _stats(self, group: str) -> QueueStats:
        online = [a for a in self._agents.values() if a.status == "online" and group in a.skills]
        queue = self._queues.get(group) or {}
        return QueueStats(group, len(queue), min((self._since[e] for e in queue), default=None), len(online),
                          sum(a.max_chats for a in online), sum(max(0, a.max_chats - a.load) for a in online))

    async def waiting(self, skill_group: str) -> List[str]:
        queue = self._queues.get(skill_group) or {}
        return sorted(queue, key=lambda k: (queue[k], k))

    async def queue_stats(self, groups: Sequence[str]) -> List[QueueStats]:
        return [self._stats(g) for g in groups]

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

    async def save_account(self, agent_id: str, account: Dict[str, str]) -> None:
        self._accounts.setdefault(agent_id, {}).update(account)  # like HSET: epoch and disabled stay

    async def account(self, agent_id: str) -> Optional[Dict[str, str]]:
        found = self._accounts.get(agent_id)
        return dict(found) if found else None

    async def accounts(self) -> List[str]:
        return sorted(self._accounts)
