"""Agents lost when their console goes away (a mixin of handoff.service.HandoffService).

The app tells the service which agents have their console's WebSocket open on this process (``see``, every sweep
and when a WebSocket opens). An agent not seen by any process for ``agent_grace_seconds`` is lost: one process
claims them, sets them offline and sends each chat offered or assigned to them back to its group's queue ("agent
disconnected"), where the next free agent gets it. Reconnecting within the grace period keeps the chats. Agents
who never open a WebSocket (pure API users) are never seen, so never lost: their chats stay with them. Going
offline by ``set_status`` keeps an agent's chats too (they finish or transfer them); with no chats left it also
drops them from the presence record.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, List

from handoff.metrics import Metrics
from handoff.store import Agent, Conflict, NotFound, Store

log = logging.getLogger("handoff.service")


class Presence:
    """Mixed into HandoffService (its store, metrics, clock and queues)."""

    store: Store
    metrics: Metrics
    clock: Callable[[], float]
    agent_grace_seconds: float
    seconds_per_point: float

    async def see(self, agent_ids: Iterable[str]) -> None:
        """These agents' consoles are connected to this process now."""
        ids = [a for a in agent_ids if a]
        if ids:
            await self.store.touch_agents(ids, self.clock())

    async def sweep_lost_agents(self, now: float) -> List[str]:
        """Agents not seen for the grace period: each claimed by one process, set offline, and their chats
        sent back to their groups' queues. The agents this call handled."""
        before = now - self.agent_grace_seconds
        handled = []
        for agent_id in await self.store.lost_agents(before):
            if not await self.store.forget_agent(agent_id, before):
                continue  # another process claimed them, or they came back just now
            if await self._requeue_lost(agent_id, now):
                handled.append(agent_id)
        return handled

    async def _requeue_lost(self, agent_id: str, now: float) -> bool:
        try:
            agent = await self.store.get_agent(agent_id)
        except NotFound:
            return False  # never went online: nothing to take back
        chats = await self.store.agent_chats(agent_id)
        if agent.status == "offline" and not chats:
            return False  # went offline and closed the console: nothing was lost
        self.metrics.agents_lost.inc()
        if agent.status != "offline":
            await self.store.set_agent(Agent(agent.id, agent.skills, agent.max_chats, "offline",
                                             languages=agent.languages), now)
        groups = []
        for escalation_id in chats:
            try:
                e = await self.store.get(escalation_id)
                await self.store.transfer(escalation_id, None, now, self.seconds_per_point, to_group=e.skill_group,
                                          detail="agent disconnected", from_agent=agent_id)
            except (Conflict, NotFound):
                continue  # it moved on meanwhile (accepted elsewhere, closed, expired, abandoned)
            self.metrics.requeued.labels(e.skill_group).inc()
            await self._told(escalation_id, "requeued")
            groups.append(e.skill_group)
        log.info("agent %s lost (no console for %g s): offline, %d chat(s) back in the queue", agent_id,
                 self.agent_grace_seconds, len(groups))
        await self.dispatch_many(groups)
        return True
