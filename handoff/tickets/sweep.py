"""The ticket service's sweep: tickets of the auto-assigned groups go to the least-loaded agents online (a mixin
of handoff.tickets.service.TicketService). Any process may run it at any time: every step is a claim or a
checked transition of the store. Solved tickets close after the reopen window on timers
(handoff/clocks/autoclose.py), no longer by a scan here every sweep."""
from __future__ import annotations

from typing import Any, Dict, List

from handoff.store import Conflict, NotFound
from handoff.tickets import transitions as tr
from handoff.tickets.model import TicketState


class TicketSweep:
    store: Any
    groups: Any
    clock: Any
    metrics: Any

    async def auto_assign(self, group: str, limit: int = 50) -> List[str]:
        """Give the group's waiting tickets, best first, to its online agents with the fewest open tickets (ticket
        load, never their chat capacity), up to ``max_tickets_per_agent`` each. A ticket claimed meanwhile is
        left alone (the assignment is a claim: of the two, one wins). The labels assigned."""
        queue = await self.store.index(f"queue:{group}", limit)
        if not queue:
            return []
        loads: Dict[str, int] = {}
        for agent_id in await self.store.accounts():
            account = await self.store.account(agent_id) or {}
            if group not in account.get("skills", "").split(",") or account.get("disabled") == "1":
                continue
            try:
                if (await self.store.get_agent(agent_id)).status != "online":
                    continue
            except NotFound:
                continue
            loads[agent_id] = await self.store.index_size(f"agent:{agent_id}")
        cap = int(getattr(self.groups, "max_tickets_per_agent", 15))
        done = []
        for ticket_id in queue:
            free = sorted((load, agent) for agent, load in loads.items() if load < cap)
            if not free:
                break
            agent = free[0][1]
            now = self.clock()
            try:
                change = await self._apply([ticket_id], lambda ts: tr.assign(ts[0], agent, "system", now, claim=True))
            except (Conflict, NotFound):
                continue
            if change.changed:
                loads[agent] += 1
                done.append(change.ticket.label)
                self.metrics.ticket_changes.labels("auto_assigned").inc()
        return done

    async def sweep(self) -> int:
        """Give waiting tickets of the auto-assigned groups to the least-loaded agents online; the number given.
        Any process may run it at any time. (Solved tickets close on timers: handoff/clocks/autoclose.py.)"""
        return sum([len(await self.auto_assign(group)) for group in getattr(self.groups, "ticket_auto_assign", ())])

    async def counts(self) -> Dict[str, int]:
        """Tickets per state (for the metrics)."""
        return {s.value: await self.store.index_size(f"state:{s.value}") for s in TicketState}
