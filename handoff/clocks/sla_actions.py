"""What an SLA breach does (policy/sla.yml ``actions``), as checked, idempotent store transitions: a timer's
handler may run twice (a lost lease), so each action is a "make it so" that changes nothing the second time.

- raise_priority: a chat still open gets priority ``at least the priority it had when the clock was scheduled +
  points`` (one atomic store op, handoff/clocks/priority_store.py, re-ranking a waiting chat); an active ticket
  likewise through the ticket store (a ``priority`` timeline entry; its group queue re-orders by the index).
- reoffer: a chat still waiting or offered in its group goes to the policy's group (the existing transfer; an
  offer in progress is withdrawn), then that group is dispatched. A chat an agent has taken stays with them:
  moving a conversation away from a person mid-answer is a supervisor's call, who is told (the event).
- notify_supervisor: an ``sla_action`` event only (every event reaches the supervisors' dashboard).

Each action taken returns its ``sla_action`` event and clock-log entry, recorded with the breach. The clocks hear
of what an action changed (a new group's calendar, a priority band's targets) at the sweep's next reconcile, not
from here: by then this breach is in the clock log, so a re-targeted clock cannot record it a second time."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from common.sla import Breach
from handoff.store import Conflict, NotFound, Status
from handoff.tickets import transitions as tr
from handoff.tickets.model import Ticket

Recorded = List[Tuple[Optional[str], Dict[str, Any], Dict[str, Any]]]  # (to, event, log entry)


def raise_ticket_priority(at_least: int, target: str, now: float) -> Any:
    """The ticket-store transition: priority up to ``at_least`` (nothing to write when it is there already or
    the ticket is no longer active)."""
    def rule(ts: List[Ticket]) -> tr.Change:
        t = ts[0]
        if not t.active or t.priority >= at_least:
            return tr.Change([t], changed=False)
        out = tr._copy(t, now)
        out.priority = int(at_least)
        entry = tr.entry("priority", "system", now, **{"from": t.priority, "to": out.priority,
                                                       "why": f"sla_breach:{target}"})
        return tr.Change([out], {t.id: [entry]}, [tr._ticket_event("priority", out, "system", now)])
    return rule


def _action(subject: str, ident: Dict[str, Any], action: str, detail: str, priority: int,
            now: float) -> Tuple[Optional[str], Dict[str, Any], Dict[str, Any]]:
    event = {"type": "sla_action", "subject": subject, **ident, "action": action, "detail": detail,
             "priority": priority, "at": now}
    return None, event, {"kind": "sla_action", "at": now, "action": action, "detail": detail, "priority": priority}


async def chat_breach(service: Any, e: Any, breach: Breach, target: str, base_priority: int,
                      now: float) -> Recorded:
    """The breach actions on chat ``e`` (as just read); the sla_action events and log entries of those taken."""
    out: Recorded = []
    ident = {"escalation": e.id, "conversation_id": e.conversation_id}
    priority = e.priority
    if breach.raise_priority:
        want = base_priority + breach.raise_priority
        try:  # recorded also when an earlier try of this timer raised it already (its record was not written)
            await service.store.raise_chat_priority(e.id, want, service.seconds_per_point)
            priority = max(priority, want)
            out.append(_action("chat", ident, "raise_priority", f"{target}: priority {base_priority} -> {want}",
                               priority, now))
        except (Conflict, NotFound):
            pass  # it ended meanwhile
    if breach.reoffer and e.status in (Status.WAITING, Status.OFFERED):
        try:
            if e.skill_group != breach.reoffer:  # else an earlier try moved it
                await service.store.transfer(e.id, None, now, service.seconds_per_point, to_group=breach.reoffer,
                                             detail=f"sla breach ({target}): re-offered to {breach.reoffer}")
            out.append(_action("chat", ident, "reoffer", f"{target}: re-offered to {breach.reoffer}", priority, now))
            await service.dispatch(breach.reoffer)
        except (Conflict, NotFound):
            pass  # taken or ended meanwhile: it is not waiting any more
    if breach.notify_supervisor:
        out.append(_action("chat", ident, "notify_supervisor", f"{target} missed in {e.skill_group}", priority, now))
    return out


async def ticket_breach(tickets: Any, t: Ticket, breach: Breach, target: str, base_priority: int,
                        now: float) -> Recorded:
    out: Recorded = []
    ident = {"ticket": t.id, "label": t.label}
    priority = t.priority
    if breach.raise_priority:
        want = base_priority + breach.raise_priority
        try:
            change = await tickets.store.change([t.id], raise_ticket_priority(want, target, now))
            if change.ticket.active:
                priority = max(priority, want)
                out.append(_action("ticket", ident, "raise_priority", f"{target}: priority {base_priority} -> "
                                   f"{want}", priority, now))
        except NotFound:
            pass
    if breach.notify_supervisor:
        out.append(_action("ticket", ident, "notify_supervisor", f"{target} missed in {t.group}", priority, now))
    return out
