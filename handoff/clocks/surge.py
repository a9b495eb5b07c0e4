"""The surge rule at work (policy/surge.yml, common/surge.py; docs/surge.md): run for every group each sweep.

Any service process may run ``SurgeRule.sweep`` at any time, and all of them do (after ``service.sweep``):
- each group's step is decided from its queue now (chats waiting, the wait a newcomer would be told) and the
  surge stored for it; a start or a stop is one atomic store step (``surge_change``, handoff/clocks/surge_store.py)
  that writes the ``surge_started`` / ``surge_ended`` event (``to``: the group's standby agents, so their consoles
  get it; supervisors and the bot's bridge get every event) and the group's clock-log entry (``group:<id>``)
  only if the surge stored is still the one this process read: when two processes decide "start" in the same
  sweep, it starts once, is recorded once and counted once (``handoff_surges_total``, by the process that won);
- while a surge lasts, the group's waiting chats are also offered to the free agents of its ``overflow_to``
  group: the head of the queue (the chats served next) is transferred there (the store's ``transfer``, atomic
  per chat, keeping each chat's rank), as many as that group has free slots beyond its own waiting chats, and
  the group is dispatched at once. A chat another process moved first is skipped (Conflict). Two processes
  in the same sweep may both move up to that many: the extra chats then wait in the wider group at their own
  rank, still served before anyone who came later (``handoff_surge_overflows_total`` counts the moves);
- GET /v1/queues shows each group's ``surge`` (``view``), and a chat's record says whether its group surges
  (``surging``): the bot's bridge tells a waiting customer that more colleagues are joining.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from prometheus_client import Counter

from common.surge import Load, Step, SurgePolicy, SurgeState, estimated_wait
from handoff.views import iso
from handoff.store import Conflict, NotFound, QueueStats

log = logging.getLogger(__name__)


class SurgeRule:
    def __init__(self, service: Any, policy: SurgePolicy, metrics: Any) -> None:
        self.service = service  # handoff.service.HandoffService: its store, groups, clock, dispatch, hooks
        self.store = service.store
        self.policy = policy
        self.registry = metrics.registry
        self.surges = Counter("handoff_surges_total", "Surges started and ended (policy/surge.yml), by group",
                              ["skill_group", "change"], registry=metrics.registry)
        self.moved = Counter("handoff_surge_overflows_total", "Waiting chats of a surging group moved to the free "
                             "agents of its overflow_to group", ["from_group", "to_group"], registry=metrics.registry)

    def load(self, s: QueueStats) -> Load:
        return Load(s.waiting, estimated_wait(s.waiting, s.online, s.capacity, s.free,
                                              self.service.groups.handle_seconds(s.group)))

    async def sweep(self) -> List[Step]:
        """One round for every group: the steps this process took (a start or stop another process wrote
        first is left out: it is ``continue``/``idle`` here)."""
        now = self.service.clock()
        names = list(self.policy.groups())
        stats = {s.group: s for s in await self.store.queue_stats(names)}
        states = await self.store.surge_states(names)
        room = {g: s.free - s.waiting for g, s in stats.items()}  # free slots left after the group's own queue
        steps = []
        for group in names:
            try:
                step = await self._step(group, self.load(stats[group]), states.get(group), now)
                steps.append(step)
                target = step.state.overflow_to if step.state is not None and step.action != "stop" else None
                if target and room.get(target, 0) > 0 and stats[group].waiting:
                    room[target] -= await self._overflow(group, target, room[target], now)
            except Exception:  # noqa: BLE001 - one group's failure must not stop the others (next sweep retries)
                log.exception("surge rule failed for group %s", group)
        return steps

    async def _step(self, group: str, load: Load, state: Optional[SurgeState], now: float) -> Step:
        step = self.policy.decide(group, load, state, now)
        if step.action == "idle" or step.state is None:
            return step
        if step.action == "continue":
            if state is not None and step.state.calm_since != state.calm_since:
                await self.store.surge_change(group, state, step.state)  # lost to another process: it wrote the same
            return step
        kind = "surge_started" if step.action == "start" else "surge_ended"
        event = self._event(kind, step.state, now)
        entry = {"kind": kind, "at": now, "target": group, "detail": self._detail(step.state),
                 **{k: event[k] for k in ("waiting", "wait_seconds", "overflow_to", "standby", "since")}}
        written = await self.store.surge_change(group, state if step.action == "stop" else None,
                                                step.state if step.action == "start" else None,
                                                [(list(step.state.standby), event)], [(f"group:{group}", entry)])
        if not written:  # another process started or ended it first: recorded there
            return Step("continue" if step.action == "start" else "idle", step.state)
        self.surges.labels(group, "started" if step.action == "start" else "ended").inc()
        log.info("surge %s in %s: %s", "started" if step.action == "start" else "ended", group,
                 self._detail(step.state))
        return step

    def _event(self, kind: str, state: SurgeState, now: float) -> Dict[str, Any]:
        """The contract's event: {type, group, waiting, wait_seconds, overflow_to, standby, at} (+ since)."""
        return {"type": kind, "group": state.group, "group_name": self.service.groups.name(state.group),
                "waiting": state.waiting, "wait_seconds": state.wait_seconds, "overflow_to": state.overflow_to,
                "standby": list(state.standby), "since": state.since, "at": now}

    @staticmethod
    def _detail(state: SurgeState) -> str:
        wait = "unknown" if state.wait_seconds is None else f"{state.wait_seconds} s"
        return (f"{state.waiting} waiting, estimated wait {wait}, overflow to {state.overflow_to or 'none'}, "
                f"standby {', '.join(state.standby) or 'none'}")

    async def _overflow(self, group: str, target: str, room: int, now: float) -> int:
        """Move up to ``room`` chats from the head of ``group``'s queue to ``target`` and offer them there; the
        number moved by this process."""
        moved = 0
        for escalation_id in (await self.store.waiting(group))[:room]:
            try:
                e = await self.store.transfer(escalation_id, None, now, self.service.seconds_per_point,
                                              to_group=target, detail=f"surge in {group}: overflow to {target}")
            except (Conflict, NotFound):
                continue  # taken, moved or ended meanwhile
            moved += 1
            self.moved.labels(group, target).inc()
            await self.service.hooks.chat(e, "transferred")
        if moved:
            await self.service.dispatch(target)
        return moved

    async def surging(self, group: str) -> bool:
        """Whether ``group`` surges now (the chat record's ``surge``: the customer's wait message says so)."""
        return group in await self.store.surge_states([group])

    async def view(self, queues: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """GET /v1/queues' items with ``surge``: null, or {since (ISO), overflow_to, waiting, wait_seconds} (the
        queue now; the wait a customer joining now would be told)."""
        states = await self.store.surge_states([q["skill_group"] for q in queues])
        out = []
        for q in queues:
            state = states.get(q["skill_group"])
            surge = None
            if state is not None:
                wait = estimated_wait(q["waiting"], q["agents_online"], q["capacity"], q["free_capacity"],
                                      self.service.groups.handle_seconds(q["skill_group"]))
                surge = {"since": iso(state.since), "overflow_to": state.overflow_to, "waiting": q["waiting"],
                         "wait_seconds": wait}
            out.append({**q, "surge": surge})
        return out
