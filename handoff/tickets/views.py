"""The ticket service's read side: the bot's lookup of a requester's tickets, the agents' lists and searches, and
the ticket page (a mixin of handoff.tickets.service.TicketService: its store, clock, groups and access checks)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from handoff.auth import Caller, Forbidden
from handoff.store import NotFound
from handoff.tickets.errors import TicketInvalid
from handoff.tickets.model import TicketState, iso, parse_label, view

VIEWS = ("mine", "groups", "all", "due", "overdue")
STATES = tuple(s.value for s in TicketState)
LIST_LIMIT = 200


class TicketViews:
    store: Any
    groups: Any
    clock: Any
    sla: Any = None  # handoff/clocks/sla.py: the SLA clocks and clock log the views show

    async def _clocked(self, views: List[Dict[str, Any]], tickets: List[Any]) -> List[Dict[str, Any]]:
        """The views with each ticket's SLA clocks (``clocks``)."""
        by_id = {t.id: t for t in tickets}
        for v in views:
            v["clocks"] = await self.sla.ticket_clocks(by_id[v["id"]]) if self.sla else []
        return views

    async def lookup(self, conversation_id: str = "", customer_id: str = "", email: str = "",
                     number: Optional[int] = None) -> List[Dict[str, Any]]:
        """The requester's tickets (the bot asks for its customer): newest first. A number only counts when it
        is one of theirs."""
        ids: List[str] = []
        for kind, value in (("conversation", conversation_id), ("customer", customer_id),
                            ("email", email.lower())):
            if value:
                ids += await self.store.index(f"{kind}:{value}", 50, reverse=True)
        tickets = await self.store.tickets(list(dict.fromkeys(ids)))
        if number is not None:
            tickets = [t for t in tickets if t.number == number]
        now = self.clock()
        out = []
        for t in sorted(tickets, key=lambda x: -x.created_at):
            out.append({"id": t.id, "label": t.label, "state": t.state.value, "subject": t.subject,
                        "group": t.group, "group_name": self._name(t.group), "merged_into": t.merged_into,
                        **self.local(t.group, t.due_at), "updated_at": iso(t.updated_at),
                        "overdue": bool(t.due_at and t.active and now > t.due_at)})
        return out

    def _name(self, group: str) -> str:
        try:
            return self.groups.name(group)
        except KeyError:
            return group

    async def listing(self, caller: Caller, which: str = "mine", q: str = "", state: str = "", group: str = "",
                      limit: int = 50) -> List[Dict[str, Any]]:
        """An agent's views: mine, my groups', due soon/overdue (of my groups), all (supervisors); or a search
        by number, customer id, e-mail or order number."""
        if which not in VIEWS:
            raise TicketInvalid(f"view: one of {', '.join(VIEWS)}")
        if state and state not in STATES:
            raise TicketInvalid(f"state: one of {', '.join(STATES)}, not {state!r}")
        if group:
            self._check_group(group)  # type: ignore[attr-defined]
        limit = max(1, min(limit, LIST_LIMIT))
        now = self.clock()
        skills = await self.skills(caller)
        if q:
            ids = await self._search(q.strip())
        elif which == "mine":
            ids = await self.store.index(f"agent:{caller.agent_id}", LIST_LIMIT)
        elif which == "all":  # every ticket a page at a time: all_page (the route calls it without a search)
            return (await self.all_page(caller, 0, limit, state, group))[0]
        elif which in ("due", "overdue"):
            horizon = now if which == "overdue" else now + 4 * 3600
            ids = await self.store.index("due", LIST_LIMIT * 5, max_score=horizon)
        else:
            ids = []
            for g in (group and [group]) or skills:
                ids += await self.store.index(f"queue:{g}", LIST_LIMIT)
                ids += await self.store.index(f"group:{g}", LIST_LIMIT, reverse=True)
        tickets = await self.store.tickets(list(dict.fromkeys(ids)))
        out = []
        for t in tickets:
            if not (caller.is_supervisor or t.assignee == caller.agent_id or {t.group, t.owner_group} & set(skills)):
                continue
            if (state and t.state.value != state) or (group and group not in (t.group, t.owner_group)):
                continue
            out.append(view(t, now))
            if len(out) >= limit:
                break
        return await self._clocked(out, tickets)

    async def all_page(self, caller: Caller, offset: int, limit: int, state: str = "",
                       group: str = "") -> Tuple[List[Dict[str, Any]], Optional[int]]:
        """Every ticket, newest first (supervisors): the ``limit`` tickets from the ``offset``-th on, kept when they
        match ``state`` and ``group``, and the offset of the next page (None after the last)."""
        if not caller.is_supervisor:
            raise Forbidden("only supervisors see every ticket")
        if state and state not in STATES:
            raise TicketInvalid(f"state: one of {', '.join(STATES)}, not {state!r}")
        if group:
            self._check_group(group)  # type: ignore[attr-defined]
        ids = await self.store.index("all", limit, reverse=True, offset=offset)
        now = self.clock()
        tickets = await self.store.tickets(ids)
        page = [view(t, now) for t in tickets
                if not (state and t.state.value != state) and not (group and group not in (t.group, t.owner_group))]
        return await self._clocked(page, tickets), (offset + len(ids) if len(ids) == limit else None)

    async def _search(self, q: str) -> List[str]:
        number = parse_label(q)
        ids: List[str] = []
        if number is not None:
            try:
                ids.append((await self.store.ticket_by_number(number)).id)
            except NotFound:
                pass
        for kind in ("customer", "email", "order", "conversation"):
            ids += await self.store.index(f"{kind}:{q.lower() if kind == 'email' else q}", 50, reverse=True)
        return ids

    async def detail(self, caller: Caller, ref: str) -> Dict[str, Any]:
        """The ticket page: the ticket, its timeline, and every linked chat's transcript, brief, messages and
        notes."""
        t = await self.get_for(caller, ref)
        chats = []
        for escalation_id in t.escalations:
            try:
                request = (await self.store.document(escalation_id)).get("request") or {}
                chats.append({"escalation_id": escalation_id, "transcript": request.get("transcript") or [],
                              "brief": request.get("case_brief") or {},
                              "messages": await self.store.messages(escalation_id),
                              "notes": await self.store.notes(escalation_id)})
            except NotFound:
                continue
        t, timeline = await self.store.ticket_with_timeline(t.id)  # one instant: state and entries agree
        clocks = await self.sla.ticket_clocks(t, timeline) if self.sla else []
        if self.sla:  # the clock log's entries (SLA warnings, breaches...) among the ticket's own, by time
            timeline = sorted(timeline + await self.sla.ticket_log(t.id), key=lambda e: e["at"])
        for e in timeline:
            e["at"] = iso(e["at"])
        return {"ticket": {**view(t, self.clock()), **{k: v for k, v in self.local(t.group, t.due_at).items()
                                                      if k != "due_at"}, "brief": t.brief, "clocks": clocks},
                "timeline": timeline, "chats": chats}

