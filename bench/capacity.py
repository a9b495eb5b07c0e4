"""Capacity: how many customers writing at a human pace one setup serves with p95 under 500 ms.

    ./run bench-capacity [--servers N] [--start 10] [--growth 1.5] [--step-seconds 60] [--quick]

Each simulated customer holds bench/latency.py's scripted conversation through the REST channel, waiting a
seeded 5-15 s (--pace) before each message as a person reading and typing would, and starts a new conversation
when the script ends. The number of customers is ramped up in steps (10, 15, 23, ... by --growth); a step passes
when the p95 of the messages sent during it is at most --p95-ms and none failed (HTTP error, refused connection,
or no answer within --timeout). Requests still unanswered at the end of a step count with their age so far, so an
overloaded server cannot hide its slowest messages. The ramp stops at the first failing step; the result is the
last level that passed and the one that failed: the true figure lies between them. Then --refine steps (default
2) bisect that interval: customers leave or join to reach the halfway level, after a 15 s pause.

Targets, one after another in the same run: our stack with 1 Rasa server, with N (RASA_SERVERS, default the
number of cores), and the stock `rasa init` bot (created and trained here). Customers are seeded the same way
for every target. --quick (a message every 2-5 s, 20 s steps, 5 customers doubling up to 40) only checks that
it works; its figures are not capacity figures.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import math
import os
import random
import shutil
import tempfile
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import aiohttp

from bench.client import EMPTY, ERROR, Tally, new_sender, send
from bench.latency import SCRIPT, percentile
from bench.targets import Running, create_stock_bot, our_stack, say, stock_bot
from bench.throughput import machine
from bot.identity import SECRET_ENV


@dataclass
class Step:
    customers: int
    messages: int  # sent during the step (answered, failed, or still waiting at its end)
    messages_per_s: float
    p50_ms: float
    p95_ms: float
    errors: int
    empty: int
    waiting: int  # unanswered at the end of the step, counted with their age
    passed: bool


def levels(start: int, growth: float, maximum: int) -> List[int]:
    """start, start*growth, ... (each at least one more than the last), up to maximum."""
    out = [start]
    while out[-1] < maximum:
        out.append(min(maximum, max(out[-1] + 1, math.ceil(out[-1] * growth))))
    return out


def judge(customers: int, window: Tally, waiting_ages_ms: List[float], seconds: float, p95_ms: float) -> Step:
    """One step's figures and verdict: answered latencies plus the ages of unanswered requests."""
    values = window.latencies() + waiting_ages_ms
    errors = window.count(ERROR)
    p95 = percentile(values, 95) if values else float("inf")
    return Step(customers=customers, messages=len(window.samples) + len(waiting_ages_ms),
                messages_per_s=len(window.samples) / seconds if seconds else 0.0,
                p50_ms=percentile(values, 50) if values else float("inf"), p95_ms=p95, errors=errors,
                empty=window.count(EMPTY), waiting=len(waiting_ages_ms),
                passed=bool(values) and errors == 0 and p95 <= p95_ms)


class Crowd:
    """The customers of one ramp: each a task that paces itself with its own seeded random generator."""

    def __init__(self, session: aiohttp.ClientSession, url: str, seed: int, pace: Tuple[float, float]) -> None:
        self.session, self.url, self.seed, self.pace = session, url, seed, pace
        self.tally = Tally()
        self.waiting: Dict[int, float] = {}  # request number -> monotonic send time
        self.tasks: List["asyncio.Task[None]"] = []
        self._next = 0

    async def customer(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:{index}")
        await asyncio.sleep(rng.uniform(0, self.pace[0]))  # arrivals spread over the first seconds
        while True:
            sender = new_sender("capacity")
            for text in SCRIPT:
                token = self._next
                self._next += 1
                self.waiting[token] = time.monotonic()
                try:
                    await send(self.session, self.url, sender, text, self.tally)
                finally:
                    del self.waiting[token]
                await asyncio.sleep(rng.uniform(*self.pace))

    def grow_to(self, n: int) -> None:
        while len(self.tasks) < n:
            self.tasks.append(asyncio.create_task(self.customer(len(self.tasks))))

    async def shrink_to(self, n: int) -> None:
        """The last customers leave (their unanswered messages are dropped, not counted)."""
        leaving, self.tasks = self.tasks[n:], self.tasks[:n]
        for t in leaving:
            t.cancel()
        await asyncio.gather(*leaving, return_exceptions=True)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def bisect(steps: List[Step]) -> Optional[int]:
    """The level halfway between the last passing and the first failing one, None when they are adjacent."""
    ok, bad = served(steps)
    if bad is None:
        return None
    mid = (ok + bad) // 2
    return mid if ok < mid < bad else None


async def ramp(target: Running, steps: List[int], step_seconds: float, seed: int, pace: Tuple[float, float],
               p95_ms: float, timeout: float, refine: int = 0) -> List[Step]:
    """Steps up the customers until a step fails, then `refine` steps halfway between the last passing and the
    first failing level (after a pause that lets the overload drain); a progress line every 10 s and per step."""
    out: List[Step] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector) as session:
        crowd = Crowd(session, target.url, seed, pace)

        async def step(n: int) -> Step:
            crowd.grow_to(n)
            start = time.monotonic()
            say(f"{target.label}: {n} customers for {step_seconds:.0f} s...")
            while time.monotonic() - start < step_seconds:
                await asyncio.sleep(min(10.0, step_seconds - (time.monotonic() - start)))
                so_far = crowd.tally.window(start, math.inf)
                if time.monotonic() - start < step_seconds - 1:
                    say(f"  {len(so_far.samples)} messages, p95 so far {so_far.p(95):.0f} ms, "
                        f"errors {so_far.count(ERROR)}, waiting {len(crowd.waiting)}")
            end = time.monotonic()
            ages = [(end - t) * 1000 for t in crowd.waiting.values() if t >= start]
            done = judge(n, crowd.tally.window(start, end), ages, end - start, p95_ms)
            out.append(done)
            say(f"  {n} customers: {done.messages} messages ({done.messages_per_s:.1f}/s), p50 "
                f"{done.p50_ms:.0f} ms, p95 {done.p95_ms:.0f} ms, errors {done.errors}, still waiting "
                f"{done.waiting} -> {'PASS' if done.passed else 'FAIL'}")
            return done

        try:
            for n in steps:
                if not (await step(n)).passed:
                    break
            for _ in range(refine):
                mid = bisect(out)
                if mid is None:
                    break
                await crowd.shrink_to(mid)
                say(f"{target.label}: refining between {served(out)[0]} and {served(out)[1]} customers "
                    f"(15 s pause first)")
                await asyncio.sleep(15.0)
                await step(mid)
        finally:
            await crowd.close()
    return out


def served(steps: List[Step]) -> Tuple[int, Optional[int]]:
    """Customers served (the last passing level, 0 if none) and the first failing level (None: never failed)."""
    ok = [s.customers for s in steps if s.passed]
    bad = [s.customers for s in steps if not s.passed]
    return (max(ok) if ok else 0), (min(bad) if bad else None)


def report(results: List[Dict[str, object]], args: argparse.Namespace, meta: Dict[str, str]) -> str:
    lines = [f"Capacity, {meta['date']}, {meta['machine']}. Customers write one message every "
             f"{args.pace[0]:g}-{args.pace[1]:g} s (seed {args.seed}), steps of {args.step_seconds:g} s; served = "
             f"the most customers with p95 <= {args.p95_ms:g} ms and no errors. Noisy on a shared machine: compare "
             "the rows of this one run.", "",
             f"| target | Rasa servers | customers served (p95 <= {args.p95_ms:g} ms) | first failing level | "
             "messages/s at the served level | p95 ms at the served level | memory MB |", "|---|---|---|---|---|---|---|"]
    for r in results:
        steps = [Step(**s) for s in r["steps"]]  # type: ignore[arg-type, union-attr]
        ok, bad = served(steps)
        at = next((s for s in steps if s.customers == ok), None)
        failing = str(bad) if bad is not None else f"none up to {args.max_customers}"
        rate, p95 = (f"{at.messages_per_s:.1f}", f"{at.p95_ms:.0f}") if at else ("-", "-")
        lines.append(f"| {r['label']} | {r['rasa_servers']} | {ok} | {failing} | {rate} | {p95} | "
                     f"{r['rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=max(1, os.cpu_count() or 1),
                        help="N, measured besides 1 server (default: the number of cores, RASA_SERVERS' default)")
    parser.add_argument("--start", type=int, default=10, help="customers in the first step")
    parser.add_argument("--growth", type=float, default=1.5, help="customers multiply by this each step")
    parser.add_argument("--max-customers", type=int, default=2000)
    parser.add_argument("--step-seconds", type=float, default=60.0)
    parser.add_argument("--pace", type=float, nargs=2, default=[5.0, 15.0], metavar=("MIN_S", "MAX_S"))
    parser.add_argument("--p95-ms", type=float, default=500.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="a message unanswered this long is an error")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refine", type=int, default=2,
                        help="steps halfway between the last passing and the first failing level")
    parser.add_argument("--quick", action="store_true", help="a check that it works, not figures")
    parser.add_argument("--no-stock", action="store_true")
    parser.add_argument("--stock-dir", type=Path, help="keep (or reuse) the trained stock bot here")
    parser.add_argument("--out", default="results/bench/capacity.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.start, args.growth, args.max_customers, args.step_seconds, args.pace = 5, 2.0, 40, 20.0, [2.0, 5.0]
    os.environ.setdefault(SECRET_ENV, uuid.uuid4().hex + uuid.uuid4().hex)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    steps = levels(args.start, args.growth, args.max_customers)
    say(f"bench-capacity: levels {steps[:12]}{' ...' if len(steps) > 12 else ''}, {args.step_seconds:g} s each")

    plan: List[Callable[[], AbstractContextManager[Running]]] = [lambda: our_stack(1)]
    if args.servers != 1:
        plan.append(lambda: our_stack(args.servers))
    if not args.no_stock:
        folder = create_stock_bot(args.stock_dir or Path(tempfile.mkdtemp(prefix="bench-stock-")) / "bot")
        if args.stock_dir is None:
            atexit.register(shutil.rmtree, folder.parent, True)  # a trained stock bot: ~30 MB per run
        plan.append(lambda: stock_bot(folder))
    results: List[Dict[str, object]] = []
    for start in plan:
        with start() as target:
            done = asyncio.run(ramp(target, steps, args.step_seconds, args.seed, tuple(args.pace),
                                    args.p95_ms, args.timeout, args.refine))
            results.append({"label": target.label, "rasa_servers": target.rasa_servers, "rss_mb": target.rss_mb(),
                            "steps": [asdict(s) for s in done]})
            ok, bad = served(done)
            say(f"{target.label}: {ok} customers served" + (f" ({bad} failed)" if bad else ""))
    meta["load_after"] = f"{os.getloadavg()[0]:.1f}"
    print("\n" + report(results, args, meta) + f"\n(load average after the run {meta['load_after']})", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "args": {k: v for k, v in vars(args).items()
                                                                  if k != "stock_dir"}, "results": results}, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
