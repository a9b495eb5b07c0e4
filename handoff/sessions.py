"""Ending agents' sessions and accounts: logout, disable, enable, remove (a part of HandoffService).

Each change is one store step that also writes the event every service process reads (handoff/access.py
drops its copy of the agent's access and the process closes the agent's WebSockets); disabling and
removing also set the agent offline with the reason and send their chats back to their groups' queues.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable

from handoff.auth import Caller, new_epoch
from handoff.metrics import Metrics
from handoff.store import Agent, Conflict, NotFound, Store

log = logging.getLogger("handoff.service")


class Sessions:
    """Mixed into HandoffService (its store, clock, metrics, queues and views)."""

    store: Store
    clock: Callable[[], float]
    metrics: Metrics
    seconds_per_point: float

    async def dispatch_many(self, groups: Iterable[str]) -> None:  # pragma: no cover - handoff/routing/queues.py
        raise NotImplementedError

    async def agent_view(self, agent_id: str) -> Dict[str, Any]:  # pragma: no cover - handoff/views.py
        raise NotImplementedError

    async def logout(self, caller: Caller) -> None:
        """The caller's token stops counting (every process learns it from the event stream)."""
        if caller.agent_id and caller.jti:
            await self.store.revoke_token(caller.agent_id, caller.jti, caller.expires, self.clock())

    async def disable_agent(self, agent_id: str, by: str) -> Dict[str, Any]:
        """Every token of the agent stops counting at once (a new epoch), their WebSockets close (4403), they
        cannot log in, and their chats go back to their groups' queues."""
        if not await self.store.set_disabled(agent_id, True, new_epoch(), self.clock(), by):
            raise NotFound(agent_id)
        await self._take_back(agent_id, f"disabled by {by}")
        return await self.agent_view(agent_id)

    async def enable_agent(self, agent_id: str, by: str) -> Dict[str, Any]:
        """They may log in again (tokens from before stay void)."""
        if not await self.store.set_disabled(agent_id, False, "", self.clock(), by):
            raise NotFound(agent_id)
        return await self.agent_view(agent_id)

    async def remove_agent(self, agent_id: str, by: str) -> None:
        """Their chats go back to the queues, then the account is deleted: tokens stop counting, WebSockets
        close (4401)."""
        if await self.store.account(agent_id) is None:
            raise NotFound(agent_id)
        await self._take_back(agent_id, f"removed by {by}")
        if not await self.store.remove_account(agent_id, self.clock(), by):
            raise NotFound(agent_id)

    async def _take_back(self, agent_id: str, why: str) -> None:
        """Offline (with the reason), their offered and assigned chats back to their groups' queues."""
        now = self.clock()
        try:
            agent = await self.store.get_agent(agent_id)
        except NotFound:
            return  # never went online: no chats, no status
        await self.store.set_agent(Agent(agent.id, agent.skills, agent.max_chats, "offline", reason=why,
                                         languages=agent.languages), now)
        groups = []
        for escalation_id in await self.store.agent_chats(agent_id):
            try:
                e = await self.store.get(escalation_id)
                await self.store.transfer(escalation_id, None, now, self.seconds_per_point, to_group=e.skill_group,
                                          detail=why, from_agent=agent_id)
            except (Conflict, NotFound):
                continue
            self.metrics.requeued.labels(e.skill_group).inc()
            await self._told(escalation_id, "requeued")  # type: ignore[attr-defined]
            groups.append(e.skill_group)
        await self.store.forget_agent(agent_id)
        log.warning("agent %s %s: offline, %d chat(s) back in the queue", agent_id, why, len(groups))
        await self.dispatch_many(groups)
