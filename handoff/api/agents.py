"""The agents' and supervisors' HTTP routes (documented in handoff/openapi.yml): log in and out, one's own status
and chats, the queues, the names the pages show (``/v1/meta``), and for supervisors every agent, the day's
statistics, what could not be delivered, and disabling, enabling or removing an account.
Thin: who calls and the body (handoff/api/helpers.py), then handoff/service.py and handoff/sessions.py."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from common.language_rules import parse_languages
from common.routing import SkillGroups
from handoff.account_steps import LoginLimits
from handoff.api.helpers import UNAVAILABLE, Requests, TooManyAttempts
from handoff.auth import ROLES, Caller, Forbidden, Unauthorized, check_password, issue_token, new_epoch
from handoff.settings import Settings
from handoff.store import Conflict
from handoff.views import iso

log = logging.getLogger("handoff")


def register(app: Sanic, r: Requests, settings: Settings, groups: SkillGroups, canned: List[Dict[str, Any]]) -> None:
    login_limits = LoginLimits(settings.login_max_failures_per_agent, settings.login_max_failures_per_address,
                               settings.login_window_seconds)

    @app.get("/v1/queues")
    async def queues(request: Request) -> HTTPResponse:
        r.caller(request)
        return json_response({"queues": await app.ctx.surge.view(await app.ctx.service.queues())})

    @app.get("/v1/meta")
    async def meta(request: Request) -> HTTPResponse:
        r.agent(request)
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
        r.supervisor(request)
        return json_response({"agents": await app.ctx.service.agents()})

    @app.get("/v1/stats/today")
    async def stats_today(request: Request) -> HTTPResponse:
        r.supervisor(request)
        return json_response(await app.ctx.service.stats_today(settings.conversations_key))

    @app.get("/v1/undelivered")
    async def undelivered(request: Request) -> HTTPResponse:
        r.supervisor(request)
        return json_response(await app.ctx.service.undelivered(settings.undelivered_key, settings.dead_events_key,
                                                               dead_mail_key=f"{settings.redis_prefix}mail:dead"))

    @app.post("/v1/agents/login")
    async def login(request: Request) -> HTTPResponse:
        data = r.body(request, "LoginIn")
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

    # -- sessions and accounts: logout, disable, enable, remove ------------------------------------
    @app.post("/v1/agents/logout")
    async def logout(request: Request) -> HTTPResponse:
        await app.ctx.service.logout(r.agent(request))
        return HTTPResponse(status=204)

    def other_agent(request: Request, agent_id: str) -> Caller:
        c = r.supervisor(request)
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
        return json_response(await app.ctx.service.agent_view(r.agent(request).agent_id))

    @app.put("/v1/agents/me/status")
    async def set_status(request: Request) -> HTTPResponse:
        c = r.agent(request)
        data = r.body(request, "StatusIn")
        await app.ctx.service.set_status(c.agent_id, data["status"])
        return json_response(await app.ctx.service.agent_view(c.agent_id))

    @app.get("/v1/agents/me/handoffs")
    async def my_handoffs(request: Request) -> HTTPResponse:
        return json_response({"handoffs": await app.ctx.service.my_handoffs(r.agent(request).agent_id)})
