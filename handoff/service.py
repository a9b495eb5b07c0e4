# Over 400 lines: the handoff service's operations over the store interface, one class; splitting by concern (queues, transfers, stats) is the planned module-layout work.
"""What the handoff service does, over a Store: route, queue, offer, overflow, ticket, finish.

Pure of HTTP: the Sanic app (handoff/app.py) authenticates and validates, then calls these methods.
Every state change is one store operation; this module only decides which one.

Lost agents: the app tells the service which agents have their console's WebSocket open on this
process (``see``, every sweep and when a WebSocket opens). An agent not seen by any process for
``agent_grace_seconds`` is lost: one process claims them, sets them offline and sends each chat
offered or assigned to them back to its group's queue ("agent disconnected"), where the next free
agent gets it. Reconnecting within the grace period keeps the chats. Agents who never open a
WebSocket (pure API users) are never seen, so never lost: their chats stay with them. Going
offline by ``set_status`` keeps an agent's chats too (they finish or transfer them); with no chats
left it also drops them from the presence record.

Why over 400 lines: the escalation decisions in one place; sessions (sessions.py), chats becoming tickets
(chat_tickets.py), statistics (stats.py) and tickets are split out.
"""
from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from common.language_rules import parse_languages
from common.routing import SkillGroups
from common.undelivered import describe, describe_dead
from handoff.tickets.mail_queue import describe_parked
from handoff import stats
from handoff.auth import Caller, Forbidden
from handoff.clocks.hooks import Hooks
from handoff.metrics import Metrics
from handoff.sessions import Sessions
from handoff.language_overflow import LanguageOverflow, overflow_lines, routing_language
from handoff.chat_tickets import ChatTickets, Created  # noqa: F401  (Created: part of this module's interface)
from handoff.store import Agent, Conflict, Escalation, NotFound, NotYours, QueueStats, Status, Store

log = logging.getLogger(__name__)


class Invalid(ValueError):
    """The request is well-formed JSON but names something that does not exist (HTTP 422)."""


def iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_view(outcome: Dict[str, Any]) -> Dict[str, Any]:
    """The outcome as responses show it: the survey's time (epoch seconds in the store) as ISO 8601."""
    survey = outcome.get("survey")
    if not isinstance(survey, dict) or not isinstance(survey.get("at"), (int, float)):
        return outcome
    return {**outcome, "survey": {**survey, "at": iso(survey["at"])}}


PREVIOUS = 10  # earlier escalations of the same customer shown in a record
RECENT_SECONDS = 6 * 3600  # reconcile tells the clocks of the chats created this recently (ended ones too) again


class HandoffService(Sessions, ChatTickets, LanguageOverflow):
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
    def route(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """The group and priority for a handoff request, from the skill-group tables, with reasons."""
        tags = request["customer"]["tags"]
        brief = request["case_brief"]
        scores = request["scores"]
        suggested = request["routing"]["skill_group"]
        if suggested not in self.groups.groups:
            raise Invalid(f"routing.skill_group: unknown skill group {suggested!r} "
                          f"(known: {', '.join(self.groups.groups)})")
        route = self.groups.route(tags, list(brief["categories"]), brief["topics"], brief.get("unsure_topics", ()))
        priority = self.groups.priority(tags, scores["sentiment"].get("latest"), scores["complexity"]["level"],
                                        [t["name"] for t in request["decision"]["triggers"]])
        return {"skill_group": route.group, "reason": route.reason, "priority": priority.value,
                "priority_reasons": list(priority.reasons), "bot_suggestion": suggested, "overflow": []}

    async def _first_staffed(self, chain: List[str]) -> Optional[str]:
        stats = await self.store.queue_stats(chain)
        return next((s.group for s in stats if s.online > 0), None)

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

    def _wait(self, e: Escalation, position: Optional[int], stats: QueueStats) -> Optional[int]:
        """Expected wait in seconds: 0 when offered or when a free slot is left for it; else the chats
        ahead of it over the group's capacity, times the group's handling time. None: not known (a ticket)."""
        if e.status in (Status.OFFERED, Status.ASSIGNED):
            return 0
        if e.status != Status.WAITING or position is None or stats.online == 0:
            return None
        ahead = position - stats.free
        if ahead <= 0:
            return 0
        return math.ceil(ahead / stats.capacity) * self.groups.handle_seconds(e.skill_group)

    async def estimate(self, e: Escalation) -> Tuple[Optional[int], Optional[int]]:
        """Queue position and expected wait in seconds (0 when a free agent gets it now)."""
        if e.status != Status.WAITING:
            return None, self._wait(e, None, QueueStats(e.skill_group, 0, None, 0, 0, 0))
        position = await self.store.queue_position(e.id, e.skill_group)
        (stats,) = await self.store.queue_stats([e.skill_group])
        return position, self._wait(e, position, stats)

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

    # -- offers ----------------------------------------------------------------------------------
    async def dispatch(self, group: str, limit: int = 200) -> int:
        """Offer the group's waiting chats to its free agents until one side runs out."""
        offered = 0
        while offered < limit:
            pair = await self.store.offer_next(group, self.clock(), self.reservation_seconds)
            if pair is None:
                break
            offered += 1
            self.metrics.offers.labels(group).inc()
            await self._told(pair[0], "offered")
        return offered

    async def dispatch_many(self, groups: Iterable[str]) -> None:
        for group in dict.fromkeys(groups):
            await self.dispatch(group)

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

    async def sweep(self) -> None:
        """Expire ignored offers, fill free slots, overflow chats whose group has nobody online,
        and turn chats nobody online can take into tickets. Any process may run it at any time."""
        now = self.clock()
        expired = await self.store.expire_offers(now, self.seconds_per_point, self.max_missed_offers)
        for escalation_id, agent_id in expired:
            self.metrics.offer_timeouts.inc()
            await self._told(escalation_id, "requeued")
            log.info("offer of %s to %s timed out; back in the queue (offered next to someone else)",
                     escalation_id, agent_id)
        await self._count_set_away([agent_id for _, agent_id in expired])
        await self.sweep_lost_agents(now)
        names = list(self.groups.groups)
        for queue in await self.store.queue_stats(names):
            if queue.waiting == 0:
                continue
            if self._closed(queue.group, now):  # closing time: who still waits gets a ticket
                await self._close_queue(queue.group)
                continue
            if queue.online > 0:
                await self.overflow_languages(queue.group, now)
                await self.dispatch(queue.group)
                continue
            await self._overflow(queue.group)

    async def _count_set_away(self, lapsed_by: List[str]) -> None:
        """Log and count the agents whose lapses in this sweep crossed the limit (the store set them away)."""
        if not self.max_missed_offers:
            return
        for agent_id in dict.fromkeys(lapsed_by):
            try:
                agent = await self.store.get_agent(agent_id)
            except NotFound:
                continue
            now_missed = agent.missed
            before = now_missed - lapsed_by.count(agent_id)
            if agent.status == "away" and before < self.max_missed_offers <= now_missed:
                self.metrics.agents_away.labels("missed_offers").inc()
                log.warning("agent %s set away: %s", agent_id, agent.reason)

    async def _overflow(self, group: str) -> None:
        chain = self.groups.fallback_chain(group)
        target = await self._first_staffed(chain[1:]) if len(chain) > 1 else None
        for escalation_id in await self.store.waiting(group):
            try:
                if target:
                    await self.store.transfer(escalation_id, None, self.clock(), self.seconds_per_point,
                                              to_group=target, detail=f"overflow: no agent online in {group}")
                    self.metrics.overflows.labels(group, target).inc()
                    await self._told(escalation_id, "transferred")
                else:
                    await self._ticket(await self.store.get(escalation_id),
                                       f"nobody online in {' -> '.join(chain)}")
            except (Conflict, NotFound):
                continue  # another process moved it first
        if target:
            await self.dispatch(target)

    # -- presence --------------------------------------------------------------------------------
    async def see(self, agent_ids: Iterable[str]) -> None:
        """These agents' consoles are connected to this process now."""
        ids = [a for a in agent_ids if a]
        if ids:
            await self.store.touch_agents(ids, self.clock())

    async def sweep_lost_agents(self, now: float) -> List[str]:
        """Agents not seen for the grace period: each claimed by one process, set offline, and their chats
        sent back to their groups' queues. The agents this call handled."""
        before = now - self.agent_grace_seconds
        handled = []
        for agent_id in await self.store.lost_agents(before):
            if not await self.store.forget_agent(agent_id, before):
                continue  # another process claimed them, or they came back just now
            if await self._requeue_lost(agent_id, now):
                handled.append(agent_id)
        return handled

    async def _requeue_lost(self, agent_id: str, now: float) -> bool:
        try:
            agent = await self.store.get_agent(agent_id)
        except NotFound:
            return False  # never went online: nothing to take back
        chats = await self.store.agent_chats(agent_id)
        if agent.status == "offline" and not chats:
            return False  # went offline and closed the console: nothing was lost
        self.metrics.agents_lost.inc()
        if agent.status != "offline":
            await self.store.set_agent(Agent(agent.id, agent.skills, agent.max_chats, "offline",
                                             languages=agent.languages), now)
        groups = []
        for escalation_id in chats:
            try:
                e = await self.store.get(escalation_id)
                await self.store.transfer(escalation_id, None, now, self.seconds_per_point, to_group=e.skill_group,
                                          detail="agent disconnected", from_agent=agent_id)
            except (Conflict, NotFound):
                continue  # it moved on meanwhile (accepted elsewhere, closed, expired, abandoned)
            self.metrics.requeued.labels(e.skill_group).inc()
            await self._told(escalation_id, "requeued")
            groups.append(e.skill_group)
        log.info("agent %s lost (no console for %g s): offline, %d chat(s) back in the queue", agent_id,
                 self.agent_grace_seconds, len(groups))
        await self.dispatch_many(groups)
        return True

    # -- agents ----------------------------------------------------------------------------------
    def check_access(self, caller: Caller, e: Escalation) -> None:
        """Agents see only chats offered or assigned to them; supervisors and the bot see all."""
        if caller.kind == "bot" or caller.is_supervisor:
            return
        if e.agent_id != caller.agent_id:
            raise Forbidden("this chat is not offered or assigned to you")

    async def record(self, e: Escalation) -> Dict[str, Any]:
        """The whole record: request (transcript, brief, scores, tags), routing, messages, internal notes,
        history, and the customer's earlier escalations."""
        document = await self.store.document(e.id)
        request = document["request"]
        position, wait = await self.estimate(e)
        customer = e.facets.get("customer") or stats.facets_of(request, e.conversation_id)["customer"]
        return {
            "id": e.id, "conversation_id": e.conversation_id, "status": e.status.value,
            "skill_group": e.skill_group, "skill_group_name": self.groups.name(e.skill_group),
            "priority": e.priority, "agent_id": e.agent_id, "created_at": iso(e.created_at),
            "offer_deadline": iso(e.offer_deadline), "queue_position": position, "estimated_wait_seconds": wait,
            "customer": request["customer"], "transcript": request["transcript"],
            "case_brief": request["case_brief"], "scores": request["scores"], "decision": request["decision"],
            "routing": {**document["routing"], "overflow": overflow_lines(e, self.groups.languages.default), **routing_language(e)},
            "messages": await self.store.messages(e.id), "notes": await self.store.notes(e.id),
            "history": [{**h, "at": iso(h["at"])} for h in e.history], "outcome": outcome_view(e.outcome),
            "previous": await self.previous(e, customer),
            "tickets": await self.chat_tickets(e.id),
            **(await self.sla.chat_view(e) if self.sla else {"clocks": [], "clock_log": []}),
        }

    async def chat_tickets(self, escalation_id: str) -> List[Dict[str, Any]]:
        """The tickets the chat went on as (born from it, made from it by an agent, or merged into one)."""
        tickets = await self.store.tickets(await self.store.index(f"chat:{escalation_id}", 10))
        return [{"id": t.id, "label": t.label, "state": t.state.value, "merged_into": t.merged_into} for t in tickets]

    async def previous(self, e: Escalation, customer: str) -> List[Dict[str, Any]]:
        """Up to PREVIOUS earlier escalations of the same customer (their id, or else the same
        conversation), newest first: what the agent should know happened before."""
        ids = [i for i in await self.store.customer_escalations(customer, e.created_at, PREVIOUS + 1) if i != e.id]
        return [{"id": p.id, "conversation_id": p.conversation_id, "created_at": iso(p.created_at),
                 "status": p.status.value, "skill_group": p.skill_group, "outcome": outcome_view(p.outcome)}
                for p in await self.store.get_many(ids[:PREVIOUS])]

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

    async def agent_view(self, agent_id: str) -> Dict[str, Any]:
        account = await self.store.account(agent_id) or {}
        try:
            agent = await self.store.get_agent(agent_id)
            status, load, reason = agent.status, agent.load, agent.reason
        except NotFound:
            status, load, reason = "offline", 0, ""
        return {"id": agent_id, "name": account.get("name", agent_id), "role": account.get("role", "agent"),
                "skills": [s for s in account.get("skills", "").split(",") if s],
                "languages": list(parse_languages(account.get("languages"))),
                "max_chats": int(account.get("max_chats", 0)), "status": status, "status_reason": reason,
                "load": load, "disabled": account.get("disabled") == "1"}

    async def my_handoffs(self, agent_id: str) -> List[Dict[str, Any]]:
        out = []
        for escalation_id in await self.store.agent_chats(agent_id):
            try:
                e = await self.store.get(escalation_id)
            except NotFound:
                continue
            out.append({"id": e.id, "conversation_id": e.conversation_id, "status": e.status.value,
                        "skill_group": e.skill_group, "priority": e.priority, "created_at": iso(e.created_at),
                        "offer_deadline": iso(e.offer_deadline), "language": e.language or None,
                        "clocks": await self.sla.chat_clocks(e) if self.sla else []})
        return sorted(out, key=lambda h: h["created_at"] or "")

    async def agents(self) -> List[Dict[str, Any]]:
        """Every account with its status, load and the chats offered or assigned to it."""
        return [{**await self.agent_view(agent_id), "chats": await self.store.agent_chats(agent_id)}
                for agent_id in await self.store.accounts()]

    async def stats_today(self, conversations_key: str) -> Dict[str, Any]:
        """GET /v1/stats/today: see handoff/stats.py for the definitions."""
        now = self.clock()
        recent = await self.store.get_many(await self.store.created_since(stats.window_start(now)))
        for e in recent:
            if not e.facets:  # created before escalations kept their facets
                try:
                    e.facets = stats.facets_of((await self.store.document(e.id))["request"], e.conversation_id)
                except (NotFound, KeyError, TypeError):
                    pass
        open_chats = await self.store.get_many(await self.store.open_escalations())
        messages = {e.id: await self.store.messages(e.id) for e in open_chats if e.status == Status.ASSIGNED}
        conversations = await self.store.count_conversations(stats.day_keys(conversations_key, now))
        return stats.today(recent, open_chats, messages, conversations, now, self.groups.first_response_seconds)

    async def undelivered(self, key: str, dead_events_key: str, limit: int = 100,
                          dead_mail_key: str = "") -> Dict[str, Any]:
        """GET /v1/undelivered: what the bot could not deliver here (refused, list ``key``), the events of this
        service the bot's bridge gave up on (list ``dead_events_key``) and the tickets' mails the relay never
        took (list ``dead_mail_key``): the oldest ``limit`` of each, oldest first (unreadable entries last),
        without request bodies, message texts or mails; ``total`` counts them all."""
        refused, entries = await self.store.list_entries(key, limit)
        dead, events = await self.store.list_entries(dead_events_key, limit)
        mails, parked = await self.store.list_entries(dead_mail_key, limit) if dead_mail_key else (0, [])
        items = [describe(raw) for raw in entries] + [describe_dead(raw) for raw in events] + \
            [describe_parked(raw) for raw in parked]
        items.sort(key=lambda i: (not isinstance(i.get("at"), str), str(i.get("at") or "")))
        return {"total": refused + dead + mails, "items": items}

    async def queues(self) -> List[Dict[str, Any]]:
        now = self.clock()
        out = []
        for s in await self.store.queue_stats(list(self.groups.groups)):
            out.append({"skill_group": s.group, "name": self.groups.name(s.group), "waiting": s.waiting,
                        "oldest_wait_seconds": round(now - s.oldest_since, 1) if s.oldest_since else 0.0,
                        "agents_online": s.online, "capacity": s.capacity, "free_capacity": s.free})
        return out
