"""Every change to a ticket, as a pure function: the ticket(s) before -> a Change (the ticket(s) after, the
timeline entries to append, the events to emit). The stores apply a Change in one atomic step (handoff/tickets/
store.py); nothing here reads a clock, a store or the network, so both stores and the tests share one rule book.

Who may do what (an agent of the ticket's groups, a supervisor, the bot) is the service's business
(handoff/tickets/service.py); here only the ticket's own state decides.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from handoff.store import Conflict
from handoff.tickets.model import ALLOWED, Ticket, TicketState, view

KEEP_MESSAGE_IDS = 50  # the latest message ids a ticket remembers, the customer's and the agents' replies' (a
# sender's retry is added once)


@dataclass
class Change:
    tickets: List[Ticket]  # the tickets after the change, in the order given
    entries: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)  # ticket id -> new timeline entries
    events: List[Tuple[List[str], Dict[str, Any]]] = field(default_factory=list)  # (agents it concerns, data)
    changed: bool = True  # False: nothing to write (a repeat of what was already done)

    @property
    def ticket(self) -> Ticket:
        return self.tickets[0]


def entry(kind: str, by: str, now: float, **fields: Any) -> Dict[str, Any]:
    """A timeline entry (the store adds its ``seq``). ``public``: the customer saw or wrote it."""
    return {"kind": kind, "by": by, "at": now, "public": kind in ("reply", "customer"),
            **{k: v for k, v in fields.items() if v is not None}}


def _concerns(*tickets: Ticket, also: Sequence[Optional[str]] = ()) -> List[str]:
    out: List[str] = []
    for who in [*(x for t in tickets for x in (t.assignee, t.owner_agent)), *also]:
        if who and who not in out:
            out.append(who)
    return out


def _ticket_event(change: str, t: Ticket, by: str, now: float, groups: Sequence[str] = (),
                  also: Sequence[Optional[str]] = ()) -> Tuple[List[str], Dict[str, Any]]:
    concerned = list(dict.fromkeys([t.group, t.owner_group, *groups]))
    return _concerns(t, also=also), {"type": "ticket", "change": change, "ticket": view(t, now), "groups": concerned,
                                     "by": by}


def customer_event(kind: str, t: Ticket, **fields: Any) -> Optional[Tuple[List[str], Dict[str, Any]]]:
    """An event for the bot's bridge, about a ticket of a chat customer: None when the ticket has no chat."""
    conversation = t.requester.get("conversation_id")
    if not conversation:
        return None
    return [], {"type": kind, "conversation_id": conversation, "ticket": t.id, "label": t.label,
                "state": t.state.value, **fields}


def _active(t: Ticket) -> None:
    if not t.active:
        raise Conflict(f"{t.label} is {t.state.value}: it cannot change any more" if t.state == TicketState.CLOSED
                       else f"{t.label} is {t.state.value}: reopen it first")


def _leave_team(t: Ticket, now: float) -> float:
    spent = max(0.0, now - t.team_since)
    t.team_seconds[t.group] = round(t.team_seconds.get(t.group, 0.0) + spent, 3)
    t.team_since = now
    return round(spent, 3)


def _copy(t: Ticket, now: float) -> Ticket:
    out = copy.deepcopy(t)
    out.updated_at = now
    return out


def created(t: Ticket, by: str, now: float, why: str = "") -> Change:
    """A new ticket's first entries and events (the ticket itself is built by the service)."""
    entries = [entry("created", by, now, to=t.state.value, why=why or None, group=t.group)]
    entries += [entry("linked", by, now, escalation=e) for e in t.escalations]
    events = [_ticket_event("created", t, by, now)]
    return Change([t], {t.id: entries}, events)


def assign(t: Ticket, agent: str, by: str, now: float, claim: bool = True) -> Change:
    """The agent takes the ticket (``claim``: only when nobody has it yet: of two claims at once, exactly one
    wins). A new ticket becomes open."""
    _active(t)
    if t.assignee == agent:
        return Change([t], changed=False)
    if claim and t.assignee:
        raise Conflict(f"{t.label} is already with {t.assignee}")
    before = t.assignee
    out = _copy(t, now)
    out.assignee = agent
    if out.group == out.owner_group:
        out.owner_agent = agent
    entries = [entry("assigned", by, now, **{"from": before, "to": agent})]
    if out.state == TicketState.NEW:
        out.state = TicketState.OPEN
        entries.append(entry("state", by, now, **{"from": "new", "to": "open", "why": "claimed" if claim else
                                                   "assigned"}))
    return Change([out], {t.id: entries}, [_ticket_event("claimed" if claim else "assigned", out, by, now,
                                                         also=[before])])


def reply(t: Ticket, author: str, text: str, now: float, then: TicketState = TicketState.PENDING,
          message_id: Optional[str] = None, agent_name: Optional[str] = None) -> Change:
    """An agent's public reply: the customer sees it (chat, next visit, e-mail). The ticket then waits on the
    customer (pending, the default), stays open, or is solved. Nobody had it: the author takes it. A
    ``message_id`` already replied on the ticket changes nothing, in any state (a retry after a lost answer: the
    customer is told once)."""
    if message_id and message_id in t.reply_ids:
        return Change([t], changed=False)
    _active(t)
    if then not in (TicketState.PENDING, TicketState.OPEN, TicketState.SOLVED):
        raise Conflict(f"after a reply a ticket is pending, open or solved, not {then.value}")
    out = _copy(t, now)
    entries = []
    if not out.assignee:
        out.assignee = author
        if out.group == out.owner_group:
            out.owner_agent = author
        entries.append(entry("assigned", author, now, **{"from": None, "to": author, "why": "replied"}))
    entries.append(entry("reply", author, now, text=text, via="chat" if t.requester.get("conversation_id") else None,
                         message_id=message_id))
    out.replied = True
    if message_id:
        out.reply_ids = [*t.reply_ids, message_id][-KEEP_MESSAGE_IDS:]
    if then == TicketState.SOLVED and out.state != TicketState.SOLVED:
        _solve(out, now)
    elif out.state != then and out.state != TicketState.ON_HOLD:
        entries.append(entry("state", author, now, **{"from": out.state.value, "to": then.value, "why": "replied"}))
        out.state = then
    if then == TicketState.SOLVED:
        entries.append(entry("state", author, now, **{"from": t.state.value, "to": "solved", "why": "replied"}))
    if out.state in (TicketState.PENDING, TicketState.SOLVED):
        out.due_at = None
    events = [_ticket_event("reply", out, author, now)]
    said = customer_event("ticket_reply", out, text=text, author=author, agent_name=agent_name or author,
                          message_id=f"ticket-reply/{message_id or now}")
    if said:
        events.append(said)
    return Change([out], {t.id: entries}, events)


def _solve(t: Ticket, now: float) -> None:
    _leave_team(t, now)
    t.state = TicketState.SOLVED
    t.solved_at = now
    t.due_at = None


def note(t: Ticket, author: str, text: str, now: float) -> Change:
    """An internal note: never shown to the customer, in any state but closed."""
    if t.state == TicketState.CLOSED:
        raise Conflict(f"{t.label} is closed")
    out = _copy(t, now)
    return Change([out], {t.id: [entry("note", author, now, text=text)]}, [_ticket_event("note", out, author, now)])


def set_state(t: Ticket, state: TicketState, by: str, now: float, reason: str = "",
              due_at: Optional[float] = None) -> Change:
    """Move the ticket as an agent says (see model.ALLOWED). Reopening counts the team's time afresh."""
    if state == t.state:
        return Change([t], changed=False)
    if state not in ALLOWED[t.state]:
        raise Conflict(f"{t.label} cannot go from {t.state.value} to {state.value}")
    out = _copy(t, now)
    if state == TicketState.SOLVED:
        _solve(out, now)
    else:
        if t.state == TicketState.SOLVED:  # reopened
            out.team_since, out.solved_at = now, None
        out.state = state
        if state == TicketState.OPEN and out.due_at is None:
            out.due_at = due_at
        elif state == TicketState.PENDING:
            out.due_at = None
    events = [_ticket_event("state", out, by, now)]
    if state in (TicketState.SOLVED, TicketState.CLOSED) or t.state == TicketState.SOLVED:
        said = customer_event("ticket_state", out, message_id=f"ticket-state/{t.id}/{state.value}/{now}")
        if said:
            events.append(said)
    return Change([out], {t.id: [entry("state", by, now, **{"from": t.state.value, "to": state.value,
                                                             "why": reason or None})]}, events)


def send(t: Ticket, to_group: str, by: str, now: float, note_text: str = "", step: Optional[int] = None,
         due_at: Optional[float] = None) -> Change:
    """To another team (or the flow's step ``step``), with a note: everything known goes with it. Leaving the
    owner team puts it on hold for them (the agent who had it is remembered); coming back to the owner team
    makes it open again, with that agent."""
    _active(t)
    if step is not None and t.flow is not None:  # decided on the ticket as it is now, not as the sender read it
        current = int(t.flow.get("step", 0))
        if current == step and t.group == to_group:
            return Change([t], changed=False)  # a retry: it has moved on to this step already
        if current != step - 1:
            raise Conflict(f"{t.label} is at step {current + 1} of the flow {t.flow['name']!r} now")
    if to_group == t.group:
        raise Conflict(f"{t.label} is with {to_group} already")
    out = _copy(t, now)
    spent = _leave_team(out, now)
    if out.group == out.owner_group and out.assignee:
        out.owner_agent = out.assignee
    before, before_agent, before_state = out.group, out.assignee, out.state
    out.group = to_group
    if to_group == out.owner_group:
        out.state, out.assignee = TicketState.OPEN, out.owner_agent
    else:
        out.state, out.assignee = TicketState.ON_HOLD, None
    if step is not None and out.flow is not None:
        out.flow = {**out.flow, "step": step}
    out.due_at = due_at
    entries = [entry("team", by, now, **{"from": before, "to": to_group, "seconds": spent,
                                         "why": note_text or None, "step": step})]
    if before_state != out.state:
        entries.append(entry("state", by, now, **{"from": before_state.value, "to": out.state.value,
                                                   "why": f"sent to {to_group}"}))
    if note_text:
        entries.append(entry("note", by, now, text=note_text))
    return Change([out], {t.id: entries}, [_ticket_event("sent", out, by, now, groups=[before],
                                                         also=[before_agent])])


def customer_message(t: Ticket, text: str, via: str, now: float, reopen_seconds: float,
                     due_at: Optional[float], message_id: Optional[str] = None) -> Change:
    """The customer's answer (chat or e-mail): pending -> open; solved within the reopen window -> open
    (reopened). A closed ticket (or solved past the window) takes no more: Conflict, the bot opens a new one. A
    ``message_id`` already on the ticket changes nothing (a sender's retry)."""
    if message_id and message_id in t.customer_ids:
        return Change([t], changed=False)
    if t.state == TicketState.CLOSED or (t.state == TicketState.SOLVED and now - (t.solved_at or now) > reopen_seconds):
        raise Conflict(f"{t.label} is closed: a new message needs a new ticket")
    out = _copy(t, now)
    if message_id:
        out.customer_ids = [*t.customer_ids, message_id][-KEEP_MESSAGE_IDS:]
    entries = [entry("customer", "customer", now, text=text, via=via, message_id=message_id)]
    if t.state in (TicketState.PENDING, TicketState.SOLVED, TicketState.NEW):
        to = TicketState.OPEN if t.state != TicketState.NEW else TicketState.NEW
        if t.state == TicketState.SOLVED:
            out.team_since, out.solved_at = now, None
        if to != t.state:
            entries.append(entry("state", "customer", now, **{
                "from": t.state.value, "to": to.value,
                "why": "the customer answered" if t.state == TicketState.PENDING else "reopened by the customer"}))
        out.state = to
    if out.due_at is None and out.state != TicketState.ON_HOLD:
        out.due_at = due_at
    return Change([out], {t.id: entries}, [_ticket_event("customer", out, "customer", now)])


def merge(source: Ticket, target: Ticket, by: str, now: float) -> Change:
    """A duplicate merged into another ticket: the duplicate is closed (pointing at the other), whose chats and
    tags the other gains. Merging again into the same ticket changes nothing (a retry after a lost answer)."""
    if source.id == target.id:
        raise Conflict("a ticket cannot be merged into itself")
    if source.merged_into == target.label:
        return Change([source, target], changed=False)
    for t in (source, target):
        if t.state == TicketState.CLOSED:
            raise Conflict(f"{t.label} is closed")
    src, dst = _copy(source, now), _copy(target, now)
    if src.active:
        _leave_team(src, now)
    src.state, src.merged_into, src.due_at = TicketState.CLOSED, dst.label, None
    dst.escalations = list(dict.fromkeys([*dst.escalations, *src.escalations]))
    dst.tags = list(dict.fromkeys([*dst.tags, *src.tags]))
    for k, v in src.fields.items():
        dst.fields.setdefault(k, v)
    seen = [*target.customer_ids, *source.customer_ids]
    if seen:  # the customer's retry of a message the duplicate took is not added to this one again
        dst.customer_ids = list(dict.fromkeys(seen))[-KEEP_MESSAGE_IDS:]
    entries = {src.id: [entry("merged", by, now, to=dst.label, **{"from": source.state.value})],
               dst.id: [entry("merged", by, now, **{"from": src.label}),
                        *[entry("linked", by, now, escalation=e) for e in src.escalations
                          if e not in target.escalations]]}
    return Change([src, dst], entries, [_ticket_event("merged", src, by, now), _ticket_event("merged", dst, by, now)])


def close_solved(t: Ticket, now: float) -> Change:
    """The sweep: a ticket solved longer ago than the reopen window closes for good."""
    if t.state != TicketState.SOLVED:
        return Change([t], changed=False)
    out = _copy(t, now)
    out.state = TicketState.CLOSED
    return Change([out], {t.id: [entry("state", "system", now, **{"from": "solved", "to": "closed",
                                                                  "why": "the reopen window ended"})]},
                  [_ticket_event("state", out, "system", now)])
