"""One flat row per chat and per ticket: what every figure and the CSV export read (pure).

A row keeps only facts of its own record (times, topic, outcome, clock-log breaches); ``mark_fcr`` then decides
first-contact resolution across rows, since that needs the customer's other contacts (see the package's
docstring for the definition).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from handoff import stats
from handoff.store import Escalation, Status
from handoff.tickets.model import Ticket, TicketState

FOLLOW_UP_SECONDS = 7 * 86400
OTHER = "other"
# Priority bands of the SLA figures (the priority numbers of policy/skill_groups.yml: base 10, VIP +30/+40...)
BANDS = ((60, "urgent"), (30, "high"), (-10 ** 9, "normal"))


def band(priority: int) -> str:
    """"urgent" from 60, "high" from 30, else "normal"."""
    return next(name for floor, name in BANDS if priority >= floor)


@dataclass
class Row:
    kind: str  # "chat" | "ticket"
    id: str
    ref: str  # conversation id (chat) or label (ticket)
    customer: str
    topic: str
    reasons: List[str]
    group: str
    owner_group: str
    priority: int
    agent: Optional[str]
    created_at: float
    status: str
    source: str  # chat: "chat"; ticket: its source (chat | agent | api)
    wait: Optional[float] = None  # chats: creation to the first assignment
    first_response: Optional[float] = None
    resolution: Optional[float] = None
    solved: bool = False
    one_contact: bool = False  # solved by the one person who took it (no transfer, no ticket, no team move, no reopen)
    reopened: int = 0
    solved_once: bool = False  # tickets: solved at least once
    teams: Dict[str, float] = field(default_factory=dict)
    survey: Optional[Dict[str, Any]] = None
    breaches: List[str] = field(default_factory=list)  # targets with an sla_breach entry
    warnings: List[str] = field(default_factory=list)
    targets: List[str] = field(default_factory=list)
    fcr: bool = False
    linked: List[str] = field(default_factory=list)  # chat ids a ticket came from / ticket ids of a chat

    @property
    def band(self) -> str:
        return band(self.priority)

    @property
    def cross_team_seconds(self) -> float:
        return round(sum(s for g, s in self.teams.items() if g != self.owner_group), 1)


def _sla(log: Sequence[Mapping[str, Any]]) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {"sla_breach": [], "sla_warning": []}
    for entry in log:
        kind, target = entry.get("kind"), entry.get("target")
        if kind in out and isinstance(target, str) and target not in out[kind]:
            out[kind].append(target)
    return out


def _targets(base: Sequence[str], sla: Dict[str, List[str]]) -> List[str]:
    return list(dict.fromkeys([*base, *sla["sla_breach"], *sla["sla_warning"]]))


def chat_row(e: Escalation, messages: Sequence[Mapping[str, Any]], log: Sequence[Mapping[str, Any]],
             tickets: Sequence[str] = ()) -> Row:
    """The chat's row: ``messages`` its stored messages, ``log`` its clock log, ``tickets`` the tickets made from it."""
    topics = e.facets.get("topics") or []
    first_reply = next((m["at"] for m in messages if m.get("speaker") == "agent"), None)
    # the first "closed" entry: the survey adds another one later (the status stays closed)
    closed_at = next((h["at"] for h in e.history if h["status"] == Status.CLOSED.value), None)
    survey = e.outcome.get("survey") if isinstance(e.outcome.get("survey"), dict) else None
    solved = (e.status == Status.CLOSED and e.outcome.get("resolved") is True
              and not (survey is not None and survey.get("resolved") is False))
    sla = _sla(log)
    became_ticket = e.status == Status.TICKET or bool(tickets)
    row = Row("chat", e.id, e.conversation_id, str(e.facets.get("customer") or f"conv:{e.conversation_id}"),
              str(topics[0]) if topics else OTHER, list(e.facets.get("triggers") or []), e.skill_group, e.skill_group,
              e.priority, e.agent_id or _last_agent(e), e.created_at, e.status.value, "chat",
              wait=_round(stats.wait(e)), first_response=_round(first_reply - e.created_at if first_reply else None),
              resolution=_round(closed_at - e.created_at if solved and closed_at else None), solved=solved,
              survey=survey, breaches=sla["sla_breach"], warnings=sla["sla_warning"],
              targets=_targets(("first_response", "resolution"), sla), linked=list(tickets))
    row.one_contact = solved and not stats.transferred(e) and not became_ticket
    return row


def _last_agent(e: Escalation) -> Optional[str]:
    return next((h.get("agent") for h in reversed(e.history) if h.get("agent")), None)


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(max(0.0, value), 1)


def ticket_topic(t: Ticket) -> str:
    topics = t.brief.get("topics") or []
    return str(topics[0]) if topics else (t.tags[0] if t.tags else OTHER)


def ticket_row(t: Ticket, timeline: Sequence[Mapping[str, Any]], log: Sequence[Mapping[str, Any]], now: float) -> Row:
    """The ticket's row: ``timeline`` its entries, ``log`` its clock log, ``now`` for the current team's time."""
    first_reply = next((x["at"] for x in timeline if x.get("kind") == "reply"), None)
    states = [x for x in timeline if x.get("kind") == "state"]
    first_solved = next((x["at"] for x in states if x.get("to") == TicketState.SOLVED.value), None)
    reopened = sum(1 for x in states if x.get("from") == TicketState.SOLVED.value
                   and x.get("to") != TicketState.CLOSED.value)
    moved = any(x.get("kind") == "team" for x in timeline)
    solved = t.state in (TicketState.SOLVED, TicketState.CLOSED) and not t.merged_into and first_solved is not None
    sla = _sla(log)
    customer = t.requester.get("customer_id") or t.requester.get("email") or t.requester.get("conversation_id")
    row = Row("ticket", t.id, t.label, f"id:{customer}" if customer else f"ticket:{t.id}", ticket_topic(t),
              list(t.brief.get("triggers") or []), t.group, t.owner_group, t.priority, t.assignee or t.owner_agent,
              t.created_at, t.state.value, t.source,
              first_response=_round(first_reply - t.created_at if first_reply else None),
              resolution=_round(first_solved - t.created_at if first_solved else None), solved=solved,
              reopened=reopened, solved_once=first_solved is not None, teams=t.time_in_teams(now),
              breaches=sla["sla_breach"], warnings=sla["sla_warning"],
              targets=_targets(("first_response", "resolution"), sla), linked=list(t.escalations))
    row.one_contact = solved and not reopened and not moved
    return row


def mark_fcr(rows: Sequence[Row], later: Sequence[Row] = ()) -> None:
    """Set ``fcr`` on every human contact solved at first contact: ``one_contact``, and no other chat or ticket of
    the same customer on the same topic created within 7 days after it (among ``rows`` and ``later``, the
    contacts after the range). Tickets born from a chat are that chat's follow-up, not contacts of their own."""
    contacts = [r for r in [*rows, *later] if r.kind == "chat" or r.source == "api"]
    by_key: Dict[tuple, List[float]] = {}
    for r in contacts:
        by_key.setdefault((r.customer, r.topic), []).append(r.created_at)
    for r in rows:
        if not (r.kind == "chat" or r.source == "api"):
            r.fcr = False
            continue
        again = any(r.created_at < at <= r.created_at + FOLLOW_UP_SECONDS for at in by_key[(r.customer, r.topic)])
        r.fcr = r.one_contact and not again
