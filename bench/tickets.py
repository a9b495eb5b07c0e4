"""Ticket operations against the running handoff service, each beside its live-chat counterpart.

Starts a real redis-server and 1, then 2 handoff-service processes (a fresh Redis for each), and drives each
operation with N concurrent clients (closed loop: a client sends its next request when the last is answered),
spread over the processes, for a fixed time. Each ticket operation is measured in slices alternating with the
escalation operation it corresponds to, in the same run, on the same processes, with the same clients, so the
figure to read is the ratio between them (this machine's speed and its other load cancel out):

  ticket create  POST /v1/tickets (bot token, request key)       vs  handoff create  POST /v1/handoffs (bot)
  ticket claim   POST /v1/tickets/{label}/claim (agent)           vs  handoff accept  POST /v1/handoffs/{id}/accept
  ticket reply   POST /v1/tickets/{label}/replies (the assignee)  vs  handoff message POST /v1/handoffs/{id}/messages

Both sides of each pair are one authenticated JSON POST that makes one atomic change in Redis (WATCH/MULTI
or a Lua script) and writes an event. GET /health (no Redis write, no auth) is the floor: what the HTTP stack
alone costs on this machine. An escalation is offered to one online agent (its WebSocket open) at once, as
in production; a ticket is created unassigned, claimed by one of 20 agents, then answered by them.

  ./run bench-tickets                            # 1 and 2 processes, 32 clients, 2 s per operation
  ./run bench-tickets --processes 2 --clients 64 --seconds 5
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable, Dict, List, Optional, Tuple

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]

import aiohttp  # noqa: E402

from tests.handoff.agents import Endpoints, start_agents  # noqa: E402
from tests.handoff.cluster import BOT_TOKEN, Cluster  # noqa: E402
from tests.handoff.requests import handoff_request  # noqa: E402

TICKET_AGENTS = [f"tech-{i:02d}" for i in range(20)]
CHAT_AGENT = "chat-00"  # takes every chat (capacity large enough for the whole run)
PAIRS = [("create", "handoff create", "ticket create"), ("take", "handoff accept", "ticket claim"),
         ("answer", "handoff message", "ticket reply")]


@dataclass
class Phase:
    name: str
    ok: int = 0
    statuses: Dict[int, int] = field(default_factory=dict)
    latencies: List[float] = field(default_factory=list)  # ms, answered 2xx
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300)


# (session, process URL, request number) -> (HTTP status, body); None: nothing left to do (a pool ran dry)
Send = Callable[[aiohttp.ClientSession, str, int], Awaitable[Optional[Tuple[int, Optional[Dict]]]]]


async def closed_loop(session: aiohttp.ClientSession, urls: List[str], phase: Phase, send: Send, clients: int,
                      seconds: float) -> None:
    """``clients`` workers, each sending its next request when the last is answered, for ``seconds`` (or until
    ``send`` has nothing left); request i goes to process i mod len(urls). Adds to ``phase``."""
    counter = [0]
    start = time.perf_counter()
    end = start + seconds

    async def worker() -> None:
        while time.perf_counter() < end:
            i = counter[0]
            counter[0] += 1
            t0 = time.perf_counter()
            try:
                answer = await send(session, urls[i % len(urls)], i)
            except aiohttp.ClientError:
                answer = (0, None)
            if answer is None:
                return
            status = answer[0]
            phase.statuses[status] = phase.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                phase.ok += 1
                phase.latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(worker() for _ in range(clients)))
    phase.elapsed += time.perf_counter() - start


async def post(session: aiohttp.ClientSession, url: str, token: str, body: Optional[Dict] = None,
               keep: bool = False) -> Tuple[int, Optional[Dict]]:
    async with session.post(url, data=json.dumps(body) if body is not None else None,
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as r:
        data = await r.read()
        return r.status, (json.loads(data) if keep and r.status < 300 else None)


async def measure(cluster: Cluster, clients: int, seconds: float, rounds: int) -> Dict[str, Phase]:
    """Every operation for ``seconds``, in ``rounds`` slices: each ticket operation alternates with its live-chat
    counterpart (which goes first alternates too), so both see the same background load."""
    urls = cluster.urls
    tokens = {a: cluster.login(a) for a in [*TICKET_AGENTS, CHAT_AGENT]}
    offered: List[str] = []  # escalations offered to CHAT_AGENT, not accepted yet
    new: List[str] = []  # tickets nobody has claimed yet
    claimed: List[Tuple[str, str]] = []  # (label, agent)
    accepted: List[str] = []
    run = f"{time.time_ns():x}"
    serial = itertools.count()  # request keys and conversations never repeat (a repeat is answered 200, not made)

    async def health(s: aiohttp.ClientSession, url: str, _i: int):
        async with s.get(url + "/health") as r:
            await r.read()
            return r.status, None

    async def handoff_create(s: aiohttp.ClientSession, url: str, _i: int):
        status, body = await post(s, url + "/v1/handoffs", BOT_TOKEN,
                                  handoff_request(f"bench-{run}-{next(serial)}", "general", topics=[]), keep=True)
        if body and body["status"] == "offered":
            offered.append(body["id"])
        elif body:
            status = 299  # answered, but not offered to the agent: counted apart (see the statuses)
        return status, body

    async def ticket_create(s: aiohttp.ClientSession, url: str, i: int):
        status, body = await post(s, url + "/v1/tickets", BOT_TOKEN, {
            "subject": f"bench {i}", "skill_group": "technical", "request_key": f"bench-{run}-{next(serial)}",
            "requester": {"customer_id": f"c-{i}", "channel": "api"}}, keep=True)
        if body:
            new.append(body["label"])
        return status, body

    async def handoff_accept(s: aiohttp.ClientSession, url: str, _i: int):
        if not offered:
            return None
        escalation = offered.pop()
        status, _ = await post(s, f"{url}/v1/handoffs/{escalation}/accept", tokens[CHAT_AGENT])
        if status == 200:
            accepted.append(escalation)
        return status, None

    async def ticket_claim(s: aiohttp.ClientSession, url: str, i: int):
        if not new:
            return None
        label, agent = new.pop(), TICKET_AGENTS[i % len(TICKET_AGENTS)]
        status, _ = await post(s, f"{url}/v1/tickets/{label}/claim", tokens[agent])
        if status == 200:
            claimed.append((label, agent))
        return status, None

    async def handoff_message(s: aiohttp.ClientSession, url: str, i: int):
        return await post(s, f"{url}/v1/handoffs/{accepted[i % len(accepted)]}/messages", tokens[CHAT_AGENT],
                          {"text": f"answer {i}"})

    async def ticket_reply(s: aiohttp.ClientSession, url: str, i: int):
        label, agent = claimed[i % len(claimed)]
        return await post(s, f"{url}/v1/tickets/{label}/replies", tokens[agent], {"text": f"answer {i}"})

    sends: Dict[str, Send] = {"health": health, "handoff create": handoff_create, "ticket create": ticket_create,
                              "handoff accept": handoff_accept, "ticket claim": ticket_claim,
                              "handoff message": handoff_message, "ticket reply": ticket_reply}
    connector = aiohttp.TCPConnector(limit=clients + 20)
    async with aiohttp.ClientSession(connector=connector) as session:
        team, runners = await start_agents(session, Endpoints(urls), {CHAT_AGENT: tokens[CHAT_AGENT]},
                                           accept=False, close=False)
        for name, send in sends.items():  # warm-up, not counted: connections, first-use code paths
            await closed_loop(session, urls, Phase(name), send, clients, 0.3)
        out = {name: Phase(name) for name in sends}
        for r in range(rounds):
            await closed_loop(session, urls, out["health"], health, clients, seconds / rounds)
        for pair, chat, ticket in PAIRS:
            if pair == "take":  # more to take than the creations measured made (not counted)
                await closed_loop(session, urls, Phase("more"), handoff_create, clients, seconds)
                await closed_loop(session, urls, Phase("more"), ticket_create, clients, seconds)
            for r in range(rounds):
                for name in ((chat, ticket) if r % 2 == 0 else (ticket, chat)):
                    await closed_loop(session, urls, out[name], sends[name], clients, seconds / rounds)
        for a in team:
            await a.stop()
        for runner in runners:
            runner.cancel()
    return out


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs (nproc), {model}; load average before the run {load}"


def table(results: Dict[int, Dict[str, Phase]]) -> str:
    """Markdown: one row per operation and process count; the ratio to the live-chat counterpart."""
    lines = ["| processes | operation | ops/s | p50 ms | p99 ms | non-2xx | ticket / live chat |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for n, phases in results.items():
        floor = phases["health"]
        lines.append(f"| {n} | GET /health (floor) | {floor.rate:,.0f} | {floor.pct(50):.1f} | {floor.pct(99):.1f} "
                     f"| {floor.errors} | |")
        for _, chat, ticket in PAIRS:
            c, t = phases[chat], phases[ticket]
            lines.append(f"| {n} | {chat} | {c.rate:,.0f} | {c.pct(50):.1f} | {c.pct(99):.1f} | {c.errors} | |")
            ratio = t.rate / c.rate if c.rate else float("nan")
            lines.append(f"| {n} | {ticket} | {t.rate:,.0f} | {t.pct(50):.1f} | {t.pct(99):.1f} | {t.errors} "
                         f"| **{ratio:.2f}x** ops/s |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts, each on a fresh Redis")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (closed loop)")
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per operation")
    parser.add_argument("--rounds", type=int, default=4, help="slices per operation, alternating with its pair")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(x) for x in args.processes.split(",") if x.strip()]
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    started = datetime.now(timezone.utc)
    about = machine()
    results: Dict[int, Dict[str, Phase]] = {}
    for n in counts:
        with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
            cluster = Cluster(Path(tmp), HANDOFF_RESERVATION_SECONDS="600", HANDOFF_SWEEP_SECONDS="1")
            try:
                print(f"starting redis and {n} handoff-service process(es)", flush=True)
                cluster.start_redis()
                cluster.add_agents([{"id": a, "skills": ["technical"], "max_chats": 3} for a in TICKET_AGENTS]
                                   + [{"id": CHAT_AGENT, "skills": ["general"], "max_chats": 1_000_000}])
                for _ in range(n):
                    cluster.start_service()
                print(f"measuring: {args.clients} clients, {args.seconds:g} s per operation", flush=True)
                results[n] = asyncio.run(measure(cluster, args.clients, args.seconds, args.rounds))
            finally:
                cluster.stop()
    print(f"\nticket operations beside their live-chat counterparts; {args.clients} concurrent clients, "
          f"{args.seconds:g} s each in {args.rounds} slices alternating with its pair, on the same machine as "
          f"the service")
    print(f"{started:%Y-%m-%d %H:%M} UTC, {about}, Python {platform.python_version()}\n")
    print(table(results))
    odd = {f"{n} {p.name}": p.statuses for n, ph in results.items() for p in ph.values() if p.errors}
    if odd:
        print(f"\nanswers other than 2xx (status: count; 0 = connection failed, 299 = handoff not offered): {odd}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": started.isoformat(), "machine": about, "clients": args.clients, "seconds": args.seconds,
            "results": {n: {p.name: {"ops_s": p.rate, "p50_ms": p.pct(50), "p99_ms": p.pct(99), "ok": p.ok,
                                     "statuses": p.statuses, "elapsed_s": p.elapsed} for p in ph.values()}
                        for n, ph in results.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
