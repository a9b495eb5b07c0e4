"""Simulated agents and a bot client for integration tests and benchmarks: real HTTP and WebSocket
against one or more service processes, with retries that ride out a dead process or a Redis restart."""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set

import aiohttp

RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError)


class Endpoints:
    """The service processes' base URLs; callers rotate past the ones that fail."""

    def __init__(self, urls: List[str]) -> None:
        self.urls = list(urls)
        self._i = 0

    def next(self) -> str:
        self._i = (self._i + 1) % len(self.urls)
        return self.urls[self._i]


async def call(session: aiohttp.ClientSession, endpoints: Endpoints, method: str, path: str,
               token: str, body: Optional[Dict[str, Any]] = None, deadline_s: float = 60.0,
               base: Optional[str] = None) -> tuple:
    """(status, json) of the first answer that is not a connection failure or a 503; retried until the deadline."""
    give_up = time.monotonic() + deadline_s
    url = base or endpoints.next()
    while True:
        try:
            async with session.request(method, url + path, json=body,
                                       headers={"Authorization": f"Bearer {token}"},
                                       timeout=aiohttp.ClientTimeout(total=10)) as r:
                if r.status != 503:
                    return r.status, await r.json()
        except RETRYABLE:
            pass
        if time.monotonic() > give_up:
            raise TimeoutError(f"{method} {path}: no answer within {deadline_s} s")
        url = endpoints.next()
        await asyncio.sleep(0.1)


class SimulatedAgent:
    """Keeps a WebSocket open (reconnecting to any process), accepts every offer, optionally holds the
    chat for ``hold`` seconds and closes it. Records what it accepted and when offers arrived."""

    def __init__(self, agent_id: str, token: str, endpoints: Endpoints, session: aiohttp.ClientSession,
                 hold: Callable[[], float] = lambda: 0.0, accept: bool = True, close: bool = True,
                 on_event: Optional[Callable[[str, Dict[str, Any], float], None]] = None) -> None:
        self.id = agent_id
        self.token = token
        self.endpoints = endpoints
        self.session = session
        self.hold = hold
        self.accept = accept
        self.close = close
        self.on_event = on_event
        self.accepted: List[str] = []
        self.closed: List[str] = []
        self.handling: Set[str] = set()
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._tasks: Set[asyncio.Task] = set()
        self._stopped = False

    async def run(self) -> None:
        while not self._stopped:
            base = self.endpoints.next()
            try:
                async with self.session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream",
                                                   headers={"Authorization": f"Bearer {self.token}"},
                                                   heartbeat=5) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        event = json.loads(msg.data)
                        received = time.perf_counter()
                        if event["type"] == "snapshot":
                            self.connected.set()
                            for h in event["handoffs"]:
                                self._start(h["id"], h["status"])
                        elif event["type"] == "offered" and event.get("agent") == self.id:
                            if self.on_event:
                                self.on_event(self.id, event, received)
                            self._start(event["escalation"], "offered")
            except RETRYABLE:
                pass
            if not self._stopped:
                self.reconnects += 1
                self.connected.clear()
                await asyncio.sleep(0.2)

    def _start(self, escalation_id: str, status: str) -> None:
        # A snapshot sent on reconnecting may list a chat this agent is finishing right now.
        if escalation_id in self.handling or escalation_id in self.closed or not self.accept:
            return
        self.handling.add(escalation_id)
        task = asyncio.ensure_future(self._handle(escalation_id, status))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _status_of(self, escalation_id: str) -> Dict[str, Any]:
        _, record = await call(self.session, self.endpoints, "GET", f"/v1/handoffs/{escalation_id}", self.token)
        return record

    async def _handle(self, escalation_id: str, status: str) -> None:
        try:
            if status == "offered":
                code, _ = await call(self.session, self.endpoints, "POST", f"/v1/handoffs/{escalation_id}/accept",
                                     self.token)
                if code == 409:  # maybe our own earlier try went through before the connection broke
                    record = await self._status_of(escalation_id)
                    if not (record.get("status") == "assigned" and record.get("agent_id") == self.id):
                        return  # the offer expired and went elsewhere
                elif code != 200:
                    return
                if escalation_id not in self.accepted:  # a retry after a lost answer is not a second accept
                    self.accepted.append(escalation_id)
            if not self.close:
                return
            await asyncio.sleep(self.hold())
            code, _ = await call(self.session, self.endpoints, "POST", f"/v1/handoffs/{escalation_id}/close",
                                 self.token, {"resolved": True, "wrap_up": "answered"})
            if code == 409:
                record = await self._status_of(escalation_id)
                if record.get("status") != "closed":
                    return
            elif code != 200:
                return
            if escalation_id not in self.closed:
                self.closed.append(escalation_id)
        finally:
            self.handling.discard(escalation_id)

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()


async def start_agents(session: aiohttp.ClientSession, endpoints: Endpoints, tokens: Dict[str, str],
                       **kwargs: Any) -> tuple:
    """Agents online with their WebSockets connected: (agents, runner tasks)."""
    agents = [SimulatedAgent(agent_id, token, endpoints, session, **kwargs) for agent_id, token in tokens.items()]
    runners = [asyncio.ensure_future(a.run()) for a in agents]
    await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 30)
    for a in agents:
        code, body = await call(session, endpoints, "PUT", "/v1/agents/me/status", a.token, {"status": "online"})
        assert code == 200, body
    return agents, runners


def random_hold(low: float, high: float) -> Callable[[], float]:
    return lambda: random.uniform(low, high)


def count_by(items: List[str]) -> Dict[str, int]:
    out: Dict[str, int] = defaultdict(int)
    for item in items:
        out[item] += 1
    return out


async def gather_limited(coros: List[Awaitable[Any]], limit: int) -> List[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with semaphore:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))
