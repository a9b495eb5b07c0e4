"""Timer throughput and lateness: N timers due within a minute, fired by 2 timer-runner processes over one real
redis-server, beside what raw Redis does with the same N entries on the same server in the same run.

The runners are real processes (``python -m handoff.clocks.drill run``: a TimerRunner with the service's defaults,
lease 30 s, batch 500, poll 0.2 s, 64 handlers at once), each firing ``drill`` timers whose handler records the
firing as an event; each completion is one Lua script (lease check, event written, timer deleted). Lateness is
the completion time (the event's stream id: Redis's clock at the write) minus the due time. Phases, each on a key
prefix of its own:

  spread    N timers due evenly over S seconds (from a few seconds after the runners are ready): lateness
            p50/p90/p99/max under a steady load of N/S timers a second
  burst     the same N timers all due at once: throughput (timers a second, first due to last completion)
  baseline  the same N members in a plain sorted set, popped one by one by one client with ZPOPMIN (one round trip
            each, no lease, no event, no handler): raw Redis; the burst's ratio to it is the figure to read

  ./run bench-timers                          # 10,000 timers over 60 s (about 1.5 min)
  ./run bench-timers --timers 2000 --spread 10  # the quick check (about 20 s)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import redis.asyncio as aioredis

from handoff.clocks import drill
from handoff.redis_store import RedisStore
from tests.handoff.cluster import Cluster

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs (nproc), {model}; load average before the run {load}"


def start_runners(url: str, prefix: str, processes: int) -> List[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-m", "handoff.clocks.drill", "run", "--redis-url", url, "--prefix",
                               prefix, "--lease", "30", "--until-empty"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    for p in procs:
        line = p.stdout.readline() if p.stdout else ""
        if not line.startswith("ready"):
            raise RuntimeError(f"a runner did not start: {line!r}")
    return procs


def finish(procs: List[subprocess.Popen], timeout: float) -> List[Dict[str, Any]]:
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"a runner failed (exit {p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


async def phase(url: str, prefix: str, timers: int, spread: float, processes: int) -> Dict[str, Any]:
    store = RedisStore.from_url(url, prefix)
    try:
        first_due = await drill.schedule(store, timers, spread, start_in=8.0)
        procs = start_runners(url, prefix, processes)
        ready = await store.timer_now()
        if ready > first_due:
            print(f"  warning: runners ready {ready - first_due:.1f} s after the first due time", flush=True)
        runs = finish(procs, timeout=spread + 600)
        result = await drill.check(store)
    finally:
        await store.close()
    if (result["fired"], result["duplicates"], result["left"]) != (timers, 0, 0):
        raise RuntimeError(f"not exactly once: {result}")
    result["elapsed"] = result["last_done"] - first_due
    result["rate"] = timers / max(result["elapsed"], 1e-9)
    result["per_process"] = [r["completed"] for r in runs]
    return result


async def baseline(url: str, key: str, timers: int) -> Dict[str, float]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        for chunk in range(0, timers, 1000):
            await r.zadd(key, {f"drill:b:{i:06d}": float(i) for i in range(chunk, min(timers, chunk + 1000))})
        popped, started = 0, time.perf_counter()
        while await r.zpopmin(key):
            popped += 1
        elapsed = time.perf_counter() - started
    finally:
        await r.close()
    assert popped == timers
    return {"elapsed": elapsed, "rate": popped / elapsed}


def report(args: argparse.Namespace, spread: Dict[str, Any], burst: Dict[str, Any], base: Dict[str, float]) -> None:
    def late(r: Dict[str, Any]) -> str:
        lt = r["lateness"]
        return f"p50 {lt['p50'] * 1000:.0f} ms, p90 {lt['p90'] * 1000:.0f} ms, p99 {lt['p99'] * 1000:.0f} ms, " \
               f"max {lt['max'] * 1000:.0f} ms"

    print(f"\n{args.timers:,} timers, {args.processes} runner processes, one redis-server; each fired exactly once "
          "in every phase (distinct keys = timers, no duplicate, none left)")
    print(f"  spread over {args.spread:g} s ({args.timers / args.spread:.0f}/s due): lateness {late(spread)}; "
          f"done {spread['elapsed']:.1f} s after the first due; per process {spread['per_process']}")
    print(f"  burst (all due at once): {burst['rate']:,.0f} timers/s ({burst['elapsed']:.2f} s for all); "
          f"lateness {late(burst)}; per process {burst['per_process']}")
    print(f"  baseline, raw Redis ZPOPMIN loop of one client: {base['rate']:,.0f} pops/s ({base['elapsed']:.2f} s)")
    print(f"  ratio burst / baseline: {burst['rate'] / base['rate']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timers", type=int, default=10_000)
    ap.add_argument("--spread", type=float, default=60.0, help="seconds the spread phase's due times cover")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    if args.timers < 1 or args.spread <= 0 or args.processes < 1:
        ap.error("--timers and --processes must be >= 1, --spread > 0")
    started = datetime.now(timezone.utc)
    print(f"{started:%Y-%m-%d %H:%M} UTC, {machine()}, Python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        cluster = Cluster(Path(tmp))
        cluster.start_redis()
        try:
            print(f"spread phase: {args.timers:,} timers due over {args.spread:g} s ...", flush=True)
            spread = asyncio.run(phase(cluster.redis_url, "{bt1}:", args.timers, args.spread, args.processes))
            print(f"burst phase: {args.timers:,} timers due at once ...", flush=True)
            burst = asyncio.run(phase(cluster.redis_url, "{bt2}:", args.timers, 0.0, args.processes))
            print("baseline: ZPOPMIN loop ...", flush=True)
            base = asyncio.run(baseline(cluster.redis_url, "{bt3}:zset", args.timers))
        finally:
            cluster.stop_redis()
    report(args, spread, burst, base)


if __name__ == "__main__":
    main()
