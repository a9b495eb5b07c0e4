"""When the satisfaction survey goes out: a durable ``survey`` timer per closed chat and per solved ticket.

- A chat that finished as *closed* (by an agent) gets the timer ``survey:chat:<escalation id>`` at the close
  plus its group's ``chat_delay_seconds`` (policy/survey.yml); a ticket that became *solved* gets
  ``survey:ticket:<ticket id>:<solved at>`` at the solve plus ``ticket_delay_seconds`` (a ticket solved again
  after a reopen gets a new timer). ``once``: a listener told twice (or the sweep's reconcile) never asks twice.
- When it fires, the handler reads the record again and does nothing when the survey was answered meanwhile,
  when the chat is no longer closed, or when the ticket is no longer solved or closed (reopened: the survey
  comes after its next solve). Otherwise it records, atomically with the timer (handoff/clocks/timers.py), a
  ``survey_requested`` event (for the bot's bridge; ``to`` the agent who had it) and a ``survey_sent`` entry
  in the chat's or ticket's clock log.
- ``how``: ``chat`` when the customer is still there, i.e. they wrote within ``present_seconds`` before now
  (their last message in the chat, or its close if they wrote none; the ticket's last customer entry);
  ``next_visit`` when they are gone
  but the case has a chat conversation (the bridge asks when they next open the chat); ``email`` when there is
  no conversation but an e-mail address and ``email_when_gone`` (handoff/survey_mail.py sends the link).
  The bridge checks presence again (is their chat window connected?) and keeps a ``chat`` survey for the next
  visit when it is not: the service's guess errs towards asking in the chat.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from common.survey_policy import SurveyPolicy
from handoff.clocks.timers import Fired, Timer, TimerRunner
from handoff.store import NotFound, Status
from handoff.tickets.model import TicketState

KIND = "survey"


def chat_key(escalation_id: str) -> str:
    return f"survey:chat:{escalation_id}"


def ticket_key(ticket_id: str, solved_at: float) -> str:
    return f"survey:ticket:{ticket_id}:{int(solved_at)}"


def closed_at(e: Any) -> Optional[float]:
    """When the chat was closed (its last ``closed`` history entry)."""
    return next((h["at"] for h in reversed(e.history) if h.get("status") == Status.CLOSED.value), None)


def last_customer_message(messages: List[Dict[str, Any]]) -> Optional[float]:
    return max((m["at"] for m in messages if m.get("speaker") == "customer"), default=None)


def last_customer_entry(timeline: List[Dict[str, Any]]) -> Optional[float]:
    return max((e["at"] for e in timeline if e.get("kind") == "customer"), default=None)


def how_to_ask(policy: SurveyPolicy, last_activity: Optional[float], now: float, conversation: Optional[str],
               email: Optional[str]) -> Optional[str]:
    """``chat``, ``next_visit``, ``email``, or None when there is no way to reach the customer."""
    if conversation:
        return "chat" if policy.present(last_activity, now) else "next_visit"
    if email and policy.email_when_gone:
        return "email"
    return None


class SurveyClock:
    """Schedules and fires the survey timers. ``mail``: an async ``(ticket_or_chat_info) -> bool`` that queues the
    survey e-mail (None: no e-mail configured)."""

    def __init__(self, timers: TimerRunner, store: Any, policy: SurveyPolicy, mail: Any = None) -> None:
        self.timers = timers
        self.store = store
        self.policy = policy
        self.mail = mail

    def install(self, hooks: Any) -> None:
        self.timers.register(KIND, self.fire)
        hooks.on_chat(self.on_chat)
        hooks.on_ticket(self.on_ticket)

    # -- scheduling --------------------------------------------------------------------------------
    async def on_chat(self, e: Any, what: str) -> None:
        if what not in ("finished", "reconcile") or e.status != Status.CLOSED or "survey" in e.outcome:
            return
        at = closed_at(e)
        if at is None:  # the Redis store's transitions answer the chat without its history: read it
            at = closed_at(await self.store.get(e.id))
        if at is None:
            return
        due = at + self.policy.delay(e.skill_group, "chat")
        await self.timers.schedule(chat_key(e.id), KIND, due, {"subject": "chat", "id": e.id}, once=True)

    async def on_ticket(self, t: Any, what: str) -> None:
        if t.state != TicketState.SOLVED or t.solved_at is None or getattr(t, "survey", None):
            return
        due = t.solved_at + self.policy.delay(t.group, "ticket")
        await self.timers.schedule(ticket_key(t.id, t.solved_at), KIND, due, {"subject": "ticket", "id": t.id},
                                   once=True)

    # -- firing ------------------------------------------------------------------------------------
    async def fire(self, timer: Timer) -> Fired:
        now = await self.timers.now()
        subject, ident = timer.payload.get("subject"), str(timer.payload.get("id") or "")
        try:
            found = await (self._chat(ident, now) if subject == "chat" else self._ticket(ident, now))
        except NotFound:
            return Fired()
        if found is None:
            return Fired()
        to, event, log_subject = found
        entry = {"kind": "survey_sent", "at": now, "how": event["how"], "target": "survey",
                 "detail": f"satisfaction survey sent ({event['how'].replace('_', ' ')})"}
        return Fired(events=[(to, event)], log=[(log_subject, entry)])

    async def _chat(self, escalation_id: str, now: float) -> Optional[Tuple[Optional[str], Dict[str, Any], str]]:
        e = await self.store.get(escalation_id)
        if e.status != Status.CLOSED or "survey" in e.outcome:
            return None  # answered already (or the record changed): nothing to ask
        last = last_customer_message(await self.store.messages(e.id))
        # a customer who wrote nothing to the agent was in the chat until the close
        how = how_to_ask(self.policy, last if last is not None else closed_at(e), now, e.conversation_id, None)
        if how is None:
            return None
        return e.agent_id, {"type": "survey_requested", "subject": "chat", "escalation": e.id,
                            "conversation_id": e.conversation_id, "group": e.skill_group, "agent": e.agent_id,
                            "how": how, "at": now}, f"chat:{e.id}"

    async def _ticket(self, ticket_id: str, now: float) -> Optional[Tuple[Optional[str], Dict[str, Any], str]]:
        t = await self.store.ticket(ticket_id)
        if t.state not in (TicketState.SOLVED, TicketState.CLOSED) or getattr(t, "survey", None):
            return None
        last = last_customer_entry(await self.store.timeline(t.id))
        conversation = t.requester.get("conversation_id")
        how = how_to_ask(self.policy, last, now, conversation, t.requester.get("email"))
        if how is None:
            return None
        if how == "email" and self.mail is not None:
            await self.mail(t)  # queued once per ticket (its Message-ID): a retried timer queues nothing new
        return t.assignee, {"type": "survey_requested", "subject": "ticket", "ticket": t.id, "label": t.label,
                            "conversation_id": conversation, "group": t.group, "agent": t.assignee, "how": how,
                            "at": now}, f"ticket:{t.id}"


def install(app: Any, policy: SurveyPolicy, mail: Any = None) -> SurveyClock:
    """Register the survey timers on the app's runner and listen to its services' hooks (before_server_start)."""
    clock = SurveyClock(app.ctx.timers, app.ctx.store, policy, mail)
    clock.install(app.ctx.service.hooks)
    return clock
