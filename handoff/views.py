"""What the service's responses show of chats, agents and queues (a mixin of handoff.service.HandoffService):
a chat's whole record, an agent's view and chats, every agent, the queues, the day's statistics
(handoff/stats.py) and what could not be delivered; ``iso`` and ``outcome_view`` format times and outcomes.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

from common.language_rules import parse_languages
from common.routing import SkillGroups
from common.undelivered import describe, describe_dead
from handoff import stats
from handoff.routing.language_overflow import overflow_lines, routing_language
from handoff.store import Escalation, NotFound, Status, Store
from handoff.tickets.mail_queue import describe_parked

PREVIOUS = 10  # earlier escalations of the same customer shown in a record


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


class Views:
    """Mixed into HandoffService (its store, skill groups, clock, queues and SLA clocks)."""

    store: Store
    groups: SkillGroups
    clock: Callable[[], float]
    sla: Any

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
