"""A small real HTTP server standing in for the handoff service: it answers each POST with the next status
scripted for it and records every body it received, in order."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from aiohttp import web

from tests.conftest import free_port

# (path, body) -> the status to answer, or None for the default (201 with an escalation)
Script = Callable[[str, Any], Optional[int]]


class StandIn:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: List[Tuple[str, Any]] = []
        self.port = free_port()
        self.runner: Optional[web.AppRunner] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        self.received.append((request.path, body))
        status = self.script(request.path, body)
        if status is None:
            conversation = body.get("conversation_id", "") if isinstance(body, dict) else ""
            return web.json_response({"id": f"esc-{conversation}", "status": "waiting", "queue_position": 1,
                                      "estimated_wait_seconds": 60, "skill_group": "general"}, status=201)
        return web.Response(status=status, text=f"the service says {status}: try again later")

    async def start(self) -> "StandIn":
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def bodies(self, path: str) -> List[Any]:
        return [b for p, b in self.received if p == path]

    def conversations(self) -> List[str]:
        return [b.get("conversation_id") for p, b in self.received if p == "/v1/handoffs" and isinstance(b, dict)]
