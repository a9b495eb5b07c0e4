"""The handoff service's Sanic app: ``create_app(settings, store=None)``.

HTTP and WebSocket only: authentication (handoff/auth.py), body validation against the published
OpenAPI document (handoff/api_doc.py), and calls into HandoffService (handoff/service.py); the web
pages (agent console, supervisor dashboard) are served by handoff/web/pages.py. Two
background tasks per process: the sweeper (offers, overflow, tickets, and the presence of the agents
whose WebSocket this process holds: see HandoffService.sweep_lost_agents) and the event reader that
pushes the store's event stream to this process's WebSocket clients (handoff/hub.py).

Why over 400 lines: these are the chats' and agents' routes; tickets (handoff/tickets/routes.py), pages
(handoff/web/pages.py) and the WebSocket hub (handoff/hub.py) are split out; grouping the rest by concern is issue 18.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
import uuid
from typing import Any, Dict, Optional


from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from common.canned import load_canned_responses
from common.language_rules import parse_languages
from common.routing import SkillGroups
from common.surge import SurgePolicy
from handoff.web import pages
from handoff.reports import routes as report_routes
from handoff.access import Access
from handoff.api_doc import BodyValidators, build_document
from handoff.clocks.offset_clock import make_clock
from handoff.clocks import autoclose
from handoff.clocks.surge import SurgeRule
from handoff.clocks import sla as sla_clocks
from handoff.clocks.timers import TimerRunner, wall_offset
from handoff.auth import (ROLES, Caller, Forbidden, Unauthorized, caller_from_header, caller_from_token,
                          check_password, issue_token, new_epoch)
from handoff.metrics import Metrics
from handoff.redis_store import RedisStore
from handoff.errors import Invalid
from handoff.service import HandoffService
from handoff.views import iso, outcome_view
from handoff.settings import Settings
from handoff.account_steps import LoginLimits
from handoff.store import Conflict, Escalation, NotFound, Status, Store
from handoff.hub import Closing, Hub, origin_allowed
from handoff.tickets import routes as ticket_routes
from handoff import survey_mail, survey_routes
from handoff.clocks import survey as survey_clock
from handoff.surveys import SurveyAnswers
from common.survey_policy import SurveyPolicy
from handoff.tickets.flows import TicketFlows
from handoff.tickets.mail_service import TicketMail
from handoff.tickets.service import TicketInvalid, TicketService

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


def create_app(settings: Settings, store: Optional[Store] = None, name: Optional[str] = None) -> Sanic:
    groups = SkillGroups.load(settings.skill_groups_file)
    canned = load_canned_responses(settings.canned_responses_file, groups.groups)
    document = build_document(groups)
    validators = BodyValidators(document)
    ticket_flows = TicketFlows.load(settings.ticket_flows_file, groups.groups)
    surge_policy = SurgePolicy.load(groups.groups, settings.surge_file)
    survey_policy = SurveyPolicy.load(settings.survey_file, groups.groups)
    metrics = Metrics()
    hub = Hub()
    app = Sanic(name or f"handoff_{uuid.uuid4().hex[:8]}")
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.WEBSOCKET_PING_INTERVAL = 20
    app.config.WEBSOCKET_PING_TIMEOUT = 20
    app.ctx.settings = settings
    app.ctx.metrics = metrics
    app.ctx.hub = hub

    @app.before_server_start
    async def open_store(app: Sanic, _loop: Any) -> None:
        app.ctx.store = store or RedisStore.from_url(settings.redis_url, settings.redis_prefix)
        app.ctx.access = Access(app.ctx.store, settings.auth_cache_seconds, unavailable=UNAVAILABLE)
        app.ctx.service = HandoffService(app.ctx.store, groups, metrics, settings.reservation_seconds,
                                         agent_grace_seconds=settings.agent_grace_seconds,
                                         max_missed_offers=settings.max_missed_offers,
                                         clock=make_clock(settings.clock_file))
        app.ctx.tickets = TicketService(app.ctx.store, groups, ticket_flows, metrics, clock=app.ctx.service.clock)
        app.ctx.service.tickets = app.ctx.tickets
        app.ctx.tickets.hooks = app.ctx.service.hooks
        app.ctx.mail = TicketMail(settings, app.ctx.store, app.ctx.tickets)
        # Durable timers (handoff/clocks/): each concern registers the handler of its timer kinds here.
        app.ctx.timers = TimerRunner(app.ctx.store, wall_offset(app.ctx.service.clock),
                                     on_fired=metrics.timer_fired, on_failed=metrics.timer_failed)
        autoclose.register(app)  # solved tickets close when the reopen window ends (handoff/clocks/autoclose.py)
        app.ctx.surge = SurgeRule(app.ctx.service, surge_policy, metrics)  # run by the sweeper (docs/surge.md)
        app.ctx.survey_policy = survey_policy  # the survey after a close or a solve (handoff/clocks/survey.py)
        survey_clock.install(app, survey_policy, survey_mail.SurveyMail(app))
        app.ctx.surveys = SurveyAnswers(app.ctx.service, app.ctx.tickets, survey_policy)

    sla_clocks.register(app, groups)  # SLA warnings and breaches (handoff/clocks/sla.py), after the store exists

    @app.after_server_start
    async def start_tasks(app: Sanic, _loop: Any) -> None:
        gc.freeze()  # start-up objects (tables, schemas, compiled validators) leave the collector's sight
        app.ctx.tasks = [asyncio.ensure_future(sweeper(app)), asyncio.ensure_future(event_reader(app)),
                         asyncio.ensure_future(app.ctx.timers.run(UNAVAILABLE))]
        await app.ctx.mail.start()  # ticket e-mail, when HANDOFF_SMTP_HOST / HANDOFF_MAIL_IN_PORT say so

    @app.before_server_stop
    async def stop_tasks(app: Sanic, _loop: Any) -> None:
        for task in getattr(app.ctx, "tasks", []):
            task.cancel()
        await app.ctx.mail.stop()
        await app.ctx.store.close()

    async def sweeper(app: Sanic) -> None:
        warned = 0.0
        reconciled = time.monotonic()
        while True:
            await asyncio.sleep(settings.sweep_seconds)
            try:
                await app.ctx.service.see(hub.present())  # before the sweep looks for lost agents
                await app.ctx.service.sweep()
                await app.ctx.surge.sweep()
                await app.ctx.tickets.sweep()
                if time.monotonic() - reconciled > settings.reconcile_seconds:
                    reconciled = time.monotonic()  # timers a crash kept from being scheduled (handoff/clocks/hooks.py)
                    await app.ctx.service.reconcile()
                    await app.ctx.tickets.reconcile()
                # Never past what a reader has not acknowledged (handoff/event_retention.py).
                kept = await app.ctx.store.trim_events(settings.events_cap)
                if kept > settings.events_cap and time.monotonic() - warned > 60:
                    warned = time.monotonic()
                    log.warning("event stream holds %d events (HANDOFF_EVENTS_CAP %d): a consumer group (the "
                                "bot's bridge?) has not acknowledged them; they are kept until it does", kept,
                                settings.events_cap)
            except UNAVAILABLE as e:
                log.warning("sweep skipped: Redis unavailable (%s)", e)
            except Exception:  # keep sweeping: one bad chat must not stop the others
                log.exception("sweep failed")

    async def event_reader(app: Sanic) -> None:
        last: Optional[str] = None
        while True:
            try:
                if last is None:
                    last = await app.ctx.store.last_event_id()
                events = await app.ctx.store.events(last, block_ms=2000)
            except UNAVAILABLE as e:
                log.warning("event stream: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(0.5)
                continue
            for event in events:
                last = event.id
                if event.replay:  # the team saw it the first time; only the bot's bridge reads it again
                    continue
                ended = app.ctx.access.on_event(event.data)
                if ended:
                    hub.close(*ended)
                hub.deliver(event)

    # -- helpers ---------------------------------------------------------------------------------
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

    def caller(request: Request) -> Caller:
        c = getattr(request.ctx, "caller", None)
        if isinstance(c, Caller):
            return c
        raise c if isinstance(c, Exception) else Unauthorized("missing Authorization header (Bearer token)")

    def agent(request: Request) -> Caller:
        c = caller(request)
        if c.kind != "agent":
            raise Forbidden("this needs an agent's token: the bot's service token cannot act as an agent")
        return c

    def supervisor(request: Request) -> Caller:
        c = agent(request)
        if not c.is_supervisor:
            raise Forbidden("only supervisors may do this")
        return c

    def bot(request: Request) -> Caller:
        c = caller(request)
        if c.kind != "bot":
            raise Forbidden("only the bot's service token may do this")
        return c

    def body(request: Request, schema: str, optional: bool = False) -> Dict[str, Any]:
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
        problems = validators.errors(schema, data)
        if problems:
            if schema in ONE_OF_THESE and any("any of the given schemas" in p for p in problems):
                problems = [p for p in problems if "any of the given schemas" not in p] + [ONE_OF_THESE[schema]]
            raise BodyInvalid("; ".join(problems[:10]))
        return data

    def summary(e: Escalation) -> Dict[str, Any]:
        return {"id": e.id, "conversation_id": e.conversation_id, "status": e.status.value,
                "skill_group": e.skill_group, "priority": e.priority, "agent_id": e.agent_id,
                "created_at": iso(e.created_at), "offer_deadline": iso(e.offer_deadline),
                "outcome": outcome_view(e.outcome)}

    # -- errors ----------------------------------------------------------------------------------
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

    # -- the bot ---------------------------------------------------------------------------------
    @app.post("/v1/handoffs")
    async def create_handoff(request: Request) -> HTTPResponse:
        bot(request)
        created = await app.ctx.service.create(body(request, "HandoffRequest"))
        surge = await app.ctx.surge.surging(created.escalation.skill_group)
        return json_response({**created.as_dict(), "surge": surge}, status=201 if created.created else 200,
                             headers={"Location": f"/v1/handoffs/{created.escalation.id}"})

    @app.get("/v1/handoffs/<escalation_id>")
    async def get_handoff(request: Request, escalation_id: str) -> HTTPResponse:
        e = await app.ctx.service.get_for(caller(request), escalation_id)
        return json_response({**await app.ctx.service.record(e), "surge": await app.ctx.surge.surging(e.skill_group)})

    @app.post("/v1/handoffs/<escalation_id>/messages")
    async def post_message(request: Request, escalation_id: str) -> HTTPResponse:
        c = caller(request)
        data = body(request, "MessageIn")
        return json_response(await app.ctx.service.message(c, escalation_id, data["text"], data.get("message_id")),
                             status=201)

    @app.post("/v1/handoffs/<escalation_id>/notes")
    async def post_note(request: Request, escalation_id: str) -> HTTPResponse:
        c = agent(request)
        data = body(request, "NoteIn")
        return json_response(await app.ctx.service.add_note(c, escalation_id, data["text"]), status=201)

    @app.post("/v1/handoffs/<escalation_id>/abandon")
    async def abandon(request: Request, escalation_id: str) -> HTTPResponse:
        bot(request)
        return json_response(summary(await app.ctx.service.abandon(escalation_id)))

    # -- agents ----------------------------------------------------------------------------------
    @app.post("/v1/handoffs/<escalation_id>/accept")
    async def accept(request: Request, escalation_id: str) -> HTTPResponse:
        return json_response(summary(await app.ctx.service.accept(agent(request), escalation_id)))

    @app.post("/v1/handoffs/<escalation_id>/transfer")
    async def transfer(request: Request, escalation_id: str) -> HTTPResponse:
        c = agent(request)
        data = body(request, "TransferIn")
        e = await app.ctx.service.transfer(c, escalation_id, data.get("skill_group"), data.get("agent_id"),
                                           data["reason"])
        return json_response(summary(e))

    @app.post("/v1/handoffs/<escalation_id>/release")
    async def release(request: Request, escalation_id: str) -> HTTPResponse:
        c = agent(request)
        data = body(request, "ReleaseIn", optional=True)
        e = await app.ctx.service.finish(c, escalation_id, Status.RELEASED, data.get("reason", "back to the bot"))
        return json_response(summary(e))

    @app.post("/v1/handoffs/<escalation_id>/close")
    async def close(request: Request, escalation_id: str) -> HTTPResponse:
        c = agent(request)
        data = body(request, "CloseIn")
        outcome = {"resolved": data["resolved"], "wrap_up": data["wrap_up"], "closed_by": c.agent_id}
        if data.get("note"):
            outcome["note"] = data["note"]
        e = await app.ctx.service.finish(c, escalation_id, Status.CLOSED, data["wrap_up"], outcome)
        return json_response(summary(e))

    @app.get("/v1/queues")
    async def queues(request: Request) -> HTTPResponse:
        caller(request)
        return json_response({"queues": await app.ctx.surge.view(await app.ctx.service.queues())})

    @app.get("/v1/meta")
    async def meta(request: Request) -> HTTPResponse:
        agent(request)
        try:  # the names the pages show for agent ids; without Redis the rest still answers, with no names
            accounts = [(a, await app.ctx.store.account(a) or {}) for a in await app.ctx.store.accounts()]
        except UNAVAILABLE:
            accounts = []
        agents = [{"id": a, "name": acc.get("name") or a, "skills": [s for s in acc.get("skills", "").split(",") if s],
                   "languages": list(parse_languages(acc.get("languages")))} for a, acc in accounts]
        return json_response({
            "skill_groups": [{"id": g, "name": groups.name(g), "names": dict(groups.groups[g].get("names") or {})}
                             for g in groups.groups],
            "wrap_up_codes": groups.wrap_up_codes, "canned_responses": canned,
            "reservation_seconds": settings.reservation_seconds,
            "first_response_target_seconds": groups.first_response_seconds,
            "agents": agents})

    @app.get("/v1/agents")
    async def list_agents(request: Request) -> HTTPResponse:
        supervisor(request)
        return json_response({"agents": await app.ctx.service.agents()})

    @app.get("/v1/stats/today")
    async def stats_today(request: Request) -> HTTPResponse:
        supervisor(request)
        return json_response(await app.ctx.service.stats_today(settings.conversations_key))

    @app.get("/v1/undelivered")
    async def undelivered(request: Request) -> HTTPResponse:
        supervisor(request)
        return json_response(await app.ctx.service.undelivered(settings.undelivered_key, settings.dead_events_key,
                                                               dead_mail_key=f"{settings.redis_prefix}mail:dead"))

    @app.post("/v1/agents/login")
    async def login(request: Request) -> HTTPResponse:
        data = body(request, "LoginIn")
        agent_id, address = data["agent_id"], request.remote_addr or request.ip or "unknown"
        wait = await app.ctx.store.login_attempt(agent_id, address, app.ctx.service.clock(), login_limits)
        if wait:
            log.warning("login for %r from %s refused: too many failed attempts (retry in %d s)", agent_id[:64],
                        address, wait)
            raise TooManyAttempts(wait)
        account = await app.ctx.store.account(agent_id)
        ok = await asyncio.get_running_loop().run_in_executor(
            None, check_password, account.get("password_hash") if account else None, data["password"])
        if not ok or account is None or account.get("role") not in ROLES:
            raise Unauthorized("wrong agent id or password")
        if account.get("disabled") == "1":
            raise Forbidden("this agent account is disabled: ask a supervisor")
        await app.ctx.store.login_succeeded(agent_id, address)
        epoch = account.get("epoch") or await app.ctx.store.start_epoch(agent_id, new_epoch())
        token, expires = issue_token(settings.token_secret, data["agent_id"], account["role"],
                                     settings.token_ttl_seconds, epoch=epoch)
        return json_response({"token": token, "expires_at": iso(expires),
                              "agent": await app.ctx.service.agent_view(data["agent_id"])})

    # -- sessions and accounts (issue 12.7): logout, disable, enable, remove --------------------------
    login_limits = LoginLimits(settings.login_max_failures_per_agent, settings.login_max_failures_per_address,
                               settings.login_window_seconds)

    @app.post("/v1/agents/logout")
    async def logout(request: Request) -> HTTPResponse:
        await app.ctx.service.logout(agent(request))
        return HTTPResponse(status=204)

    def other_agent(request: Request, agent_id: str) -> Caller:
        c = supervisor(request)
        if agent_id == c.agent_id:
            raise Conflict("a supervisor cannot disable or remove their own account")
        return c

    @app.post("/v1/agents/<agent_id>/disable")
    async def disable_agent(request: Request, agent_id: str) -> HTTPResponse:
        c = other_agent(request, agent_id)
        return json_response(await app.ctx.service.disable_agent(agent_id, c.agent_id or ""))

    @app.post("/v1/agents/<agent_id>/enable")
    async def enable_agent(request: Request, agent_id: str) -> HTTPResponse:
        c = other_agent(request, agent_id)
        return json_response(await app.ctx.service.enable_agent(agent_id, c.agent_id or ""))

    @app.delete("/v1/agents/<agent_id>")
    async def remove_agent(request: Request, agent_id: str) -> HTTPResponse:
        c = other_agent(request, agent_id)
        await app.ctx.service.remove_agent(agent_id, c.agent_id or "")
        return HTTPResponse(status=204)

    @app.get("/v1/agents/me")
    async def me(request: Request) -> HTTPResponse:
        return json_response(await app.ctx.service.agent_view(agent(request).agent_id))

    @app.put("/v1/agents/me/status")
    async def set_status(request: Request) -> HTTPResponse:
        c = agent(request)
        data = body(request, "StatusIn")
        await app.ctx.service.set_status(c.agent_id, data["status"])
        return json_response(await app.ctx.service.agent_view(c.agent_id))

    @app.get("/v1/agents/me/handoffs")
    async def my_handoffs(request: Request) -> HTTPResponse:
        return json_response({"handoffs": await app.ctx.service.my_handoffs(agent(request).agent_id)})

    @app.websocket("/v1/agents/me/stream")
    async def stream(request: Request, ws: Any) -> None:
        origin = request.headers.get("origin")
        if origin is not None and not origin_allowed(origin, request, settings.allowed_origins):
            await ws.send(json.dumps({"type": "error", "error": {
                "code": 4403, "message": f"origin {origin!r} may not open this stream (HANDOFF_ALLOWED_ORIGINS)"}}))
            await ws.close(code=4403)
            return
        try:
            header = request.headers.get("authorization")
            if header:
                c = caller_from_header(header, settings.bot_token, settings.token_secret)
            else:
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                c = caller_from_token(str(first.get("token", "")), settings.bot_token, settings.token_secret)
            await app.ctx.access.check(c)
            if c.kind != "agent":
                raise Forbidden("this needs an agent's token: the bot's service token cannot act as an agent")
            skills = (await app.ctx.service.agent_view(c.agent_id or ""))["skills"]
        except UNAVAILABLE as e:
            log.warning("websocket refused: Redis unavailable (%s)", e)
            await ws.close(code=1013, reason="the handoff store is unreachable; retry shortly")
            return
        except (Unauthorized, Forbidden, ValueError, AttributeError, asyncio.TimeoutError) as e:
            code = 4403 if isinstance(e, Forbidden) else 4401
            await ws.send(json.dumps({"type": "error", "error": {"code": code, "message": str(e) or "unauthorized"}}))
            await ws.close(code=code)
            return
        q = hub.add(c, skills)
        metrics.ws_clients.inc()
        sender: Optional[asyncio.Future] = None
        try:
            await app.ctx.service.see([c.agent_id])  # back within the grace period: the chats stay
            await ws.send(json.dumps({"type": "snapshot", "agent": await app.ctx.service.agent_view(c.agent_id),
                                      "handoffs": await app.ctx.service.my_handoffs(c.agent_id)}))

            async def pump() -> None:
                while True:
                    payload = await q.get()
                    if isinstance(payload, Closing):  # logged out, disabled or removed: the session is over
                        await ws.send(json.dumps({"type": "error", "error": {"code": payload.code,
                                                                             "message": payload.message}}))
                        await ws.close(code=payload.code, reason=payload.message)
                        return
                    await ws.send(payload)
                    if getattr(q, "_overflowed", False) and q.empty():
                        await ws.close(code=4008, reason="too slow: reconnect for a fresh snapshot")
                        return

            sender = asyncio.ensure_future(pump())
            while True:  # incoming messages are ignored; this notices when the client goes away
                if await ws.recv() is None:
                    break
        except Exception as e:  # the connection closed
            log.debug("websocket of %s closed: %s", c.agent_id, e)
        finally:
            if sender is not None:
                sender.cancel()
            hub.remove(c, q)
            metrics.ws_clients.dec()

    # -- tickets (handoff/tickets/routes.py) and pages ---------------------------------------------
    ticket_routes.register(app, ticket_routes.Helpers(caller, agent, bot, body))
    report_routes.register(app, report_routes.Helpers(supervisor, settings.conversations_key))
    survey_routes.register(app, bot, body, summary)  # the survey's answers (handoff/surveys.py)
    survey_mail.register(app)  # the survey page an e-mail links to
    pages.register(app)

    # -- operations ------------------------------------------------------------------------------
    @app.get("/v1/openapi.json")
    async def openapi(_request: Request) -> HTTPResponse:
        return json_response(document)

    @app.get("/health")
    async def health(_request: Request) -> HTTPResponse:
        try:
            await app.ctx.store.ping()
        except UNAVAILABLE as e:
            return json_response({"status": "unavailable", "redis": str(e) or "unreachable"}, status=503)
        return json_response({"status": "ok", "redis": "ok"})

    @app.get("/metrics")
    async def prometheus(_request: Request) -> HTTPResponse:
        try:
            for q in await app.ctx.service.queues():
                g = q["skill_group"]
                metrics.queue_waiting.labels(g).set(q["waiting"])
                metrics.queue_oldest.labels(g).set(q["oldest_wait_seconds"])
                metrics.agents_online.labels(g).set(q["agents_online"])
                metrics.free_capacity.labels(g).set(q["free_capacity"])
                metrics.ticket_queue.labels(g).set(await app.ctx.store.index_size(f"queue:{g}"))
            for state, n in (await app.ctx.tickets.counts()).items():
                metrics.tickets_by_state.labels(state).set(n)
            await metrics.read_timers(app.ctx.timers)
            metrics.undelivered.set((await app.ctx.store.list_entries(settings.undelivered_key, 0))[0]
                                    + (await app.ctx.store.list_entries(settings.dead_events_key, 0))[0]
                                    + (await app.ctx.store.list_entries(f"{settings.redis_prefix}mail:dead", 0))[0])
        except UNAVAILABLE:
            pass  # counters are still worth scraping
        return HTTPResponse(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return app
