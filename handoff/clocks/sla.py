"""SLA clocks on the durable timers: warnings before a target is missed, breaches and their actions after.

The listeners (``on_chat``, ``on_ticket``: handoff/clocks/hooks.py) compute a record's clocks from its state
(common/sla_clock.py over policy/sla.yml and the group's business calendar) and, for each running clock,
schedule its warning and breach timers (``once``; the key carries the clock's basis and target seconds, so a
clock that restarts after a pause, or whose target changed, gets new timers); a clock met, paused or stopped has
its current timers cancelled. The handlers (``sla_warn``, ``sla_breach``) read the record again, fire only when
that clock still has the same basis and target and is in the state the timer expects, and not already recorded
in the clock log; a breach applies its actions (handoff/clocks/sla_actions.py) and returns the events, the
clock-log entries and the counts. Guarantees: a warning and a breach per clock run are recorded at most once
(the timer's atomic completion, the once keys and the clock-log check); a missed scheduling (a crash) is caught
by the sweep's reconcile; metrics count at least once per firing (a handler whose lease is lost counts again).

Views: ``clocks_view`` (the ``clocks`` field of chats and tickets) and the clock log (``clock_log`` on the chat
record, entries merged into the ticket timeline).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.sla import SlaPolicy, Terms, check_legacy
from common.sla_clock import Clock, Measure, chat_clocks, measure, ticket_clocks, visible
from handoff.clocks import sla_actions
from handoff.clocks.timers import Fired, Timer, TimerRunner
from handoff.store import OPEN, NotFound, Status

log = logging.getLogger(__name__)
WARN, BREACH = "sla_warn", "sla_breach"


def iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clocks_view(measures: Sequence[Tuple[Clock, Measure]]) -> List[Dict[str, Any]]:
    """The ``clocks`` field: one item per target shown (a stopped clock only when it was breached)."""
    return [{"target": m.target, "target_seconds": m.target_seconds, "due_at": iso(m.due), "warn_at": iso(m.warn),
             "state": m.state, "left_seconds": m.left_seconds, "warn_in_seconds": m.warn_in,
             "due_in_seconds": m.due_in, "counting": m.counting} for c, m in measures if visible(c, m)]


def timer_key(kind: str, ident: str, target: str, basis: float, seconds: float, stage: str) -> str:
    return f"sla:{kind}:{ident}:{target}:{int(round(basis * 1000))}:{int(seconds)}:{stage}"


def chat_end(e: Any) -> Optional[float]:
    if e.status in OPEN:
        return None
    return next((h["at"] for h in reversed(e.history) if h["status"] == e.status.value), e.created_at)


class SlaClocks:
    def __init__(self, policy: SlaPolicy, service: Any, tickets: Any, timers: TimerRunner, metrics: Any) -> None:
        self.policy = policy
        self.service = service
        self.tickets = tickets
        self.timers = timers
        self.metrics = metrics
        self.store = service.store

    def install(self) -> None:
        self.timers.register(WARN, self.fire)
        self.timers.register(BREACH, self.fire)
        self.service.hooks.on_chat(self.on_chat)
        self.service.hooks.on_ticket(self.on_ticket)
        self.service.sla = self
        if self.tickets is not None:
            self.tickets.sla = self

    def calendar(self, group: str) -> Any:
        return self.service.groups.calendars[group]

    # -- measuring -------------------------------------------------------------------------------
    async def chat_measures(self, e: Any, now: float) -> Tuple[Terms, List[Tuple[Clock, Measure]]]:
        terms = self.policy.terms("chat", e.skill_group, e.priority)
        clocks = chat_clocks(e.created_at, chat_end(e), e.status == Status.CLOSED, await self.store.messages(e.id))
        cal = self.calendar(e.skill_group)
        return terms, [(c, measure(c, terms.target(c.target), terms.warn_at, cal, now)) for c in clocks]

    async def ticket_measures(self, t: Any, now: float,
                              timeline: Optional[List[Dict[str, Any]]] = None) -> Tuple[Terms, List[Tuple[Clock, Measure]]]:
        terms = self.policy.terms("ticket", t.group, t.priority)
        clocks = ticket_clocks(t.created_at, timeline if timeline is not None else await self.store.timeline(t.id))
        cal = self.calendar(t.group)
        return terms, [(c, measure(c, terms.target(c.target), terms.warn_at, cal, now)) for c in clocks]

    async def chat_view(self, e: Any) -> Dict[str, Any]:
        """``clocks`` and ``clock_log`` for the chat record (GET /v1/handoffs/{id})."""
        _, measures = await self.chat_measures(e, self.service.clock())
        entries = [{**x, "at": iso(x["at"])} for x in await self.store.clock_log(f"chat:{e.id}")]
        return {"clocks": clocks_view(measures), "clock_log": entries}

    async def chat_clocks(self, e: Any) -> List[Dict[str, Any]]:
        return clocks_view((await self.chat_measures(e, self.service.clock()))[1])

    async def ticket_clocks(self, t: Any, timeline: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
        return clocks_view((await self.ticket_measures(t, self.service.clock(), timeline))[1])

    async def ticket_log(self, ticket_id: str) -> List[Dict[str, Any]]:
        """The ticket's clock-log entries as timeline entries (``by: "system"``, not public)."""
        return [{"by": "system", "public": False, **x} for x in await self.store.clock_log(f"ticket:{ticket_id}")]

    # -- listening -------------------------------------------------------------------------------
    async def on_chat(self, e: Any, what: str) -> None:
        terms, measures = await self.chat_measures(e, await self.timers.now())
        await self._plan("chat", e.id, e.priority, terms, measures)

    async def on_ticket(self, t: Any, what: str) -> None:
        terms, measures = await self.ticket_measures(t, await self.timers.now())
        await self._plan("ticket", t.id, t.priority, terms, measures)

    async def _plan(self, kind: str, ident: str, priority: int, terms: Terms,
                    measures: Sequence[Tuple[Clock, Measure]]) -> None:
        for clock, m in measures:
            keys = {stage: timer_key(kind, ident, m.target, m.basis, m.target_seconds, stage)
                    for stage in ("warn", "breach")}
            if not clock.running:
                for key in keys.values():
                    await self.timers.cancel(key)
                continue
            payload = {"kind": kind, "id": ident, "target": m.target, "basis": m.basis,
                       "seconds": m.target_seconds, "priority": priority}
            # only the marks reached in this run of the clock (an earlier run before a pause had its own)
            if m.warn is not None and m.warn >= m.basis and m.state in ("running", "warning"):
                await self.timers.schedule(keys["warn"], WARN, m.warn, payload, once=True)
            if m.due is not None and m.due >= m.basis:
                await self.timers.schedule(keys["breach"], BREACH, m.due, payload, once=True)

    # -- firing ----------------------------------------------------------------------------------
    async def fire(self, timer: Timer) -> Fired:
        p = timer.payload
        now = await self.timers.now()
        try:
            if p["kind"] == "chat":
                record: Any = await self.store.get(p["id"])
                terms, measures = await self.chat_measures(record, now)
            else:
                record = await self.store.ticket(p["id"])
                terms, measures = await self.ticket_measures(record, now)
        except NotFound:
            return Fired()
        m = next((m for c, m in measures if m.target == p["target"]), None)
        breach = timer.kind == BREACH
        if m is None or abs(m.basis - p["basis"]) > 1e-3 or m.target_seconds != p["seconds"] or \
                m.state != ("breached" if breach else "warning"):
            return Fired()  # met, paused, restarted or re-targeted since it was scheduled
        subject = f"{p['kind']}:{p['id']}"
        name = "sla_breach" if breach else "sla_warning"
        if any(x.get("kind") == name and x.get("target") == m.target and x.get("basis") == m.basis
               for x in await self.store.clock_log(subject)):
            return Fired()  # recorded already (by a timer of this clock run with other target seconds)
        return await self._record(p, record, terms, m, name, now)

    async def _record(self, p: Dict[str, Any], record: Any, terms: Terms, m: Measure, name: str,
                      now: float) -> Fired:
        chat = p["kind"] == "chat"
        group = record.skill_group if chat else record.group
        ident = {"escalation": record.id, "conversation_id": record.conversation_id} if chat else \
            {"ticket": record.id, "label": record.label, "conversation_id": record.requester.get("conversation_id")}
        agent = record.agent_id if chat else record.assignee
        extra = {"over_seconds": round(-m.left_seconds, 1)} if name == "sla_breach" else \
            {"left_seconds": m.left_seconds}
        event = {"type": name, "subject": p["kind"], **ident, "group": group, "agent": agent, "target": m.target,
                 "target_seconds": m.target_seconds, "due": m.due, **extra, "priority": record.priority, "at": now}
        entry = {"kind": name, "at": now, "target": m.target, "target_seconds": m.target_seconds, "due": m.due,
                 "basis": m.basis, **extra, "detail": f"{m.target} {m.target_seconds:g} s"}
        subject = f"{p['kind']}:{p['id']}"
        fired = Fired(events=[(agent, event)], log=[(subject, entry)])
        counter = self.metrics.sla_breaches if name == "sla_breach" else self.metrics.sla_warnings
        counter.labels(group, m.target, p["kind"]).inc()
        if name == "sla_breach":
            breach = terms.actions(m.target)
            done = await (sla_actions.chat_breach(self.service, record, breach, m.target, p["priority"], now) if chat
                          else sla_actions.ticket_breach(self.tickets, record, breach, m.target, p["priority"], now))
            for to, ev, x in done:
                fired.events.append((to, ev))
                fired.log.append((subject, {**x, "target": m.target}))
        return fired


def register(app: Any, groups: Any) -> None:
    """Load policy/sla.yml (HANDOFF_SLA_FILE) now, so a bad file stops the service at start with the file and line;
    the dashboard's first-response watch (handoff/stats.py) takes the chat first_response target from it. The
    clocks are installed when the store and the timers exist (before_server_start, after the app's own)."""
    settings = app.ctx.settings
    policy = SlaPolicy.load(groups.groups, settings.sla_file)
    note = check_legacy(settings.skill_groups_file, policy)
    if note:
        log.warning(note)
    groups.first_response_seconds = policy.default_target("chat", "first_response")

    @app.before_server_start
    async def install_sla(app: Any, _loop: Any) -> None:
        app.ctx.sla = SlaClocks(policy, app.ctx.service, app.ctx.tickets, app.ctx.timers, app.ctx.metrics)
        app.ctx.sla.install()

