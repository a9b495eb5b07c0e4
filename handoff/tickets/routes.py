"""The tickets' HTTP routes (documented in handoff/tickets/openapi.yml, merged into the service's document).

Thin: authenticate (the app's helpers), validate the body against the published schema, call
handoff/tickets/service.py. Errors are the service's usual ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from handoff.auth import Forbidden
from handoff.tickets.errors import TicketInvalid
from handoff.tickets.model import parse_label, view
from handoff.tickets.views import LIST_LIMIT


@dataclass
class Helpers:
    caller: Callable[[Request], Any]
    agent: Callable[[Request], Any]
    bot: Callable[[Request], Any]
    body: Callable[..., Dict[str, Any]]


def _limit(request: Request) -> int:
    """The listing's ``limit``: 50 unless given; anything but a whole number from 1 to LIST_LIMIT is a 422."""
    text = request.args.get("limit", "50")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= LIST_LIMIT):
        raise TicketInvalid(f"limit: a whole number from 1 to {LIST_LIMIT}, not {text!r}")
    return int(text)


def _offset(request: Request) -> int:
    """``offset`` of view=all: 0 unless given; a whole number up to 1,000,000, else a 422."""
    text = request.args.get("offset", "0")
    if not (text.isascii() and text.isdigit() and int(text) <= 1_000_000):
        raise TicketInvalid(f"offset: a whole number from 0 to 1000000, not {text!r}")
    return int(text)


def register(app: Sanic, h: Helpers) -> None:
    def tickets() -> Any:
        return app.ctx.tickets

    def out(t: Any, status: int = 200) -> HTTPResponse:
        return json_response(view(t, tickets().clock()), status=status,
                             headers={"Location": f"/v1/tickets/{t.label}"} if status == 201 else None)

    @app.post("/v1/tickets")
    async def create_ticket(request: Request) -> HTTPResponse:
        c = h.caller(request)
        data = h.body(request, "TicketIn")
        by = c.agent_id if c.kind == "agent" else "bot"
        if data.get("escalation_id"):
            if c.kind != "agent":
                raise Forbidden("a ticket from a chat is made by an agent: POST /v1/handoffs/{id}/ticket")
            return await ticket_from_chat(request, data["escalation_id"], data)
        t, created = await tickets().open_ticket(
            subject=data["subject"], summary=data.get("summary", ""), requester=data.get("requester") or {},
            by=by, source="api", group=data.get("skill_group"), priority=data.get("priority", 10),
            tags=data.get("tags") or [], fields=data.get("fields") or {}, flow=data.get("flow"),
            request_key=data.get("request_key", ""), assignee=None)
        if not created and c.kind == "agent":  # the key's ticket: an agent sees it only if it is one they may
            await tickets().check_may(c, t)
        return out(t, 201 if created else 200)

    async def ticket_from_chat(request: Request, escalation_id: str, data: Dict[str, Any]) -> HTTPResponse:
        c = h.agent(request)
        await app.ctx.service.get_for(c, escalation_id)  # the chat's agent, or a supervisor
        t, created = await tickets().from_escalation(
            escalation_id, c.agent_id, "agent", why="made from the chat", subject=data.get("subject", ""),
            group=data.get("skill_group"), flow=data.get("flow"), assignee=c.agent_id, note=data.get("note", ""))
        return out(t, 201 if created else 200)

    @app.post("/v1/handoffs/<escalation_id>/ticket")
    async def chat_ticket(request: Request, escalation_id: str) -> HTTPResponse:
        return await ticket_from_chat(request, escalation_id, h.body(request, "ChatTicketIn", optional=True))

    @app.post("/v1/handoffs/<escalation_id>/leave_message")
    async def leave_message(request: Request, escalation_id: str) -> HTTPResponse:
        h.bot(request)
        created = await app.ctx.service.leave_message(escalation_id)
        return json_response(created.as_dict())

    @app.get("/v1/tickets")
    async def list_tickets(request: Request) -> HTTPResponse:
        c = h.agent(request)
        which, q, offset = request.args.get("view", "mine"), request.args.get("q", ""), _offset(request)
        if which == "all" and not q:  # every ticket, newest first, a page at a time
            found, after = await tickets().all_page(c, offset, _limit(request), request.args.get("state", ""),
                                                    request.args.get("skill_group", ""))
            return json_response({"tickets": found, "next_offset": after})
        found = await tickets().listing(c, which, q, request.args.get("state", ""),
                                        request.args.get("skill_group", ""), _limit(request))
        return json_response({"tickets": found, "next_offset": None})

    @app.get("/v1/tickets/lookup")
    async def lookup(request: Request) -> HTTPResponse:
        h.bot(request)
        a = request.args
        if not (a.get("conversation_id") or a.get("customer_id") or a.get("email")):
            raise TicketInvalid("give conversation_id, customer_id or email: whose tickets")
        number = parse_label(a.get("number", "")) if a.get("number") else None
        if a.get("number") and number is None:  # not "every ticket of theirs"
            raise TicketInvalid(f"number: {a.get('number')!r} is not a ticket number (T-10042)")
        return json_response({"tickets": await tickets().lookup(a.get("conversation_id", ""), a.get("customer_id", ""),
                                                                 a.get("email", ""), number)})

    @app.get("/v1/tickets/<ref>")
    async def get_ticket(request: Request, ref: str) -> HTTPResponse:
        return json_response(await tickets().detail(h.agent(request), ref))

    @app.post("/v1/tickets/<ref>/claim")
    async def claim(request: Request, ref: str) -> HTTPResponse:
        return out(await tickets().claim(h.agent(request), ref))

    @app.post("/v1/tickets/<ref>/assign")
    async def assign(request: Request, ref: str) -> HTTPResponse:
        c = h.agent(request)
        return out(await tickets().assign(c, ref, h.body(request, "TicketAssignIn")["agent_id"]))

    @app.post("/v1/tickets/<ref>/replies")
    async def reply(request: Request, ref: str) -> HTTPResponse:
        c = h.agent(request)
        data = h.body(request, "TicketReplyIn")
        return out(await tickets().reply(c, ref, data["text"], data.get("state", "pending"), data.get("message_id")))

    @app.post("/v1/tickets/<ref>/notes")
    async def note(request: Request, ref: str) -> HTTPResponse:
        c = h.agent(request)
        return out(await tickets().note(c, ref, h.body(request, "NoteIn")["text"]))

    @app.post("/v1/tickets/<ref>/state")
    async def state(request: Request, ref: str) -> HTTPResponse:
        c = h.agent(request)
        data = h.body(request, "TicketStateIn")
        return out(await tickets().set_state(c, ref, data["state"], data.get("reason", "")))

    @app.post("/v1/tickets/<ref>/send")
    async def send(request: Request, ref: str) -> HTTPResponse:
        c = h.agent(request)
        data = h.body(request, "TicketSendIn")
        return out(await tickets().send(c, ref, data["note"], data.get("skill_group"), bool(data.get("next_step")),
                                        data.get("from_step")))

    @app.post("/v1/tickets/<ref>/merge")
    async def merge(request: Request, ref: str) -> HTTPResponse:
        c = h.agent(request)
        return out(await tickets().merge(c, ref, h.body(request, "TicketMergeIn")["into"]))

    @app.post("/v1/tickets/<ref>/customer_messages")
    async def customer_message(request: Request, ref: str) -> HTTPResponse:
        h.bot(request)
        data = h.body(request, "TicketCustomerMessageIn")
        return out(await tickets().customer_message(ref, data["text"], data.get("via", "chat"), data.get("message_id")))
