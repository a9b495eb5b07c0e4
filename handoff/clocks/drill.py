"""The timer drill: real processes firing ``drill`` timers over a real Redis, with faults on purpose.

    python -m handoff.clocks.drill schedule --redis-url URL --prefix P --timers 1000 --spread 2 [--start-in 0]
    python -m handoff.clocks.drill run --redis-url URL --prefix P --lease 2 --until-empty \\
        [--kill-after-claims N | --kill-probability P] [--stall-after-claims N --stall-seconds S]
    python -m handoff.clocks.drill check --redis-url URL --prefix P

``run`` fires timers with a :class:`~handoff.clocks.timers.TimerRunner` whose ``drill`` handler records each
firing as a ``drill_fired`` event (and, with ``--log``, a clock-log entry of ``drill:<key>``). Faults, between a
claim and its completions (the window the lease protects):
  ``--kill-after-claims N``   SIGKILL this process right after its N-th non-empty claim (env DRILL_KILL_AFTER_CLAIMS)
  ``--kill-probability P``    SIGKILL right after a non-empty claim with probability P (env DRILL_KILL_PROBABILITY)
  ``--stall-after-claims N``  sleep ``--stall-seconds`` after the N-th claim, then fire the batch (a paused process:
                              if another took the timers over meanwhile, these completions must write nothing)
It prints one line ``ready <pid>`` when connected and, on a normal exit, one JSON line of its counts.
``check`` prints one JSON line: fired, distinct keys, duplicates, timers left, lateness percentiles (completion
time, the event's Redis stream id, minus the due time). Never point it at a production prefix: ``schedule`` adds
timers and ``run`` fires whatever ``drill`` timers are due there.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from typing import Any, Dict, List, Optional

from handoff.clocks.timers import Fired, Timer, TimerRunner
from handoff.redis_store import RedisStore

KIND = "drill"


class Faults:
    """The store as the runner sees it, with the drill's faults right after a claim."""

    def __init__(self, store: Any, kill_after: int = 0, kill_probability: float = 0.0, stall_after: int = 0,
                 stall_seconds: float = 0.0, seed: Optional[int] = None) -> None:
        self.store, self.kill_after, self.kill_probability = store, kill_after, kill_probability
        self.stall_after, self.stall_seconds = stall_after, stall_seconds
        self.rng = random.Random(seed)
        self.counts = {"claims": 0, "claimed": 0, "completed": 0, "lost": 0, "stalled": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def claim_timers(self, now: float, lease_seconds: float, limit: int) -> List[Timer]:
        timers = await self.store.claim_timers(now, lease_seconds, limit)
        if timers:
            self.counts["claims"] += 1
            self.counts["claimed"] += len(timers)
            n = self.counts["claims"]
            if n == self.kill_after or (self.kill_probability and self.rng.random() < self.kill_probability):
                print(f"drill {os.getpid()}: SIGKILL after claim {n} ({len(timers)} timers)", file=sys.stderr,
                      flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            if n == self.stall_after:
                print(f"drill {os.getpid()}: stalling {self.stall_seconds} s after claim {n}", file=sys.stderr,
                      flush=True)
                self.counts["stalled"] = len(timers)
                await asyncio.sleep(self.stall_seconds)
        return timers

    async def complete_timer(self, timer: Timer, fired: Fired) -> bool:
        wrote = await self.store.complete_timer(timer, fired)
        self.counts["completed" if wrote else "lost"] += 1
        return bool(wrote)


def drill_handler(with_log: bool) -> Any:
    async def fire(timer: Timer) -> Fired:
        event = {"type": "drill_fired", "key": timer.key, "due": timer.due, "attempt": timer.attempt,
                 "pid": os.getpid()}
        log = [(f"drill:{timer.key}", {"kind": "drill", "at": timer.due, "attempt": timer.attempt})] if with_log else []
        return Fired(events=[(None, event)], log=log)
    return fire


async def schedule(store: Any, timers: int, spread: float, start_in: float, name: str = "t") -> float:
    """``timers`` drill timers, due evenly over ``spread`` seconds from ``start_in`` seconds on. The first due."""
    start = await store.timer_now() + start_in
    keys = [(f"drill:{name}:{i:06d}", start + spread * i / max(1, timers)) for i in range(timers)]
    for chunk in range(0, len(keys), 200):
        await asyncio.gather(*(store.schedule_timer(k, KIND, due, {"n": k}) for k, due in keys[chunk:chunk + 200]))
    return start


async def run(store: Any, args: argparse.Namespace) -> Dict[str, Any]:
    faults = Faults(store, args.kill_after_claims, args.kill_probability, args.stall_after_claims,
                    args.stall_seconds, args.seed)
    runner = TimerRunner(faults, lease_seconds=args.lease, batch=args.batch, poll_seconds=args.poll,
                         concurrency=args.concurrency)
    runner.register(KIND, drill_handler(args.log))
    print(f"ready {os.getpid()}", flush=True)
    while True:
        fired = await runner.tick()
        if fired < runner.batch:
            counts = await store.timer_counts(await runner.now())
            if args.until_empty and counts["scheduled"] + counts["leased"] == 0:
                return {"pid": os.getpid(), **faults.counts}
            await asyncio.sleep(runner.poll_seconds)


def percentile(values: List[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


async def check(store: Any) -> Dict[str, Any]:
    """What the drill recorded: one entry per ``drill_fired`` event, from the store's event stream."""
    fired: List[Dict[str, Any]] = []
    after = "0-0"
    while True:
        batch = await store.events(after, 0, 5000)
        if not batch:
            break
        for e in batch:
            if e.data.get("type") == "drill_fired":
                fired.append({**e.data, "done": int(e.id.split("-")[0]) / 1000})
        after = batch[-1].id
    keys = [f["key"] for f in fired]
    late = [max(0.0, f["done"] - f["due"]) for f in fired]
    done = [f["done"] for f in fired]
    counts = await store.timer_counts(await store.timer_now())
    return {"fired": len(fired), "distinct": len(set(keys)), "duplicates": len(keys) - len(set(keys)),
            "left": counts["scheduled"] + counts["leased"], "taken_over": sum(1 for f in fired if f["attempt"] > 1),
            "first_done": min(done, default=0.0), "last_done": max(done, default=0.0),
            "lateness": {**{f"p{q}": round(percentile(late, q), 4) for q in (50, 90, 99)},
                         "max": round(max(late, default=0.0), 4)}}


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m handoff.clocks.drill", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["schedule", "run", "check"])
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--prefix", required=True, help="the store's key prefix (a drill's own, never production's)")
    ap.add_argument("--timers", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=2.0, help="seconds the due times spread over")
    ap.add_argument("--start-in", type=float, default=0.0, help="seconds until the first is due")
    ap.add_argument("--name", default="t", help="part of the keys, so two schedules do not replace each other")
    ap.add_argument("--lease", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--poll", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--log", action="store_true", help="also write a clock-log entry per firing")
    ap.add_argument("--until-empty", action="store_true", help="exit when no timer is scheduled or leased")
    ap.add_argument("--kill-after-claims", type=int, default=int(os.environ.get("DRILL_KILL_AFTER_CLAIMS", "0")))
    ap.add_argument("--kill-probability", type=float,
                    default=float(os.environ.get("DRILL_KILL_PROBABILITY", "0")))
    ap.add_argument("--stall-after-claims", type=int, default=0)
    ap.add_argument("--stall-seconds", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    if args.timers < 0 or args.spread < 0 or args.lease <= 0 or args.batch < 1 or args.concurrency < 1:
        ap.error("--timers and --spread must be >= 0, --lease > 0, --batch and --concurrency >= 1")
    if not 0.0 <= args.kill_probability <= 1.0:
        ap.error("--kill-probability must be between 0 and 1")
    return args


async def main(args: argparse.Namespace) -> Dict[str, Any]:
    store = RedisStore.from_url(args.redis_url, args.prefix)
    try:
        if args.command == "schedule":
            return {"scheduled": args.timers,
                    "first_due": await schedule(store, args.timers, args.spread, args.start_in, args.name)}
        if args.command == "run":
            return await run(store, args)
        return await check(store)
    finally:
        await store.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse()))), flush=True)
