"""The queues and offers (a mixin of handoff.service.HandoffService): which group and priority a handoff gets, the
expected wait, offering waiting chats to free agents, and the sweep any process may run at any time: lapsed offers
back to the queue (handoff/store.py: "Lapsed offers"), agents set away after missing offers, overflow to a fallback
group when nobody in a chat's own group is online, and chats nobody can take turned into tickets.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from common.routing import SkillGroups
from handoff.clocks.hooks import Hooks
from handoff.errors import Invalid
from handoff.metrics import Metrics
from handoff.store import Conflict, Escalation, NotFound, QueueStats, Status, Store

log = logging.getLogger("handoff.service")


class Queues:
    """Mixed into HandoffService (its store, skill groups, metrics, clock and the clocks' hooks)."""

    store: Store
    groups: SkillGroups
    metrics: Metrics
    clock: Callable[[], float]
    hooks: Hooks
    reservation_seconds: float
    seconds_per_point: float
    max_missed_offers: int

    # -- where a chat goes -----------------------------------------------------------------------
    def route(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """The group and priority for a handoff request, from the skill-group tables, with reasons."""
        tags = request["customer"]["tags"]
        brief = request["case_brief"]
        scores = request["scores"]
        suggested = request["routing"]["skill_group"]
        if suggested not in self.groups.groups:
            raise Invalid(f"routing.skill_group: unknown skill group {suggested!r} "
                          f"(known: {', '.join(self.groups.groups)})")
        route = self.groups.route(tags, list(brief["categories"]), brief["topics"], brief.get("unsure_topics", ()))
        priority = self.groups.priority(tags, scores["sentiment"].get("latest"), scores["complexity"]["level"],
                                        [t["name"] for t in request["decision"]["triggers"]])
        return {"skill_group": route.group, "reason": route.reason, "priority": priority.value,
                "priority_reasons": list(priority.reasons), "bot_suggestion": suggested, "overflow": []}

    async def _first_staffed(self, chain: List[str]) -> Optional[str]:
        stats = await self.store.queue_stats(chain)
        return next((s.group for s in stats if s.online > 0), None)

    def _wait(self, e: Escalation, position: Optional[int], stats: QueueStats) -> Optional[int]:
        """Expected wait in seconds: 0 when offered or when a free slot is left for it; else the chats
        ahead of it over the group's capacity, times the group's handling time. None: not known (a ticket)."""
        if e.status in (Status.OFFERED, Status.ASSIGNED):
            return 0
        if e.status != Status.WAITING or position is None or stats.online == 0:
            return None
        ahead = position - stats.free
        if ahead <= 0:
            return 0
        return math.ceil(ahead / stats.capacity) * self.groups.handle_seconds(e.skill_group)

    async def estimate(self, e: Escalation) -> Tuple[Optional[int], Optional[int]]:
        """Queue position and expected wait in seconds (0 when a free agent gets it now)."""
        if e.status != Status.WAITING:
            return None, self._wait(e, None, QueueStats(e.skill_group, 0, None, 0, 0, 0))
        position = await self.store.queue_position(e.id, e.skill_group)
        (stats,) = await self.store.queue_stats([e.skill_group])
        return position, self._wait(e, position, stats)

    # -- offers ----------------------------------------------------------------------------------
    async def dispatch(self, group: str, limit: int = 200) -> int:
        """Offer the group's waiting chats to its free agents until one side runs out."""
        offered = 0
        while offered < limit:
            pair = await self.store.offer_next(group, self.clock(), self.reservation_seconds)
            if pair is None:
                break
            offered += 1
            self.metrics.offers.labels(group).inc()
            await self._told(pair[0], "offered")
        return offered

    async def dispatch_many(self, groups: Iterable[str]) -> None:
        for group in dict.fromkeys(groups):
            await self.dispatch(group)

    async def sweep(self) -> None:
        """Expire ignored offers, fill free slots, overflow chats whose group has nobody online,
        and turn chats nobody online can take into tickets. Any process may run it at any time."""
        now = self.clock()
        expired = await self.store.expire_offers(now, self.seconds_per_point, self.max_missed_offers)
        for escalation_id, agent_id in expired:
            self.metrics.offer_timeouts.inc()
            await self._told(escalation_id, "requeued")
            log.info("offer of %s to %s timed out; back in the queue (offered next to someone else)",
                     escalation_id, agent_id)
        await self._count_set_away([agent_id for _, agent_id in expired])
        await self.sweep_lost_agents(now)
        names = list(self.groups.groups)
        for queue in await self.store.queue_stats(names):
            if queue.waiting == 0:
                continue
            if self._closed(queue.group, now):  # closing time: who still waits gets a ticket
                await self._close_queue(queue.group)
                continue
            if queue.online > 0:
                await self.overflow_languages(queue.group, now)
                await self.dispatch(queue.group)
                continue
            await self._overflow(queue.group)

    async def _count_set_away(self, lapsed_by: List[str]) -> None:
        """Log and count the agents whose lapses in this sweep crossed the limit (the store set them away)."""
        if not self.max_missed_offers:
            return
        for agent_id in dict.fromkeys(lapsed_by):
            try:
                agent = await self.store.get_agent(agent_id)
            except NotFound:
                continue
            now_missed = agent.missed
            before = now_missed - lapsed_by.count(agent_id)
            if agent.status == "away" and before < self.max_missed_offers <= now_missed:
                self.metrics.agents_away.labels("missed_offers").inc()
                log.warning("agent %s set away: %s", agent_id, agent.reason)

    async def _overflow(self, group: str) -> None:
        chain = self.groups.fallback_chain(group)
        target = await self._first_staffed(chain[1:]) if len(chain) > 1 else None
        for escalation_id in await self.store.waiting(group):
            try:
                if target:
                    await self.store.transfer(escalation_id, None, self.clock(), self.seconds_per_point,
                                              to_group=target, detail=f"overflow: no agent online in {group}")
                    self.metrics.overflows.labels(group, target).inc()
                    await self._told(escalation_id, "transferred")
                else:
                    await self._ticket(await self.store.get(escalation_id),
                                       f"nobody online in {' -> '.join(chain)}")
            except (Conflict, NotFound):
                continue  # another process moved it first
        if target:
            await self.dispatch(target)
