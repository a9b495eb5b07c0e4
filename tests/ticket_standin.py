"""A small real HTTP server standing in for the handoff service's ticket endpoints (handoff/tickets/openapi.yml), for
the bot's side of tickets: it records every request (method, path, query, body, token) and answers what the
test scripted, or the contract's default answer."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from tests.conftest import free_port

TICKET = {"id": "6f1c0a", "number": 10042, "label": "T-10042", "state": "open", "group": "technical",
          "subject": "Blender E4", "due_at": "2026-12-07T05:00:00Z", "due_local": "2026-12-07 13:00",
          "timezone": "Asia/Shanghai", "updated_at": "2026-12-06T05:00:00Z"}


class TicketStandIn:
    """``answers[(method, path)] = (status, body)`` overrides the default answer of that route."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: List[Dict[str, Any]] = []
        self.answers: Dict[Tuple[str, str], Tuple[int, Any]] = {}
        self.tickets: List[Dict[str, Any]] = [dict(TICKET)]
        self.runner: Optional[web.AppRunner] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.received.append({"method": request.method, "path": request.path, "query": dict(request.query),
                              "body": body, "auth": request.headers.get("Authorization")})
        scripted = self.answers.get((request.method, request.path))
        if scripted is not None:
            status, answer = scripted
            return web.json_response(answer, status=status)
        if request.path == "/v1/tickets/lookup":
            return web.json_response({"tickets": self.tickets})
        if request.path.endswith("/leave_message"):
            escalation = request.path.split("/")[3]
            return web.json_response({"id": escalation, "status": "ticket", "ticket": dict(TICKET)})
        if request.path.endswith("/customer_messages"):
            return web.json_response({**TICKET, "state": "open"})
        return web.json_response({"error": {"code": "not_found", "message": request.path}}, status=404)

    async def start(self) -> "TicketStandIn":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def requests(self, path_end: str) -> List[Dict[str, Any]]:
        return [r for r in self.received if r["path"].endswith(path_end)]
