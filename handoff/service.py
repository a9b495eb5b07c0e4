"""What the handoff service does, over a Store: create a chat from the bot's handoff, accept, transfer, finish,
messages and notes, the customer's survey, and an agent's status.

Pure of HTTP: the routes (handoff/api/) authenticate and validate, then call these methods.
Every state change is one store operation; this module only decides which one. The rest of the service is in
mixins, one concern each: queues and offers and the sweep (handoff/routing/queues.py), lost agents
(handoff/routing/presence.py), the language overflow (handoff/routing/language_overflow.py), sessions
(handoff/sessions.py), chats becoming tickets (handoff/tickets/chat_tickets.py) and what responses show
(handoff/views.py).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from common.language_rules import parse_languages
from common.routing import SkillGroups
from handoff import stats
from handoff.auth import Caller, Forbidden
from handoff.clocks.hooks import Hooks
from handoff.errors import Invalid
from handoff.metrics import Metrics
from handoff.routing.language_overflow import LanguageOverflow
from handoff.routing.presence import Presence
from handoff.routing.queues import Queues
from handoff.sessions import Sessions
from handoff.store import Agent, Escalation, NotFound, NotYours, Status, Store
from handoff.tickets.chat_tickets import ChatTickets, Created  # noqa: F401  (Created: part of this module's interface)
from handoff.views import Views

RECENT_SECONDS = 6 * 3600  # reconcile tells the clocks of the chats created this recently (ended ones too) again


class HandoffService(Queues, Presence, Views, Sessions, ChatTickets, LanguageOverflow):
    """The service's operations: this class and its mixins share the store, the skill groups, the metrics and the clock."""

    def __init__(self, store: Store, groups: SkillGroups, metrics: Metrics, reservation_seconds: float = 30.0,
                 clock: Callable[[], float] = time.time, agent_grace_seconds: float = 60.0,
                 max_missed_offers: int = 2) -> None:
        self.store = store
        self.groups = groups
        self.metrics = metrics
        self.reservation_seconds = reservation_seconds
        self.clock = clock
        self.agent_grace_seconds = agent_grace_seconds
        self.max_missed_offers = max_missed_offers  # lapsed offers in a row that set an agent away (0: never)
        ageing = groups.priority_cfg.get("ageing") or {}
        # A waiting chat gains `points` every `every_seconds`: one point is worth this many seconds of waiting.
        self.seconds_per_point = ageing["every_seconds"] / ageing["points"] if ageing else 1e9
        self.tickets: Any = None  # handoff.tickets.service.TicketService: a chat nobody can take becomes a ticket
        self.hooks = Hooks()  # the clocks listen to every change of a chat (handoff/clocks/hooks.py)
        self.sla: Any = None  # handoff/clocks/sla.py: the clocks and clock log a chat's views show

    # -- the bot's side --------------------------------------------------------------------------
    async def create(self, request: Dict[str, Any]) -> Created:
        """An escalation for the request (or the conversation's open one), offered at once if an agent is
        free: one atomic store step (see Store.escalate)."""
        decision = self.route(request)
        now = self.clock()
        chain = self.groups.fallback_chain(decision["skill_group"])
        if self._closed(chain[0], now):
            return await self._after_hours(request, decision, chain[0], now)
        done = await self.store.escalate(
            request["conversation_id"], chain, decision["priority"], {"request": request, "routing": decision},
            now, self.seconds_per_point, request["created_at"], self.reservation_seconds,
            self._ticket_outcome(chain[0], now), stats.facets_of(request, request["conversation_id"]),
            self.groups.languages.rule(request.get("language")))
        e = done.escalation
        if done.created:
            self.metrics.escalations.labels(chain[0]).inc()
            if e.status == Status.TICKET:
                self.metrics.tickets.labels(e.skill_group).inc()
            elif e.skill_group != chain[0]:
                self.metrics.overflows.labels(chain[0], e.skill_group).inc()
            if e.status == Status.OFFERED:
                self.metrics.offers.labels(e.skill_group).inc()
        await self.hooks.chat(e, "created")
        ticket = None
        if e.status == Status.TICKET:  # also on a retry: the ticket is made once (one per chat), even after a crash
            # `now`: the answer time told is the one the chat recorded (the same moment, the same calendar)
            ticket = await self._ticket_of(e, f"nobody online in {' -> '.join(chain)}", now if done.created else None)
        return Created(e, done.created, done.queue_position, self._wait(e, done.queue_position, done.group), ticket)

    async def abandon(self, escalation_id: str) -> Escalation:
        e = await self.store.leave_queue(escalation_id, Status.ABANDONED, self.clock(), "the customer left")
        self.metrics.finished.labels(Status.ABANDONED.value).inc()
        await self.hooks.chat(e, "finished")
        await self.dispatch_many(await self._agent_groups(e))
        return e

    async def survey(self, escalation_id: str, answer: Dict[str, Any]) -> Escalation:
        """The customer's satisfaction survey on a closed chat: stored once, as ``outcome.survey``."""
        rating = answer["rating"]
        survey: Dict[str, Any] = {"resolved": answer["resolved"], "rating": int(rating) if rating is not None else None}
        if answer.get("more_help"):  # "I need more help": not solved, and the bot hands them to the queue again
            survey["more_help"] = True
        if answer.get("comment"):
            survey["comment"] = answer["comment"]
        e = await self.store.set_survey(escalation_id, survey, self.clock())
        self.metrics.surveys.labels(e.skill_group, "yes" if survey["resolved"] else "no").inc()
        if survey["rating"] is not None:
            self.metrics.survey_rating.labels(e.skill_group).observe(survey["rating"])
        return e

    # -- the clocks (handoff/clocks/hooks.py) ----------------------------------------------------
    async def _told(self, escalation_id: str, what: str) -> None:
        """Tell the clocks of a change this service made by id (they read the chat as it is now)."""
        if self.hooks.chat_listeners:
            try:
                await self.hooks.chat(await self.store.get(escalation_id), what)
            except NotFound:
                pass

    async def reconcile(self, limit: int = 2000, recent_seconds: float = RECENT_SECONDS) -> int:
        """Tell the clocks of every open chat, and of the chats created in the last ``recent_seconds`` (closed ones
        owe a survey), again: after a crash between a change and its timers."""
        if not self.hooks.chat_listeners:
            return 0
        ids = list(dict.fromkeys([*await self.store.open_escalations(),
                                  *await self.store.created_since(self.clock() - recent_seconds)]))[:limit]
        for e in await self.store.get_many(ids):
            await self.hooks.chat(e, "reconcile")
        return len(ids)

    async def _agent_groups(self, e: Escalation) -> List[str]:
        if not e.agent_id:
            return [e.skill_group]
        try:
            return [e.skill_group, *(await self.store.get_agent(e.agent_id)).skills]
        except NotFound:
            return [e.skill_group]

    # -- agents ----------------------------------------------------------------------------------
    def check_access(self, caller: Caller, e: Escalation) -> None:
        """Agents see only chats offered or assigned to them; supervisors and the bot see all."""
        if caller.kind == "bot" or caller.is_supervisor:
            return
        if e.agent_id != caller.agent_id:
            raise Forbidden("this chat is not offered or assigned to you")

    async def add_note(self, caller: Caller, escalation_id: str, text: str) -> Dict[str, Any]:
        """An internal note by the chat's agent or a supervisor. Notes are never messages: the bot's
        bridge delivers only ``message`` events to customers, and a note is a ``note`` event."""
        if caller.kind != "agent":
            raise Forbidden("this needs an agent's token: the bot's service token cannot act as an agent")
        e = await self.get_for(caller, escalation_id)
        return await self.store.add_note(e.id, text, caller.agent_id or "", self.clock())

    async def get_for(self, caller: Caller, escalation_id: str) -> Escalation:
        e = await self.store.get(escalation_id)
        self.check_access(caller, e)
        return e

    async def accept(self, caller: Caller, escalation_id: str) -> Escalation:
        try:
            e = await self.store.accept(escalation_id, caller.agent_id or "", self.clock())
        except NotYours:
            raise Forbidden("this chat is not offered to you") from None
        self.metrics.assignments.labels(e.skill_group).inc()
        self.metrics.wait.labels(e.skill_group).observe(max(0.0, self.clock() - e.created_at))
        await self.hooks.chat(e, "accepted")
        return e

    async def transfer(self, caller: Caller, escalation_id: str, to_group: Optional[str], to_agent: Optional[str],
                       reason: str) -> Escalation:
        if to_group is not None and to_group not in self.groups.groups:
            raise Invalid(f"skill_group: unknown skill group {to_group!r} (known: {', '.join(self.groups.groups)})")
        e = await self.get_for(caller, escalation_id)
        by = None if caller.is_supervisor else caller.agent_id
        if to_agent is not None and await self.store.account(to_agent) is None:
            raise Invalid(f"agent_id: no agent {to_agent!r}")
        moved = await self.store.transfer(e.id, by, self.clock(), self.seconds_per_point, to_group=to_group,
                                          to_agent=to_agent, reservation_seconds=self.reservation_seconds,
                                          detail=f"transfer by {caller.agent_id}: {reason}")
        self.metrics.transfers.labels("agent" if to_agent else "group").inc()
        await self.hooks.chat(moved, "transferred")
        await self.dispatch_many([moved.skill_group, *(await self._agent_groups(e))])
        return await self.store.get(moved.id)

    async def finish(self, caller: Caller, escalation_id: str, status: Status, detail: str = "",
                     outcome: Optional[Dict[str, Any]] = None) -> Escalation:
        if outcome and "wrap_up" in outcome and outcome["wrap_up"] not in self.groups.wrap_up_codes:
            raise Invalid(f"wrap_up: unknown code {outcome['wrap_up']!r} "
                          f"(known: {', '.join(self.groups.wrap_up_codes)})")
        by = None if caller.is_supervisor else caller.agent_id
        try:
            done = await self.store.finish(escalation_id, by, status, self.clock(), detail, outcome,
                                           self.reservation_seconds)
        except NotYours:
            raise Forbidden("this chat is not assigned to you") from None
        self.metrics.finished.labels(status.value).inc()
        await self.hooks.chat(done, "finished")
        return done

    async def message(self, caller: Caller, escalation_id: str, text: str,
                      message_id: Optional[str] = None) -> Dict[str, Any]:
        """Append the caller's message; a `message_id` its sender already stored here answers that message."""
        e = await self.get_for(caller, escalation_id)
        if caller.kind == "bot":
            stored = await self.store.add_message(e.id, "customer", text, None, self.clock(), message_id)
            await self.hooks.chat(e, "customer_message")
            return stored
        stored = await self.store.add_message(e.id, "agent", text, caller.agent_id, self.clock(), message_id)
        await self.hooks.chat(e, "agent_message")
        return stored

    async def set_status(self, agent_id: str, status: str) -> Agent:
        account = await self.store.account(agent_id)
        if account is None:
            raise NotFound(agent_id)
        skills = tuple(s for s in account["skills"].split(",") if s)
        await self.store.set_agent(Agent(agent_id, skills, int(account["max_chats"]), status,
                                         languages=parse_languages(account.get("languages"))), self.clock())
        if status == "online":
            await self.dispatch_many(skills)
        elif status == "offline" and not await self.store.agent_chats(agent_id):
            await self.store.forget_agent(agent_id)  # nothing to take back should their console go away
        return await self.store.get_agent(agent_id)
