"""The chats' HTTP routes (documented in handoff/openapi.yml): the bot hands a conversation over, reads it, adds the
customer's messages and says when the customer left; agents accept, message, note, transfer, release and close.
Thin: who calls and the body (handoff/api/helpers.py), then handoff/service.py."""
from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from handoff.api.helpers import Requests, summary
from handoff.store import Status


def register(app: Sanic, r: Requests) -> None:
    @app.post("/v1/handoffs")
    async def create_handoff(request: Request) -> HTTPResponse:
        r.bot(request)
        created = await app.ctx.service.create(r.body(request, "HandoffRequest"))
        surge = await app.ctx.surge.surging(created.escalation.skill_group)
        return json_response({**created.as_dict(), "surge": surge}, status=201 if created.created else 200,
                             headers={"Location": f"/v1/handoffs/{created.escalation.id}"})

    @app.get("/v1/handoffs/<escalation_id>")
    async def get_handoff(request: Request, escalation_id: str) -> HTTPResponse:
        e = await app.ctx.service.get_for(r.caller(request), escalation_id)
        return json_response({**await app.ctx.service.record(e), "surge": await app.ctx.surge.surging(e.skill_group)})

    @app.post("/v1/handoffs/<escalation_id>/messages")
    async def post_message(request: Request, escalation_id: str) -> HTTPResponse:
        c = r.caller(request)
        data = r.body(request, "MessageIn")
        return json_response(await app.ctx.service.message(c, escalation_id, data["text"], data.get("message_id")),
                             status=201)

    @app.post("/v1/handoffs/<escalation_id>/notes")
    async def post_note(request: Request, escalation_id: str) -> HTTPResponse:
        c = r.agent(request)
        data = r.body(request, "NoteIn")
        return json_response(await app.ctx.service.add_note(c, escalation_id, data["text"]), status=201)

    @app.post("/v1/handoffs/<escalation_id>/abandon")
    async def abandon(request: Request, escalation_id: str) -> HTTPResponse:
        r.bot(request)
        return json_response(summary(await app.ctx.service.abandon(escalation_id)))

    # -- agents ----------------------------------------------------------------------------------
    @app.post("/v1/handoffs/<escalation_id>/accept")
    async def accept(request: Request, escalation_id: str) -> HTTPResponse:
        return json_response(summary(await app.ctx.service.accept(r.agent(request), escalation_id)))

    @app.post("/v1/handoffs/<escalation_id>/transfer")
    async def transfer(request: Request, escalation_id: str) -> HTTPResponse:
        c = r.agent(request)
        data = r.body(request, "TransferIn")
        e = await app.ctx.service.transfer(c, escalation_id, data.get("skill_group"), data.get("agent_id"),
                                           data["reason"])
        return json_response(summary(e))

    @app.post("/v1/handoffs/<escalation_id>/release")
    async def release(request: Request, escalation_id: str) -> HTTPResponse:
        c = r.agent(request)
        data = r.body(request, "ReleaseIn", optional=True)
        e = await app.ctx.service.finish(c, escalation_id, Status.RELEASED, data.get("reason", "back to the bot"))
        return json_response(summary(e))

    @app.post("/v1/handoffs/<escalation_id>/close")
    async def close(request: Request, escalation_id: str) -> HTTPResponse:
        c = r.agent(request)
        data = r.body(request, "CloseIn")
        outcome = {"resolved": data["resolved"], "wrap_up": data["wrap_up"], "closed_by": c.agent_id}
        if data.get("note"):
            outcome["note"] = data["note"]
        e = await app.ctx.service.finish(c, escalation_id, Status.CLOSED, data["wrap_up"], outcome)
        return json_response(summary(e))
