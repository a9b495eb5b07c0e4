"""The customer's satisfaction survey on a ticket, as a pure transition (like handoff/tickets/transitions.py):
stored once on the ticket (``survey``, a ``survey`` timeline entry, a ``ticket_survey`` event); "not solved" on a
solved ticket reopens it with raised priority and a new answer time. The same answer again changes nothing (a
retry); a different one is a Conflict."""
from __future__ import annotations

from typing import Any, Dict

from handoff.store import Conflict
from handoff.tickets.model import Ticket, TicketState, view
from handoff.tickets.transitions import Change, _concerns, _copy, _ticket_event, entry

ANSWER_KEYS = ("resolved", "rating", "more_help")


def same_answer(stored: Dict[str, Any], answer: Dict[str, Any]) -> bool:
    """Whether ``answer`` is the one already stored (a retry of it)."""
    return all(stored.get(k) == answer.get(k) for k in ANSWER_KEYS)


def wants_follow_up(answer: Dict[str, Any]) -> bool:
    """"Not solved" asks for a follow-up; "I need more help" goes back to the queue instead (the bot asks)."""
    return answer.get("resolved") is False and not answer.get("more_help")


def survey(t: Ticket, answer: Dict[str, Any], now: float, priority: int, due_at: float) -> Change:
    """Store ``answer`` (resolved, rating, more_help?, comment?) on a solved or closed ticket; reopen a solved one
    (priority at least ``priority``, due at ``due_at``) when the customer says it is not solved."""
    if t.survey:
        if same_answer(t.survey, answer):
            return Change([t], changed=False)
        raise Conflict(f"{t.label}: survey already answered")
    if t.state not in (TicketState.SOLVED, TicketState.CLOSED):
        raise Conflict(f"{t.label} is {t.state.value}: the survey comes after it is solved")
    out = _copy(t, now)
    out.survey = {**{k: v for k, v in answer.items() if v is not None or k == "rating"}, "at": now}
    entries = [entry("survey", "customer", now, resolved=answer["resolved"], rating=answer.get("rating"),
                     more_help=answer.get("more_help") or None, comment=answer.get("comment"))]
    if wants_follow_up(answer) and t.state == TicketState.SOLVED:
        out.state, out.solved_at, out.team_since = TicketState.OPEN, None, now
        out.priority, out.due_at = max(t.priority, int(priority)), due_at
        entries.append(entry("state", "customer", now, **{"from": "solved", "to": "open",
                                                         "why": "the customer said it is not solved (survey)"}))
    events = [_ticket_event("survey", out, "customer", now),
              (_concerns(out), {"type": "ticket_survey", "ticket": t.id, "label": t.label,
                                "conversation_id": t.requester.get("conversation_id"), "group": t.group,
                                "agent": t.assignee, "survey": dict(out.survey), "state": out.state.value,
                                "reopened": out.state != t.state, "at": now, "view": view(out, now)})]
    return Change([out], {t.id: entries}, events)
