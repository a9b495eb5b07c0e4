"""Handoff-service throughput and assignment latency.

Starts a real redis-server and N handoff-service processes, logs in 100 simulated agents (20 in each
of 5 skill groups) with their WebSockets open, then sends escalations (POST /v1/handoffs with the
bot's service token) at a fixed rate, spread over the processes. Prints:
  - escalations per second answered (offered to an agent at once),
  - p50/p99 of the time from sending the POST to the assigned agent's WebSocket receiving `offered`,
  - p50/p99 of the POST's own response time, and the CPU the service processes used.

  ./run bench-handoff-service                     # 1 process, 1,000/s for 10 s
  ./run bench-handoff-service --processes 2
  ./run bench-handoff-service --rate 1500 --seconds 10
  ./run bench-handoff-service --full-loop         # agents also accept and close each chat

By default agents only receive offers (capacity large enough for the whole run), so the figures are
the service's: routing, queueing, the atomic offer, the event stream and the WebSocket push. With
--full-loop every escalation costs three HTTP requests (create, accept, close) and the same two cores
also run the simulated agents.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from tests.handoff.agents import Endpoints, start_agents  # noqa: E402
from tests.handoff.cluster import BOT_TOKEN, Cluster  # noqa: E402
from tests.handoff.test_cluster import GROUPS, request_for  # noqa: E402


def pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def run(cluster: Cluster, args: argparse.Namespace) -> Dict[str, float]:
    endpoints = Endpoints(cluster.urls)
    tokens = {f"{g}-{i}": cluster.login(f"{g}-{i}") for g in GROUPS for i in range(args.agents // len(GROUPS))}
    received: Dict[str, float] = {}
    sent: Dict[str, float] = {}
    answered: Dict[str, float] = {}
    statuses: Dict[int, int] = {}

    def on_offer(_agent: str, event: Dict, at: float) -> None:
        received.setdefault(event["conversation_id"], at)

    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        team, runners = await start_agents(session, endpoints, tokens, accept=args.full_loop, close=args.full_loop,
                                           on_event=on_offer)
        headers = {"Authorization": f"Bearer {BOT_TOKEN}", "Content-Type": "application/json"}
        import json
        bodies = {}

        async def one(cid: str, group: str, base: str) -> None:
            body = bodies.pop(cid)
            sent[cid] = time.perf_counter()
            try:
                async with session.post(base + "/v1/handoffs", data=body, headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
            except aiohttp.ClientError:
                statuses[0] = statuses.get(0, 0) + 1
            answered[cid] = time.perf_counter()

        async def phase(prefix: str, rate: float, seconds: float) -> float:
            total = int(rate * seconds)
            for i in range(total):
                bodies[f"{prefix}-{i}"] = json.dumps(request_for(GROUPS[i % 5], f"{prefix}-{i}"))
            tasks = []
            start = time.perf_counter()
            for i in range(total):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(one(f"{prefix}-{i}", GROUPS[i % 5], cluster.urls[i % len(cluster.urls)])))
            await asyncio.gather(*tasks)
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline and sum(1 for k in received if k.startswith(prefix)) < total:
                await asyncio.sleep(0.05)
            return start

        print(f"warm-up: {args.rate / 10:.0f}/s for 1 s", flush=True)
        await phase("warm", args.rate / 10, 1.0)
        procs = [psutil.Process(p.pid) for p in cluster.services]
        cpu_before = [p.cpu_times() for p in procs]
        statuses.clear()
        print(f"measuring: {args.rate:.0f}/s for {args.seconds:.0f} s over {len(cluster.urls)} process(es)", flush=True)
        start = await phase("run", args.rate, args.seconds)
        cpu_after = [p.cpu_times() for p in procs]
        for a in team:
            await a.stop()
        for r in runners:
            r.cancel()

    ids = [k for k in sent if k.startswith("run-")]
    last_answer = max(answered[k] for k in ids)
    latency = [(received[k] - sent[k]) * 1000 for k in ids if k in received]
    response = [(answered[k] - sent[k]) * 1000 for k in ids]
    cpu = sum((a.user + a.system) - (b.user + b.system) for a, b in zip(cpu_after, cpu_before))
    elapsed = last_answer - start
    return {"sent": len(ids), "created_201": statuses.get(201, 0), "errors": len(ids) - statuses.get(201, 0),
            "offered": len(latency), "rate": len(ids) / elapsed, "elapsed": elapsed,
            "p50": statistics.median(latency) if latency else float("nan"), "p99": pct(latency, 99),
            "max": max(latency) if latency else float("nan"),
            "resp_p50": statistics.median(response), "resp_p99": pct(response, 99),
            "cpu_per_escalation_ms": cpu / len(ids) * 1000, "cpu_cores": cpu / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0, help="escalations per second to send")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--full-loop", action="store_true", help="agents accept and close every chat")
    args = parser.parse_args()
    if args.agents % len(GROUPS):
        parser.error(f"--agents must be a multiple of {len(GROUPS)}")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="bench-handoff-") as tmp:
        capacity = 5 if args.full_loop else int(args.rate * (args.seconds + 2) / args.agents * 2) + 10
        cluster = Cluster(Path(tmp), HANDOFF_RESERVATION_SECONDS="600", HANDOFF_SWEEP_SECONDS="1")
        try:
            print(f"starting redis and {args.processes} handoff-service process(es)", flush=True)
            cluster.start_redis()
            cluster.add_agents([{"id": f"{g}-{i}", "skills": [g], "max_chats": capacity}
                                for g in GROUPS for i in range(args.agents // len(GROUPS))])
            for _ in range(args.processes):
                cluster.start_service()
            result = asyncio.run(run(cluster, args))
        finally:
            cluster.stop()
    mode = "full loop (accept + close)" if args.full_loop else "offers"
    print(f"\nhandoff service, {args.processes} process(es), {args.agents} agents, {mode}")
    print(f"  sent {result['sent']} at {args.rate:.0f}/s: {result['created_201']} created (201), "
          f"{result['errors']} other answers, {result['offered']} offers received on agents' WebSockets")
    print(f"  sustained: {result['rate']:.0f} escalations/s ({result['elapsed']:.1f} s from first send to last answer)")
    print(f"  POST -> agent WebSocket: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms")
    print(f"  POST response time:      p50 {result['resp_p50']:.1f} ms, p99 {result['resp_p99']:.1f} ms")
    print(f"  service CPU: {result['cpu_per_escalation_ms']:.2f} ms per escalation, "
          f"{result['cpu_cores']:.2f} cores busy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
