"""The ticket store interface, and the indexes both stores keep.

Every change is one atomic step: the store reads the tickets, hands them to a pure function of
handoff/tickets/transitions.py and writes what it returns (tickets, timeline entries, index entries, events)
at once, or not at all. In Redis that is WATCH on the tickets' keys and MULTI/EXEC, retried when another
process changed one of them first: of two agents claiming one ticket at once exactly one wins, and any number
of service processes can share one Redis (all keys under the service's hash-tagged prefix, so one Redis
Cluster slot). The in-memory twin does the same under one lock.

Indexes (sorted sets: member ticket id, score as said) are a pure function of the ticket (``index_entries``),
so a change rewrites exactly the entries that differ, and no view ever scans every ticket.
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Dict, List, Sequence, Tuple

from handoff.tickets.model import ACTIVE, Ticket, TicketState
from handoff.tickets.transitions import Change

QUEUE_STATES = (TicketState.NEW, TicketState.OPEN, TicketState.ON_HOLD)
FAR = 4102444800.0  # 2100-01-01: the due time of a ticket nobody owes an answer on, for ordering


def queue_rank(t: Ticket) -> float:
    """A group's ticket queue, first taken first: higher priority, then earlier due, then older."""
    return -t.priority * 1e10 + (t.due_at or FAR)


def index_entries(t: Ticket) -> Dict[str, float]:
    """Index key (after ``t:ix:``) -> score, for every index the ticket belongs to."""
    out: Dict[str, float] = {"all": t.created_at}
    req = t.requester
    for kind, value in (("customer", req.get("customer_id")), ("conversation", req.get("conversation_id")),
                        ("email", (req.get("email") or "").lower() or None), ("order", t.fields.get("order_id"))):
        if value:
            out[f"{kind}:{value}"] = t.created_at
    for escalation_id in t.escalations:  # a chat's tickets, for its record
        out[f"chat:{escalation_id}"] = t.created_at
    if t.merged_into:
        return out
    out[f"state:{t.state.value}"] = t.updated_at
    if t.state in ACTIVE:
        out[f"group:{t.group}"] = t.updated_at
        if t.owner_group != t.group:
            out[f"group:{t.owner_group}"] = t.updated_at
        if t.due_at is not None:
            out["due"] = t.due_at
        if t.assignee:
            out[f"agent:{t.assignee}"] = t.due_at or FAR
        elif t.state in QUEUE_STATES:
            out[f"queue:{t.group}"] = queue_rank(t)
    if t.state == TicketState.SOLVED and t.solved_at is not None:
        out["solved"] = t.solved_at
    return out


Transition = Callable[[List[Ticket]], Change]


class TicketStore(abc.ABC):
    """What the ticket service needs from its storage. Every method is one atomic step."""

    @abc.abstractmethod
    async def create_ticket(self, make: Callable[[int], Change], request_key: str = "") -> Tuple[Ticket, bool]:
        """The next number goes to ``make(number)``, whose Change (one new ticket) is written at once. A
        ``request_key`` already used returns that request's ticket and False: retries never create a second."""

    @abc.abstractmethod
    async def change(self, ticket_ids: Sequence[str], transition: Transition) -> Change:
        """Apply ``transition`` to the current tickets (in the order given) and write its Change atomically;
        NotFound when one is missing. What ``transition`` raises (Conflict...) propagates and nothing is
        written."""

    @abc.abstractmethod
    async def ticket(self, ticket_id: str) -> Ticket:
        """The ticket (NotFound if none)."""

    @abc.abstractmethod
    async def ticket_by_number(self, number: int) -> Ticket:
        """The ticket with this number (NotFound if none)."""

    @abc.abstractmethod
    async def tickets(self, ticket_ids: Sequence[str]) -> List[Ticket]:
        """The tickets in the order given; missing ones are left out."""

    @abc.abstractmethod
    async def timeline(self, ticket_id: str) -> List[Dict[str, Any]]:
        """Every entry, oldest first, numbered from 1 (``seq``)."""

    @abc.abstractmethod
    async def ticket_with_timeline(self, ticket_id: str) -> Tuple[Ticket, List[Dict[str, Any]]]:
        """The ticket and its timeline read at one instant, so that a page never shows a change's entries beside
        the ticket from before it (NotFound if none)."""

    @abc.abstractmethod
    async def index(self, name: str, limit: int, min_score: float = float("-inf"),
                    max_score: float = float("inf"), reverse: bool = False, offset: int = 0) -> List[str]:
        """Ticket ids of the index ``name`` (see index_entries), lowest score first (``reverse``: highest), from the
        ``offset``-th on."""

    @abc.abstractmethod
    async def index_size(self, name: str) -> int:
        """How many tickets the index holds (an agent's ticket load: ``agent:<id>``)."""
