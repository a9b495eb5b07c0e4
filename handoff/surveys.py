"""The customer's answer to the satisfaction survey, and what "not solved" does (docs/survey.md).

- On a chat (``POST /v1/handoffs/{id}/survey``): stored as ``outcome.survey`` (HandoffService.survey). "Not
  solved" opens a **follow-up ticket** for the same agent, in the same group, with the chat's priority raised
  (policy/survey.yml ``follow_up.raise_priority_by``), source ``follow_up``, linked to the chat and noting the
  survey. "I need more help" (``more_help``) opens nothing here: the bot hands the customer to the queue again.
- On a ticket (``POST /v1/tickets/{ref}/survey``): stored on the ticket (handoff/tickets/survey_rules.py);
  "not solved" reopens a solved ticket with raised priority, or opens a follow-up of a closed one.
- Idempotent: the same answer again answers as the first time (the follow-up ticket has the request key
  ``follow_up:<escalation id>`` / ``follow_up:ticket:<ticket id>``, so a retry, even after a crash between
  storing the answer and opening the ticket, finds the one ticket); a different answer is 409.

What the bot gets back (``follow_up``): the ticket's label, its agent and when they will answer (in the team's
time zone), so it tells the customer "I've opened case T-... with <agent>; they will answer by ...".
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from common.survey_policy import SurveyPolicy
from handoff.store import Conflict, Escalation
from handoff.tickets.model import Ticket
from handoff.tickets.survey_rules import same_answer, survey as survey_rule, wants_follow_up


def _detail(answer: Dict[str, Any]) -> str:
    rating = f"{answer['rating']}/5" if answer.get("rating") is not None else "no rating"
    return f"{'solved' if answer['resolved'] else 'not solved'}, {rating}" + (
        f", \"{answer['comment']}\"" if answer.get("comment") else "")


class SurveyAnswers:
    def __init__(self, service: Any, tickets: Any, policy: SurveyPolicy) -> None:
        self.service = service
        self.tickets = tickets
        self.policy = policy

    async def follow_up_view(self, t: Ticket, reopened: bool = False) -> Dict[str, Any]:
        account = await self.service.store.account(t.assignee or "") if t.assignee else None
        return {"id": t.id, "label": t.label, "state": t.state.value, "priority": t.priority,
                "agent_id": t.assignee, "agent_name": (account or {}).get("name") or t.assignee,
                "group": t.group, "reopened": reopened, **self.tickets.local(t.group, t.due_at)}

    # -- chats -------------------------------------------------------------------------------------
    async def chat(self, escalation_id: str, answer: Dict[str, Any]) -> Tuple[Escalation, Optional[Dict[str, Any]]]:
        """Store the answer (once) and, for "not solved", open (or find) the follow-up ticket."""
        try:
            e = await self.service.survey(escalation_id, answer)
        except Conflict:
            e = await self.service.store.get(escalation_id)
            stored = e.outcome.get("survey")
            if not isinstance(stored, dict) or not same_answer(stored, answer):
                raise
        if not wants_follow_up(answer) or self.tickets is None:
            return e, None
        t, _ = await self.tickets.from_escalation(
            e.id, by="survey", source="follow_up", why="the customer said the problem is not solved",
            group=e.skill_group, assignee=e.agent_id, priority=self.policy.follow_up_priority(e.priority),
            request_key=f"follow_up:{e.id}",
            note=f"Follow-up of chat {e.id}: the customer's survey said {_detail(answer)}.")
        return e, await self.follow_up_view(t)

    # -- tickets -----------------------------------------------------------------------------------
    async def ticket(self, ref: str, answer: Dict[str, Any]) -> Tuple[Ticket, Optional[Dict[str, Any]]]:
        """Store the answer on the ticket; "not solved" reopens a solved one, or follows a closed one up."""
        t = await self.tickets.find(ref)
        now = self.tickets.clock()
        priority = self.policy.follow_up_priority(t.priority)
        due = self.tickets.due(t.group, now)
        change = await self.tickets._apply([t.id], lambda ts: survey_rule(ts[0], answer, now, priority, due))
        after = change.ticket
        if change.changed:
            self.tickets.metrics.ticket_changes.labels("survey").inc()
        if not wants_follow_up(answer):
            return after, None
        if after.state.value == "open":  # reopened by this answer (or by its first try)
            return after, await self.follow_up_view(after, reopened=True)
        follow, _ = await self.tickets.open_ticket(
            subject=f"Follow-up: {t.subject}"[:200], requester=t.requester, by="survey", source="follow_up",
            group=t.group, summary=t.summary, priority=priority, tags=t.tags, fields=t.fields, brief=t.brief,
            escalations=t.escalations, request_key=f"follow_up:ticket:{t.id}", assignee=t.assignee or t.owner_agent,
            why="the customer said the problem is not solved",
            note=f"Follow-up of {t.label}: the customer's survey said {_detail(answer)}.")
        return after, await self.follow_up_view(follow)
