"""The ticket and its states.

States: new (nobody has it yet) -> open (an agent works on it) -> pending (waiting on the customer's answer)
| on_hold (waiting on another team) -> solved -> closed. A solved ticket reopens when the customer answers
within the reopen window; after it the sweep closes it, and a closed ticket never changes again.

A ticket has two teams: ``owner_group``, the team that owns the case, and ``group``, the team that has it now.
Sending it to another team puts it on hold for the owners and in the other team's queue; when that team is
done it comes back to the owners, to the agent who sent it (``owner_agent``). ``team_seconds`` is the time it
has spent in each team, counted when it leaves one (the current team's time runs from ``team_since``).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional


class TicketState(str, Enum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


ACTIVE = (TicketState.NEW, TicketState.OPEN, TicketState.PENDING, TicketState.ON_HOLD)
# Who may move a ticket from one state to another by saying so (POST /v1/tickets/{ref}/state). Replies, customer
# messages, sending to a team and the sweep move it too, by their own rules (handoff/tickets/transitions.py).
ALLOWED: Dict[TicketState, tuple] = {
    TicketState.NEW: (TicketState.OPEN, TicketState.PENDING, TicketState.ON_HOLD, TicketState.SOLVED),
    TicketState.OPEN: (TicketState.PENDING, TicketState.ON_HOLD, TicketState.SOLVED),
    TicketState.PENDING: (TicketState.OPEN, TicketState.ON_HOLD, TicketState.SOLVED),
    TicketState.ON_HOLD: (TicketState.OPEN, TicketState.PENDING, TicketState.SOLVED),
    TicketState.SOLVED: (TicketState.OPEN, TicketState.CLOSED),
    TicketState.CLOSED: (),
}
LABEL = re.compile(r"^\s*(?:T[-\s]?)?(\d{1,12})\s*$", re.IGNORECASE)
TICKET_ID = re.compile(r"^[0-9a-f]{32}$")  # uuid4().hex: never the name of the store's other keys (count, ix:...)
FIRST_NUMBER = 10001


def label(number: int) -> str:
    """The number customers quote: ``T-10042``."""
    return f"T-{number}"


def parse_label(text: str) -> Optional[int]:
    """10042 from "T-10042", "t10042", "T 10042" or "10042"; None for anything else."""
    m = LABEL.match(text or "")
    return int(m.group(1)) if m else None


@dataclass
class Ticket:
    id: str
    number: int
    state: TicketState
    subject: str
    group: str
    owner_group: str
    priority: int
    created_at: float
    updated_at: float
    summary: str = ""
    # chat (born from a chat nobody could take) | agent (made by an agent from a chat) | api
    # | follow_up (a survey said not solved)
    source: str = "api"
    requester: Dict[str, Any] = field(default_factory=dict)  # customer_id, name, email, channel, conversation_id, lang
    assignee: Optional[str] = None
    owner_agent: Optional[str] = None  # the owner team's agent, who gets the ticket back from another team
    tags: List[str] = field(default_factory=list)
    fields: Dict[str, Any] = field(default_factory=dict)  # order_id, product_model, fault_description, error_codes
    brief: Dict[str, Any] = field(default_factory=dict)  # the bot's case brief, when born from a chat
    escalations: List[str] = field(default_factory=list)  # linked chats (their transcripts go with the ticket)
    flow: Optional[Dict[str, Any]] = None  # {"name", "step", "steps": [group, ...]}
    due_at: Optional[float] = None  # the next answer to the customer is due (business hours); None: not on us
    solved_at: Optional[float] = None
    team_seconds: Dict[str, float] = field(default_factory=dict)
    team_since: float = 0.0
    merged_into: Optional[str] = None  # the label of the ticket this one was merged into
    replied: bool = False  # an agent has answered the customer at least once
    customer_ids: List[str] = field(default_factory=list)  # the customer's latest message ids (a retry is added once)
    reply_ids: List[str] = field(default_factory=list)  # the agents' latest reply message ids (a retry is added once)
    survey: Optional[Dict[str, Any]] = None  # the customer's satisfaction survey after the solve (handoff/surveys.py)

    @property
    def label(self) -> str:
        return label(self.number)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Ticket":
        data = dict(data)
        data["state"] = TicketState(data["state"])
        known = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})

    def time_in_teams(self, now: float) -> Dict[str, float]:
        """Seconds spent in each team so far, the current team's running time included."""
        out = dict(self.team_seconds)
        if self.active:
            out[self.group] = out.get(self.group, 0.0) + max(0.0, now - self.team_since)
        return {g: round(s, 1) for g, s in out.items()}


def iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def survey_view(survey: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The stored survey with its time in ISO 8601 (None: not answered)."""
    return {**survey, "at": iso(survey.get("at"))} if survey else None


def view(t: Ticket, now: float) -> Dict[str, Any]:
    """The ticket as the API, the events and the console show it (times in ISO 8601)."""
    return {"id": t.id, "number": t.number, "label": t.label, "state": t.state.value, "subject": t.subject,
            "summary": t.summary, "source": t.source, "requester": t.requester, "group": t.group,
            "owner_group": t.owner_group, "assignee": t.assignee, "owner_agent": t.owner_agent,
            "priority": t.priority, "tags": t.tags, "flow": t.flow,
            "fields": {k: v for k, v in t.fields.items() if not k.startswith("_")},  # _message_ids: the service's
            "created_at": iso(t.created_at), "updated_at": iso(t.updated_at), "due_at": iso(t.due_at),
            "solved_at": iso(t.solved_at), "team_seconds": t.time_in_teams(now), "merged_into": t.merged_into,
            "escalations": t.escalations, "survey": survey_view(t.survey),
            "overdue": bool(t.due_at is not None and t.active and now > t.due_at)}
