"""What the handoff service does with tickets, over the TicketStore: who may do what, and when answers are due.

Pure of HTTP (handoff/tickets/routes.py validates and calls these methods). Each change is one atomic store
step (handoff/tickets/store.py) deciding by a pure rule (handoff/tickets/transitions.py).

Who may act: an agent on the tickets of their groups (the team that has it or owns it) and the ones assigned
to them; a supervisor on every ticket; the bot (service token) creates tickets, looks up a requester's own
tickets and adds the customer's messages.

Due times are in business hours (common/business_hours.py): the answer a customer waits for is due
``tickets.reply_within_business_hours`` after they wrote, in the calendar of the team that has the ticket; a
flow step's target likewise. Tickets are counted apart from live chats: an agent's ticket load is the number
of tickets assigned to them (``agent:<id>`` index), never their chat capacity.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

from handoff.auth import Caller, Forbidden
from handoff.clocks.hooks import Hooks
from handoff.store import Conflict, NotFound, Store
from handoff.tickets import transitions as tr
from handoff.tickets.errors import TicketInvalid
from handoff.tickets.model import ACTIVE, TICKET_ID, Ticket, TicketState, iso, parse_label
from handoff.tickets.sweep import TicketSweep
from handoff.tickets.views import TicketViews

log = logging.getLogger(__name__)


class _Merged(Exception):
    """Found inside an atomic step: the ticket was merged into ``into`` since it was read (nothing written)."""

    def __init__(self, into: str) -> None:
        super().__init__(into)
        self.into = into


MERGE_HOPS = 20  # a chain of merges followed for a customer's message (a merge target is never closed: no loops)


def _ref_number(ref: str) -> Optional[int]:
    return parse_label(ref) if ref[:1] in "Tt" or ref.isdigit() else None


def fields_from_request(request: Dict[str, Any]) -> Dict[str, Any]:
    """What the first team knew, from the bot's case brief: order number, product model, fault description,
    error codes, the e-mail address the customer wrote."""
    brief = request.get("case_brief") or {}
    slots, found = brief.get("slots") or {}, {}
    for e in brief.get("entities") or []:
        found.setdefault(str(e.get("type", "")).lower(), []).append(str(e.get("value")))
    out: Dict[str, Any] = {}
    order = slots.get("order_number") or slots.get("order_id") or (found.get("order_number") or [None])[0]
    if order:
        out["order_id"] = str(order).lstrip("#")
    for key in ("product_model", "fault_description"):
        value = slots.get(key) or (found.get(key) or [None])[0]
        if value:
            out[key] = str(value)
    codes = found.get("error_code") or []
    if codes:
        out["error_codes"] = list(dict.fromkeys(codes))
    if found.get("email"):
        out["email"] = found["email"][-1]
    return out



def first_sentence(summary: str) -> str:
    """The brief summary's first sentence (who, which order, about what): a ticket's subject. The summary is worded
    per language (policy/case_brief.yml), so this cuts at the first full stop of either script, not at English words."""
    return re.split(r"\. |。", summary, maxsplit=1)[0].strip()

class TicketService(TicketViews, TicketSweep):
    def __init__(self, store: Store, groups: Any, flows: Any, metrics: Any, clock: Callable[[], float] = time.time,
                 on_reply: Optional[Callable[[Ticket, Dict[str, Any]], Awaitable[None]]] = None) -> None:
        self.store = store
        self.groups = groups  # common.routing.SkillGroups (calendars, ticket reply time, reopen window)
        self.flows = flows  # handoff.tickets.flows.TicketFlows, or None
        self.metrics = metrics
        self.clock = clock
        self.on_reply = on_reply  # e-mail out (handoff/tickets/mail_out.py), when configured
        self.hooks = Hooks()  # the clocks listen to every change of a ticket (the app shares the chats' Hooks)

    # -- time ------------------------------------------------------------------------------------
    def _calendar(self, group: str) -> Any:
        return (getattr(self.groups, "calendars", None) or {}).get(group)

    def due(self, group: str, start: float, seconds: Optional[float] = None) -> float:
        """When an answer is due: ``seconds`` of the group's business hours after ``start``."""
        if seconds is None:
            seconds = float(getattr(self.groups, "ticket_reply_seconds", self.groups.ticket_reply_hours * 3600))
        cal = self._calendar(group)
        return cal.add(start, seconds) if cal is not None else start + seconds

    def local(self, group: str, epoch: Optional[float]) -> Dict[str, Any]:
        """The due time as a customer reads it: local time and the timezone of the team's calendar."""
        cal = self._calendar(group)
        if epoch is None:
            return {"due_at": None, "due_local": None, "timezone": None}
        if cal is None:
            return {"due_at": iso(epoch), "due_local": (iso(epoch) or "")[:16].replace("T", " "), "timezone": "UTC"}
        return {"due_at": iso(epoch), "due_local": cal.local(epoch), "timezone": cal.timezone}

    @property
    def reopen_seconds(self) -> float:
        return float(getattr(self.groups, "reopen_seconds", 7 * 86400))

    # -- access ------------------------------------------------------------------------------------
    async def skills(self, caller: Caller) -> List[str]:
        account = await self.store.account(caller.agent_id or "") or {}
        return [s for s in account.get("skills", "").split(",") if s]

    async def check_may(self, caller: Caller, t: Ticket) -> None:
        if caller.kind != "agent":
            raise Forbidden("this needs an agent's token")
        if caller.is_supervisor or t.assignee == caller.agent_id:
            return
        if {t.group, t.owner_group} & set(await self.skills(caller)):
            return
        raise Forbidden(f"{t.label} belongs to groups you are not in")

    async def find(self, ref: str) -> Ticket:
        """The ticket a label (T-10042) or an id names. Anything else is no ticket, never read from the store:
        the store's other keys under the tickets' prefix (``count``, ``numbers``, ``ix:all``...) are not tickets."""
        number = _ref_number(ref)
        try:
            if number is not None:
                return await self.store.ticket_by_number(number)
            if not TICKET_ID.match(ref):
                raise NotFound(ref)
            return await self.store.ticket(ref)
        except NotFound:
            missing = NotFound(ref)
            missing.ticket = True  # type: ignore[attr-defined]  # the app says "no such ticket"
            raise missing from None

    async def get_for(self, caller: Caller, ref: str) -> Ticket:
        t = await self.find(ref)
        await self.check_may(caller, t)
        return t

    # -- birth ---------------------------------------------------------------------------------------
    def _check_group(self, group: str) -> None:
        if group not in self.groups.groups:
            raise TicketInvalid(f"skill_group: unknown skill group {group!r} (known: {', '.join(self.groups.groups)})")

    def _flow(self, name: Optional[str]) -> Optional[Dict[str, Any]]:
        if not name:
            return None
        if self.flows is None or name not in self.flows.names():
            known = ", ".join(self.flows.names()) if self.flows is not None else "none"
            raise TicketInvalid(f"flow: unknown ticket flow {name!r} (known: {known})")
        return {"name": name, "step": 0, "steps": [s.group for s in self.flows.get(name).steps]}

    async def open_ticket(self, *, subject: str, requester: Dict[str, Any], by: str, source: str,
                          group: Optional[str] = None, summary: str = "", priority: int = 10,
                          tags: Sequence[str] = (), fields: Optional[Dict[str, Any]] = None,
                          brief: Optional[Dict[str, Any]] = None, escalations: Sequence[str] = (),
                          flow: Optional[str] = None, request_key: str = "", why: str = "",
                          assignee: Optional[str] = None, note: str = "", now: Optional[float] = None) -> tuple:
        """A new ticket (or the one ``request_key`` made before, and False). ``now``: the moment it was asked for
        (its answer is due from then), when the caller already reasoned with one."""
        flow_doc = self._flow(flow)
        group = flow_doc["steps"][0] if flow_doc else (group or "general")
        self._check_group(group)
        now = self.clock() if now is None else now
        due = self.due(group, now)

        def make(number: int) -> tr.Change:
            t = Ticket(id=uuid.uuid4().hex, number=number, state=TicketState.OPEN if assignee else TicketState.NEW,
                       subject=subject[:200], group=group, owner_group=group, priority=int(priority),
                       created_at=now, updated_at=now, summary=summary, source=source, requester=dict(requester),
                       assignee=assignee, owner_agent=assignee, tags=list(dict.fromkeys(tags)),
                       fields=dict(fields or {}), brief=dict(brief or {}), escalations=list(escalations),
                       flow=flow_doc, due_at=due, team_since=now)
            change = tr.created(t, by, now, why)
            if note:
                change.entries[t.id].append(tr.entry("note", by, now, text=note))
            said = tr.customer_event("ticket_created", t, message_id=f"ticket-created/{t.id}", **self.local(group, due))
            if said:
                change.events.append(said)
            return change

        t, created = await self.store.create_ticket(make, request_key)
        if created:
            self.metrics.tickets_created.labels(t.group, source).inc()
            await self.hooks.ticket(t, "created")
        return t, created

    async def from_escalation(self, escalation_id: str, by: str, source: str, why: str = "",
                              subject: str = "", group: Optional[str] = None, flow: Optional[str] = None,
                              assignee: Optional[str] = None, note: str = "", now: Optional[float] = None,
                              priority: Optional[int] = None, request_key: str = "") -> tuple:
        """The ticket of a chat (one per chat: asking again returns it): transcript and brief go with it.
        ``request_key``: another ticket of the chat, one per key (a survey's follow-up: ``follow_up:<id>``)."""
        e = await self.store.get(escalation_id)
        request = (await self.store.document(escalation_id)).get("request") or {}
        brief = request.get("case_brief") or {}
        customer = request.get("customer") or {}
        categories = list(brief.get("categories") or {})
        if flow is None and self.flows is not None and group is None:
            flow = self.flows.for_ticket(categories, list(brief.get("topics") or []))
        fields = fields_from_request(request)
        requester = {"customer_id": customer.get("id"), "email": customer.get("email") or fields.pop("email", None),
                     "channel": request.get("channel"), "conversation_id": e.conversation_id,
                     "lang": request.get("language")}
        tier = (customer.get("tags") or {}).get("vip_tier")
        tags = [*(f"vip:{tier}" for _ in [0] if tier and tier != "none"), *categories]
        return await self.open_ticket(
            subject=subject or first_sentence(brief.get("summary") or "Customer request")[:200],
            summary=brief.get("summary") or "", requester=requester, by=by, source=source,
            group=group or e.skill_group, priority=e.priority if priority is None else priority, tags=tags,
            fields=fields, brief=brief, escalations=[e.id], flow=flow, request_key=request_key or f"escalation:{e.id}",
            why=why,
            assignee=assignee, note=note, now=now)

    # -- changes ---------------------------------------------------------------------------------------
    async def _apply(self, ids: Sequence[str], rule: Callable[[List[Ticket]], tr.Change]) -> tr.Change:
        change = await self.store.change(ids, rule)
        if change.changed:
            for t in change.tickets:
                await self.hooks.ticket(t, "changed")
        return change

    async def reconcile(self, limit: int = 2000) -> int:
        """Tell the clocks of every active ticket, and of those solved lately, again (after a crash between a change
        and its timers)."""
        if not self.hooks.ticket_listeners:
            return 0
        ids: List[str] = []
        for state in ACTIVE:
            ids += await self.store.index(f"state:{state.value}", limit)
        # solved in the last 6 hours: their survey and auto-close timers
        ids += await self.store.index("solved", limit, min_score=self.clock() - 6 * 3600)
        for t in await self.store.tickets(ids[:limit]):
            await self.hooks.ticket(t, "reconcile")
        return len(ids[:limit])

    async def claim(self, caller: Caller, ref: str) -> Ticket:
        t = await self.get_for(caller, ref)
        agent, now = caller.agent_id or "", self.clock()
        change = await self._apply([t.id], lambda ts: tr.assign(ts[0], agent, agent, now, claim=True))
        if change.changed:
            self.metrics.ticket_changes.labels("claimed").inc()
        return change.ticket

    async def assign(self, caller: Caller, ref: str, agent_id: str) -> Ticket:
        t = await self.get_for(caller, ref)
        if not caller.is_supervisor:
            raise Forbidden("only supervisors may assign a ticket to someone")
        if await self.store.account(agent_id) is None:
            raise TicketInvalid(f"agent_id: unknown agent {agent_id!r}")
        now = self.clock()
        change = await self._apply([t.id], lambda ts: tr.assign(ts[0], agent_id, caller.agent_id or "", now,
                                                                 claim=False))
        return change.ticket

    async def reply(self, caller: Caller, ref: str, text: str, then: str = "pending",
                    message_id: Optional[str] = None) -> Ticket:
        t = await self.get_for(caller, ref)
        if t.assignee and t.assignee != caller.agent_id and not caller.is_supervisor \
                and t.group not in await self.skills(caller):
            raise Forbidden(f"{t.label} is with {t.assignee}")
        agent, now = caller.agent_id or "", self.clock()
        name = (await self.store.account(agent) or {}).get("name") or agent
        change = await self._apply([t.id], lambda ts: tr.reply(ts[0], agent, text, now, TicketState(then),
                                                                message_id, name))
        if change.changed:
            self.metrics.ticket_changes.labels("reply").inc()
            entry = next(e for e in change.entries[t.id] if e["kind"] == "reply")
        elif message_id:  # a retry of a reply already made: its mail is queued again (once per Message-ID)
            entry = next((e for e in await self.store.timeline(t.id)
                          if e["kind"] == "reply" and e.get("message_id") == message_id), {})
        else:
            entry = {}
        if entry and self.on_reply is not None and change.ticket.requester.get("email"):
            await self.on_reply(change.ticket, {**entry, "agent_name": name})
        return change.ticket

    async def note(self, caller: Caller, ref: str, text: str) -> Ticket:
        t = await self.get_for(caller, ref)
        now = self.clock()
        return (await self._apply([t.id], lambda ts: tr.note(ts[0], caller.agent_id or "", text, now))).ticket

    async def set_state(self, caller: Caller, ref: str, state: str, reason: str = "") -> Ticket:
        t = await self.get_for(caller, ref)
        now = self.clock()
        due = self.due(t.group, now)
        change = await self._apply([t.id], lambda ts: tr.set_state(ts[0], TicketState(state), caller.agent_id or "",
                                                                    now, reason, due))
        if change.changed:
            self.metrics.ticket_changes.labels(state).inc()
        return change.ticket

    async def send(self, caller: Caller, ref: str, note_text: str, group: Optional[str] = None,
                   next_step: bool = False, from_step: Optional[int] = None) -> Ticket:
        """To another team, or to the flow's next step; the team's time is recorded. ``from_step``: the step the
        sender saw (0-based): a retry after the ticket moved on from it changes nothing, any other step is 409."""
        t = await self.get_for(caller, ref)
        step: Optional[int] = None
        target_hours: Optional[float] = None
        if next_step:
            if not t.flow:
                raise Conflict(f"{t.label} follows no flow: send it to a team instead")
            steps = t.flow["steps"]
            step = (int(t.flow.get("step", 0)) if from_step is None else from_step) + 1
            if step >= len(steps):
                raise Conflict(f"{t.label} is at the last step of the flow {t.flow['name']!r}: solve it")
            group = steps[step]
            if self.flows is not None:
                target_hours = self.flows.get(t.flow["name"]).steps[step].target_hours
        if not group:
            raise TicketInvalid("give skill_group or next_step: where the ticket goes")
        self._check_group(group)
        now = self.clock()
        due = self.due(group, now, target_hours * 3600 if target_hours else None)
        before_group = t.group
        change = await self._apply([t.id], lambda ts: tr.send(ts[0], group, caller.agent_id or "", now, note_text,
                                                              step, due))
        spent = next((e.get("seconds") for e in change.entries.get(t.id, []) if e["kind"] == "team"), None)
        if spent is not None:
            self.metrics.ticket_team_seconds.labels(before_group).observe(spent)
        self.metrics.ticket_changes.labels("sent").inc()
        return change.ticket

    async def merge(self, caller: Caller, ref: str, into: str) -> Ticket:
        source, target = await self.get_for(caller, ref), await self.get_for(caller, into)
        now = self.clock()
        change = await self._apply([source.id, target.id],
                                   lambda ts: tr.merge(ts[0], ts[1], caller.agent_id or "", now))
        return change.tickets[1]

    async def customer_message(self, ref: str, text: str, via: str, message_id: Optional[str] = None) -> Ticket:
        """The customer's answer, from the chat (the bot) or by e-mail. It lands on the ticket the customer's was
        merged into (followed through every merge, also one made while this message is on its way): a merged
        ticket never refuses it as closed."""
        t = await self.find(ref)
        now = self.clock()
        for _ in range(MERGE_HOPS):
            if t.merged_into:
                t = await self.find(t.merged_into)
                continue
            due = self.due(t.group, now)

            def rule(ts: List[Ticket], due: float = due) -> tr.Change:
                if ts[0].merged_into:
                    raise _Merged(ts[0].merged_into)
                return tr.customer_message(ts[0], text, via, now, self.reopen_seconds, due, message_id)
            try:
                change = await self._apply([t.id], rule)
            except _Merged as moved:
                t = await self.find(moved.into)
                continue
            if change.changed:
                self.metrics.ticket_changes.labels("customer").inc()
            return change.ticket
        raise Conflict(f"{ref} was merged more than {MERGE_HOPS} times over")
