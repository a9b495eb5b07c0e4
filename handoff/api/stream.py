"""The agent console's WebSocket (``/v1/agents/me/stream``): checks the origin and the token, sends a snapshot of
the agent and their chats, then pushes the events that concern them (handoff/hub.py) until the session ends. An
open stream is what keeps an agent present (handoff/routing/presence.py)."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Optional

from sanic import Request, Sanic

from handoff.api.helpers import UNAVAILABLE
from handoff.auth import Forbidden, Unauthorized, caller_from_header, caller_from_token
from handoff.hub import Closing, Hub, origin_allowed
from handoff.metrics import Metrics
from handoff.settings import Settings

log = logging.getLogger("handoff")


def register(app: Sanic, settings: Settings, hub: Hub, metrics: Metrics) -> None:
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
