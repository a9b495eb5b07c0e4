"""Throughput side by side: a stock `rasa init` bot, our stack with 1 Rasa server and with N, in one run.

    ./run bench-throughput [--servers 1 2] [--concurrency 50] [--turns 24] [--quick]

Absolute figures do not carry from one machine to another, so this command measures the stock bot
itself, in the same run, with the same client: bench/latency.py's scripted REST conversation. For each target it
measures p50 of a single conversation (nothing else running), then messages per second with --concurrency
conversations at once, and prints a table with ratios: ours / stock and N servers / 1 server.
The targets run one after another (never at the same time), each stopped before the next starts.
--quick (10 conversations x 6 messages) checks that everything works in a few minutes; its figures are rough.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import aiohttp

from bench.client import EMPTY, ERROR, Tally, scripted_conversation
from bench.targets import STOCK, Running, create_stock_bot, our_stack, say, stock_bot
from bot.identity import SECRET_ENV


async def measure(url: str, concurrency: int, turns: int, label: str) -> Dict[str, float]:
    """bench/latency.py's load (bench/client.py), with a progress line every 5 s: concurrent conversations."""
    tally = Tally()
    timeout = aiohttp.ClientTimeout(total=300)
    connector = aiohttp.TCPConnector(limit=max(100, 2 * concurrency))
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await scripted_conversation(session, url, 2, Tally())  # warm-up, not counted
        t0 = time.perf_counter()
        work = asyncio.gather(*(scripted_conversation(session, url, turns, tally) for _ in range(concurrency)))
        total = concurrency * turns
        while True:
            done, _ = await asyncio.wait([work], timeout=5.0)
            if done:
                break
            elapsed = time.perf_counter() - t0
            say(f"  {label}: {len(tally.samples)}/{total} messages, {len(tally.samples) / elapsed:.1f} msg/s so far")
        wall = time.perf_counter() - t0
    answered = tally.latencies()
    return {"concurrency": concurrency, "messages": len(tally.samples), "errors": tally.count(ERROR),
            "empty_replies": tally.count(EMPTY), "p50_ms": tally.p(50), "p95_ms": tally.p(95),
            "mean_ms": statistics.fmean(answered) if answered else float("nan"),
            "messages_per_s": len(answered) / wall, "wall_s": wall}


def bench_target(target: Running, concurrency: int, turns: int) -> Dict[str, object]:
    say(f"{target.label}: 1 conversation x {turns} messages (p50 alone)...")
    single = asyncio.run(measure(target.url, 1, turns, target.label))
    say(f"  p50 {single['p50_ms']:.0f} ms, p95 {single['p95_ms']:.0f} ms, errors {single['errors']}")
    say(f"{target.label}: {concurrency} concurrent conversations x {turns} messages...")
    loaded = asyncio.run(measure(target.url, concurrency, turns, target.label))
    say(f"  {loaded['messages_per_s']:.1f} msg/s, p50 {loaded['p50_ms']:.0f} ms, p95 {loaded['p95_ms']:.0f} ms, "
        f"errors {loaded['errors']}")
    return {"label": target.label, "rasa_servers": target.rasa_servers, "single": single, "loaded": loaded,
            "rss_mb": target.rss_mb()}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(rows: List[Dict[str, Any]], concurrency: int, turns: int, meta: Dict[str, str]) -> str:
    """The table and the ratios the scale-out targets are stated in."""
    lines = [f"Throughput, {meta['date']}, {meta['machine']}; {turns} messages per conversation "
             "(bench/latency.py's script, REST channel). Timings are noisy on a shared machine: "
             "compare the ratios, measured in this one run.", "",
             f"| target | Rasa servers | p50 ms, 1 conversation | messages/s, {concurrency} conversations | "
             f"p50 / p95 ms, {concurrency} conversations | errors | empty replies | memory MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, l = r["single"], r["loaded"]
        lines.append(f"| {r['label']} | {r['rasa_servers']} | {s['p50_ms']:.0f} | {l['messages_per_s']:.1f} | "
                     f"{l['p50_ms']:.0f} / {l['p95_ms']:.0f} | {s['errors'] + l['errors']} | "
                     f"{s['empty_replies'] + l['empty_replies']} | {r['rss_mb']:.0f} |")
    stock = next((r for r in rows if r["label"] == STOCK), None)
    ours = [r for r in rows if r is not stock]
    one = next((r for r in ours if r["rasa_servers"] == 1), None)
    lines.append("")
    for r in ours:
        if stock is not None:
            target = (" (target >= 2x)", " (target <= 0.5x)") if r["rasa_servers"] == 1 else ("", "")
            lines.append(f"{r['label']} / stock: messages/s "
                         f"{ratio(r['loaded']['messages_per_s'], stock['loaded']['messages_per_s'])}{target[0]}, "
                         f"p50 at 1 conversation {ratio(r['single']['p50_ms'], stock['single']['p50_ms'])}{target[1]}")
        if one is not None and r["rasa_servers"] > 1:
            lines.append(f"{r['label']} / 1 server: messages/s "
                         f"{ratio(r['loaded']['messages_per_s'], one['loaded']['messages_per_s'])} "
                         "(target >= 1.6x with 2 servers on 2 cores)")
    busy = float(meta.get("load_before", 0)) > (os.cpu_count() or 1)
    if busy and any(r["rasa_servers"] > 1 for r in ours):
        lines.append(f"Caution: the machine was busy (load average {meta['load_before']} on {os.cpu_count()} cores). "
                     "Other work shares the cores, and N server processes get a larger share of them than one: "
                     "the N servers / 1 server ratio reads higher than on a quiet machine.")
    if stock is not None:
        lines.append("Empty replies: the stock bot answers nothing to some messages of the script (e.g. an "
                     "order number); they count as answered messages, errors do not.")
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, {platform.machine()}, shared machine (load average before the run "
            f"{load[0]:.1f})")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2], help="RASA_SERVERS values to run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--turns", type=int, default=24, help="messages per conversation")
    parser.add_argument("--quick", action="store_true", help="10 conversations x 6 messages: a check, not figures")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock bot (no ours/stock ratios)")
    parser.add_argument("--stock-dir", type=Path, help="keep (or reuse) the trained stock bot here")
    parser.add_argument("--out", default="results/bench/throughput.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.turns = 10, 6
    os.environ.setdefault(SECRET_ENV, uuid.uuid4().hex + uuid.uuid4().hex)  # our stacks sign handles with it
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "load_before": f"{os.getloadavg()[0]:.1f}"}
    say(f"bench-throughput: stock bot {'no' if args.no_stock else 'yes'}, RASA_SERVERS {args.servers}, "
        f"{args.concurrency} conversations x {args.turns} messages")

    plan: List[Callable[[], AbstractContextManager[Running]]] = []
    if not args.no_stock:
        folder = create_stock_bot(args.stock_dir or Path(tempfile.mkdtemp(prefix="bench-stock-")) / "bot")
        if args.stock_dir is None:
            atexit.register(shutil.rmtree, folder.parent, True)  # a trained stock bot: ~30 MB per run
        plan.append(lambda: stock_bot(folder))
    for n in args.servers:
        plan.append(lambda n=n: our_stack(n))
    rows = []
    for start in plan:
        with start() as target:
            rows.append(bench_target(target, args.concurrency, args.turns))
    meta["load_after"] = f"{os.getloadavg()[0]:.1f}"
    text = report(rows, args.concurrency, args.turns, meta)
    print("\n" + text + f"\n(load average after the run {meta['load_after']})", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "concurrency": args.concurrency, "turns": args.turns,
                                          "rows": rows}, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
