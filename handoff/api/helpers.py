"""What every route of the service's API needs: who calls (the token, checked once per request by the
``authenticate`` middleware), the body (JSON, validated against the published OpenAPI document: handoff/api_doc.py),
the short view of a chat (``summary``), and one mapping of exceptions to status codes (``on_error``), each answer
``{"error": {"code", "message"}}``."""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, Optional

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from handoff.api_doc import BodyValidators
from handoff.auth import Caller, Forbidden, Unauthorized, caller_from_header
from handoff.errors import Invalid
from handoff.settings import Settings
from handoff.store import Conflict, Escalation, NotFound
from handoff.tickets.errors import TicketInvalid
from handoff.views import iso, outcome_view

log = logging.getLogger("handoff")
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
# Bodies that need one of two fields (the schema's anyOf): what to say instead of "not valid under any of the
# given schemas", which names no field.
ONE_OF_THESE = {"TransferIn": "give skill_group or agent_id: where the chat goes",
                "TicketSendIn": "give skill_group or next_step: where the ticket goes"}


class BadBody(Exception):
    """The body is not JSON (HTTP 400)."""


def _not_json(constant: str) -> Any:
    """NaN and Infinity: Python's json reads them, but they are not JSON and could not be sent on as JSON."""
    raise ValueError(f"{constant} is not a JSON value")


class BodyInvalid(Exception):
    """The body does not match its schema (HTTP 422)."""


class TooManyAttempts(Exception):
    """Too many failed logins for this agent id or from this address (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} s")
        self.retry_after = retry_after


def error(status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None) -> HTTPResponse:
    return json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class Requests:
    """Who calls and what they sent, for the routes: each raises what ``on_error`` turns into a 401, 403, 400 or 422."""

    def __init__(self, validators: BodyValidators) -> None:
        self.validators = validators

    def caller(self, request: Request) -> Caller:
        c = getattr(request.ctx, "caller", None)
        if isinstance(c, Caller):
            return c
        raise c if isinstance(c, Exception) else Unauthorized("missing Authorization header (Bearer token)")

    def agent(self, request: Request) -> Caller:
        c = self.caller(request)
        if c.kind != "agent":
            raise Forbidden("this needs an agent's token: the bot's service token cannot act as an agent")
        return c

    def supervisor(self, request: Request) -> Caller:
        c = self.agent(request)
        if not c.is_supervisor:
            raise Forbidden("only supervisors may do this")
        return c

    def bot(self, request: Request) -> Caller:
        c = self.caller(request)
        if c.kind != "bot":
            raise Forbidden("only the bot's service token may do this")
        return c

    def body(self, request: Request, schema: str, optional: bool = False) -> Dict[str, Any]:
        raw = request.body or b""
        if not raw.strip():
            if optional:
                return {}
            raise BodyInvalid("the request needs a JSON body")
        try:
            data = json.loads(raw, parse_constant=_not_json)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadBody(f"the body is not valid JSON: {e}") from None
        except RecursionError:
            raise BadBody("the body is not valid JSON: nested too deeply") from None
        try:  # a lone surrogate (e.g. "\\ud800") parses, but cannot be stored or sent on as UTF-8
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadBody("the body is not valid JSON: a string holds a lone surrogate (not Unicode text)") from None
        problems = self.validators.errors(schema, data)
        if problems:
            if schema in ONE_OF_THESE and any("any of the given schemas" in p for p in problems):
                problems = [p for p in problems if "any of the given schemas" not in p] + [ONE_OF_THESE[schema]]
            raise BodyInvalid("; ".join(problems[:10]))
        return data


def summary(e: Escalation) -> Dict[str, Any]:
    """A chat as the answers of its transitions show it."""
    return {"id": e.id, "conversation_id": e.conversation_id, "status": e.status.value,
            "skill_group": e.skill_group, "priority": e.priority, "agent_id": e.agent_id,
            "created_at": iso(e.created_at), "offer_deadline": iso(e.offer_deadline),
            "outcome": outcome_view(e.outcome)}


def register(app: Sanic, settings: Settings) -> None:
    """The ``authenticate`` middleware and the ``on_error`` handler."""

    @app.middleware("request")
    async def authenticate(request: Request) -> None:
        """Who calls, worked out once per request: the token's signature, then whether it still counts
        (handoff/access.py: a dictionary lookup, Redis once per agent per HANDOFF_AUTH_CACHE_SECONDS).
        A failure is kept and raised by the route's helper below, so routes without a token still answer."""
        header = request.headers.get("authorization")
        if header is None:
            request.ctx.caller = Unauthorized("missing Authorization header (Bearer token)")
            return
        try:
            c = caller_from_header(header, settings.bot_token, settings.token_secret)
            await app.ctx.access.check(c)
            request.ctx.caller = c
        except (Unauthorized, Forbidden, *UNAVAILABLE) as e:
            request.ctx.caller = e

    @app.exception(Exception)
    async def on_error(request: Request, exc: Exception) -> HTTPResponse:
        if isinstance(exc, Unauthorized):
            return error(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"})
        if isinstance(exc, Forbidden):
            return error(403, "forbidden", str(exc))
        if isinstance(exc, NotFound):
            what = "ticket" if str(exc).startswith("T-") or getattr(exc, "ticket", False) else "escalation or agent"
            return error(404, "not_found", f"no such {what}: {exc}")
        if isinstance(exc, Conflict):
            return error(409, "conflict", str(exc))
        if isinstance(exc, BadBody):
            return error(400, "bad_request", str(exc))
        if isinstance(exc, TooManyAttempts):
            return error(429, "too_many_requests", str(exc), {"Retry-After": str(exc.retry_after)})
        if isinstance(exc, (BodyInvalid, Invalid, TicketInvalid)):
            return error(422, "invalid", str(exc))
        if isinstance(exc, UNAVAILABLE):
            log.warning("Redis unavailable: %s", exc)
            return error(503, "unavailable", "the handoff store is unreachable; retry shortly", {"Retry-After": "1"})
        status = getattr(exc, "status_code", 500)
        if status >= 500:
            log.exception("unexpected error on %s %s", request.method, request.path)
            return error(500, "internal", "internal error")
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "bad_request")
        return error(status, code, str(exc))
