"""The survey's HTTP routes: the customer's answer on a chat (``POST /v1/handoffs/{id}/survey``) and on a ticket
(``POST /v1/tickets/{ref}/survey``), both from the bot; documented in handoff/openapi.yml and
handoff/tickets/openapi.yml. Thin: validate, call handoff/surveys.py."""
from __future__ import annotations

from typing import Any, Callable, Dict

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from handoff.tickets.model import view


def register(app: Sanic, bot: Callable[[Request], Any], body: Callable[..., Dict[str, Any]],
             summary: Callable[[Any], Dict[str, Any]]) -> None:
    @app.post("/v1/handoffs/<escalation_id>/survey")
    async def survey(request: Request, escalation_id: str) -> HTTPResponse:
        bot(request)
        e, follow_up = await app.ctx.surveys.chat(escalation_id, body(request, "SurveyIn"))
        return json_response({**summary(e), "follow_up": follow_up})

    @app.post("/v1/tickets/<ref>/survey")
    async def ticket_survey(request: Request, ref: str) -> HTTPResponse:
        bot(request)
        t, follow_up = await app.ctx.surveys.ticket(ref, body(request, "SurveyIn"))
        return json_response({**view(t, app.ctx.tickets.clock()), "follow_up": follow_up})
