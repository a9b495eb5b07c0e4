"""This process's WebSocket clients (the agents' consoles) and the delivery of the store's events to them, plus
the origin check a browser's WebSocket must pass (handoff/api/stream.py opens the stream)."""
from __future__ import annotations

import asyncio
from typing import Dict, List, Optional, Sequence, Set
from urllib.parse import urlsplit

import ujson
from sanic import Request

from handoff.auth import Caller
from handoff.store import Event


class Hub:
    """This process's WebSocket clients, and the delivery of store events to them."""

    QUEUE = 1000  # events buffered per client; a client that falls further behind is disconnected

    def __init__(self) -> None:
        self.agents: Dict[str, Set[asyncio.Queue]] = {}
        self.supervisors: Set[asyncio.Queue] = set()
        self.callers: Dict[asyncio.Queue, Caller] = {}
        self.skills: Dict[asyncio.Queue, Set[str]] = {}  # the groups each connection's agent is in (ticket events)

    def add(self, caller: Caller, skills: Sequence[str] = ()) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.QUEUE)
        self.callers[q] = caller
        self.skills[q] = set(skills)
        self.agents.setdefault(caller.agent_id or "", set()).add(q)
        if caller.is_supervisor:
            self.supervisors.add(q)
        return q

    def remove(self, caller: Caller, q: asyncio.Queue) -> None:
        queues = self.agents.get(caller.agent_id or "", set())
        queues.discard(q)
        if not queues:
            self.agents.pop(caller.agent_id or "", None)
        self.supervisors.discard(q)
        self.callers.pop(q, None)
        self.skills.pop(q, None)

    def close(self, agent_id: str, code: int, message: str, jti: Optional[str] = None) -> None:
        """Close the agent's WebSockets (only the one opened with token ``jti``, if given): their handlers
        send an error with ``code`` and close with it."""
        for q in list(self.agents.get(agent_id, ())):
            if jti is not None and self.callers.get(q, Caller("agent")).jti != jti:
                continue
            while not q.empty():  # nothing more for a session that is over
                q.get_nowait()
            q.put_nowait(Closing(code, message))

    def present(self) -> List[str]:
        """Agents with a WebSocket open on this process."""
        return [agent_id for agent_id, queues in self.agents.items() if queues and agent_id]

    def deliver(self, event: Event) -> None:
        targets: Set[asyncio.Queue] = set(self.supervisors)
        for agent_id in event.to:
            targets.update(self.agents.get(agent_id, ()))
        groups = set(event.data.get("groups") or ()) if event.data.get("type") == "ticket" else set()
        if groups:  # a ticket's change concerns its teams: everyone in them sees their queues move
            targets.update(q for q, skills in self.skills.items() if skills & groups)
        if not targets:
            return
        payload = ujson.dumps({**event.data, "event_id": event.id})
        for q in targets:
            try:
                q.put_nowait(payload)
            except asyncio.QueueFull:  # its handler closes the connection once the queue drains
                q._overflowed = True  # type: ignore[attr-defined]


class Closing:
    """Put on a WebSocket client's queue: its handler sends the error and closes the connection."""

    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message


def own_origin(request: Request) -> str:
    """The origin a page served by this service has, as its browser would send it in ``Origin``. Behind a
    proxy, X-Forwarded-Proto / X-Forwarded-Host say what the browser saw; trusting them is safe here,
    since a browser's WebSocket cannot set them and a non-browser client can leave out Origin anyway."""
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto not in ("http", "https"):
        proto = "https" if request.scheme in ("https", "wss") else "http"
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip() or request.host
    return f"{proto}://{host.lower()}"


def origin_allowed(origin: str, request: Request, allowed: Sequence[str]) -> bool:
    """Cross-site WebSocket hijacking guard: a browser sends Origin with every WebSocket, and a page of
    another site must not open an agent's event stream (it would carry the agent's token it talked the
    agent into sending, or, with cookies, ride on them)."""
    parts = urlsplit(origin.strip().lower())
    normal = f"{parts.scheme}://{parts.netloc}"
    return normal == own_origin(request) or normal in allowed
