"""Latency benchmark: per-message latency and throughput through the REST channel.

    ./run bench-latency [--concurrency 1 10 50] [--turns 8] [--url http://127.0.0.1:5005]

Without --url it starts the whole stack itself (embedded Redis on a free port, the action server and
Rasa) exactly as ./run does, and reports seconds from start to ready and each process's memory.
Each simulated customer holds a scripted multi-turn conversation (FAQ, follow-up, order-status form).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp
import psutil

from bot.identity import SECRET_ENV, sign

SCRIPT = [
    "hi",
    "how long does shipping take?",
    "what if my parcel is late?",
    "where is my order?",
    "10234568",
    "ben.keller@example.com",  # the guest proves the order (actions/ownership.py)
    "how do I get an invoice?",
    "can I pay with paypal?",
    "thanks, bye",
]


def percentile(values: List[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def conversation(session: aiohttp.ClientSession, url: str, turns: int, latencies: List[float]) -> int:
    sender = sign(f"bench-{uuid.uuid4().hex[:12]}")  # a conversation handle (bot/identity.py)
    errors = 0
    for i in range(turns):
        text = SCRIPT[i % len(SCRIPT)]
        t0 = time.perf_counter()
        async with session.post(url, json={"sender": sender, "message": text}) as resp:
            body = await resp.json()
            if resp.status != 200 or not body:
                errors += 1
        latencies.append((time.perf_counter() - t0) * 1000)
    return errors


async def load(url: str, concurrency: int, turns: int) -> Dict[str, float]:
    latencies: List[float] = []
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await conversation(session, url, 2, [])  # warm-up
        t0 = time.perf_counter()
        errors = await asyncio.gather(*(conversation(session, url, turns, latencies) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "messages": len(latencies), "errors": sum(errors),
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "mean_ms": statistics.fmean(latencies),
            "messages_per_s": len(latencies) / wall, "latencies_ms": [round(x, 2) for x in latencies]}


def memory(pids: Dict[str, int]) -> Dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            pass
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--turns", type=int, default=24, help="messages per simulated conversation")
    parser.add_argument("--url", help="a running Rasa server; default: start the stack here")
    parser.add_argument("--out", default="results/bench/latency.json")
    args = parser.parse_args(argv)
    # The stack started here signs conversation handles with this; with --url, export the server's secret.
    os.environ.setdefault(SECRET_ENV, uuid.uuid4().hex + uuid.uuid4().hex)

    stack = None
    result: Dict[str, object] = {}
    if args.url:
        base = args.url.rstrip("/")
    else:
        from bot.settings import Settings
        from bot.processes import free_port
        from bot.supervisor import Stack

        tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
        env = {**os.environ, "RASA_PORT": str(free_port()), "ACTION_PORT": str(free_port()),
               "REDIS_PORT": str(free_port()), "BOT_RUN_DIR": str(tmp / "run"), "BOT_DATA_DIR": str(tmp / "data"),
               "BOT_INTERFACE": "127.0.0.1"}
        env.pop("REDIS_URL", None)
        settings = Settings.from_env(env)
        stack = Stack(settings)
        stack.acquire_lock()
        print("Starting the stack (training first if the data changed)...", flush=True)
        urls = stack.start()
        result["startup_seconds_total"] = float(urls["startup_seconds"])
        result["startup_seconds_services"] = float(urls["services_seconds"])
        print(f"ready: {urls['services_seconds']} s from starting the action server and Rasa to ready", flush=True)
        base = f"http://127.0.0.1:{settings.rasa_port}"
    try:
        url = f"{base}/webhooks/rest/webhook"
        runs = []
        for c in args.concurrency:
            print(f"running {c} concurrent conversation(s) x {args.turns} messages...", flush=True)
            runs.append(asyncio.run(load(url, c, args.turns)))
            r = runs[-1]
            print(f"  p50 {r['p50_ms']:.0f} ms  p95 {r['p95_ms']:.0f} ms  p99 {r['p99_ms']:.0f} ms  "
                  f"{r['messages_per_s']:.1f} msg/s  errors {r['errors']}", flush=True)
        result["runs"] = runs
        if stack is not None:
            result["rss_mb"] = memory({c.name: c.proc.pid for c in stack.children})
    finally:
        if stack is not None:
            stack.stop()

    print("\n| concurrent conversations | messages | p50 ms | p95 ms | p99 ms | messages/s | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in result["runs"]:  # type: ignore[union-attr]
        print(f"| {r['concurrency']} | {r['messages']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} "
              f"| {r['messages_per_s']:.1f} | {r['errors']} |")
    by_level: Dict[int, List[float]] = {}
    for r in result["runs"]:  # type: ignore[union-attr]
        by_level.setdefault(r["concurrency"], []).extend(r["latencies_ms"])
    for level, values in by_level.items():
        if sum(r["concurrency"] == level for r in result["runs"]) > 1:  # type: ignore[union-attr]
            print(f"all runs at {level} concurrent: {len(values)} messages, p50 {percentile(values, 50):.1f} ms, "
                  f"p95 {percentile(values, 95):.1f} ms")
    if "rss_mb" in result:
        print("\nresident memory after the load: " +
              ", ".join(f"{k} {v:.0f} MB" for k, v in result["rss_mb"].items()))  # type: ignore[union-attr]
        print(f"start to ready: {result['startup_seconds_services']:.1f} s for the action server and Rasa "
              f"({result['startup_seconds_total']:.1f} s including Redis and the model check)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
