"""How a chat nobody can serve live becomes a ticket (a mixin of handoff.service.HandoffService): nobody online in
its group or fallbacks (at the handoff, or later in the sweep), outside its group's business hours when the policy
says so (``tickets.outside_business_hours: ticket``), or the waiting customer leaves a message.

The ticket is made first (one per chat: handoff/tickets/service.py ``from_escalation``), then the chat leaves the
queue naming it, so a crash in between leaves the chat waiting and the next try finds the same ticket; the
customer is told its number and when the answer is due in the group's business hours.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from handoff import stats
from handoff.store import Conflict, Escalation, NotFound, Status
from handoff.tickets.model import iso

@dataclass
class Created:
    """What creating an escalation did (POST /v1/handoffs answers ``as_dict()``)."""

    escalation: Escalation
    created: bool
    queue_position: Optional[int]
    estimated_wait_seconds: Optional[int]
    ticket: Optional[Dict[str, Any]] = None  # the ticket the chat became: id, label, due_at, due_local, timezone

    def as_dict(self) -> Dict[str, Any]:
        e = self.escalation
        body = {"id": e.id, "conversation_id": e.conversation_id, "status": e.status.value,
                "skill_group": e.skill_group, "priority": e.priority, "queue_position": self.queue_position,
                "estimated_wait_seconds": self.estimated_wait_seconds, "created": self.created}
        if e.status == Status.TICKET:
            body["ticket"] = {"reply_by": e.outcome.get("reply_by"),
                              "reply_within_hours": e.outcome.get("reply_within_hours"), **(self.ticket or {})}
        return body


class ChatTickets:
    store: Any
    groups: Any
    metrics: Any
    clock: Any
    tickets: Any
    seconds_per_point: float

    def _closed(self, group: str, now: float) -> bool:
        """Outside the group's business hours, with the policy making such chats tickets
        (``tickets.outside_business_hours: ticket``; the default ``queue`` serves them when someone is online)."""
        if getattr(self.groups, "outside_business_hours", "queue") != "ticket":
            return False
        calendar = (getattr(self.groups, "calendars", None) or {}).get(group)
        return calendar is not None and not calendar.is_open(now)

    async def _after_hours(self, request: Dict[str, Any], decision: Dict[str, Any], group: str, now: float) -> Created:
        """A handoff outside the group's business hours: the chat is made (or found: a retry) and becomes a
        ticket. Two steps: a crash in between leaves it waiting, and the bot's retry or the sweep finishes it."""
        e, created = await self.store.create(
            request["conversation_id"], group, decision["priority"], {"request": request, "routing": decision}, now,
            self.seconds_per_point, request["created_at"], stats.facets_of(request, request["conversation_id"]))
        if created:
            self.metrics.escalations.labels(group).inc()
        why = f"outside the business hours of {group}"
        ticket = None
        if e.status in (Status.WAITING, Status.OFFERED):
            e, ticket = await self._ticket(e, why)
        elif e.status == Status.TICKET:
            ticket = await self._ticket_of(e, why)
        return Created(e, created, None, None, ticket)

    def _ticket_outcome(self, group: str, now: float) -> Dict[str, Any]:
        """What a chat that becomes a ticket records: when the answer is due (business hours of the group)."""
        hours = self.groups.ticket_reply_hours
        if self.tickets is None:
            return {"reply_by": iso(now + hours * 3600), "reply_within_hours": hours}
        due = self.tickets.due(group, now)
        return {"reply_by": iso(due), "reply_within_hours": round((due - now) / 3600, 2),
                **self.tickets.local(group, due)}

    async def _ticket_of(self, e: Escalation, why: str, now: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The chat's ticket (made now if it has none): what the customer is told about it."""
        if self.tickets is None:
            return None
        t, _ = await self.tickets.from_escalation(e.id, "system", "chat", why=why, now=now)
        return {"id": t.id, "label": t.label, **self.tickets.local(t.group, t.due_at)}

    async def _ticket(self, e: Escalation, why: str) -> Tuple[Escalation, Optional[Dict[str, Any]]]:
        """The waiting chat becomes a ticket: the ticket first (one per chat, so a crash in between leaves the chat
        waiting, and the next try finds the same ticket), then the chat leaves the queue naming it, so the
        bot's bridge can tell the customer its number and when the answer is due."""
        now = self.clock()
        ticket = await self._ticket_of(e, why, now)
        outcome = self._ticket_outcome(e.skill_group, now)
        if ticket:
            outcome.update(ticket=ticket["label"], ticket_id=ticket["id"], reply_by=ticket["due_at"],
                           due_local=ticket["due_local"], timezone=ticket["timezone"])
        done = await self.store.leave_queue(e.id, Status.TICKET, now, why, outcome)
        self.metrics.tickets.labels(e.skill_group).inc()
        await self.hooks.chat(done, "finished")  # type: ignore[attr-defined]
        return done, ticket

    async def leave_message(self, escalation_id: str) -> Created:
        """The waiting customer leaves a message instead: the chat becomes a ticket (Conflict unless waiting or
        offered)."""
        e = await self.store.get(escalation_id)
        if e.status not in (Status.WAITING, Status.OFFERED):
            raise Conflict(f"the chat is {e.status.value}: only a waiting chat can become a message")
        done, ticket = await self._ticket(e, "the customer left a message")
        await self.dispatch_many(await self._agent_groups(e))
        return Created(done, False, None, None, ticket)

    async def _close_queue(self, group: str) -> None:
        for escalation_id in await self.store.waiting(group):
            try:
                await self._ticket(await self.store.get(escalation_id), f"outside the business hours of {group}")
            except (Conflict, NotFound):
                continue  # another process moved it first
