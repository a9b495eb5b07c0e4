"""What scoring adds to each message: an interleaved A/B with the latency benchmark's conversation.

    .venv/bin/python -m bench.scoring_overhead [--rounds 16] [--base 8431763]

A = the foundation commit (no scoring; default 8431763) checked out in a git worktree, with the same
Rasa speed-ups (bot/rasa_speedups.py) applied, so that only scoring differs. B = this checkout. Both
stacks run at once (own ports, own embedded Redis) and idle while the other is measured; each round
holds one 24-message conversation (bench/latency.py's script) on A and one on B, in alternating order,
so that a slow period of the machine hits both sides alike. Prints p50/p95 per side over all
messages, the difference, and the median difference per message position.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency import conversation, percentile  # noqa: E402
from bot.processes import free_port  # noqa: E402


def prepare_baseline(base: str, folder: Path) -> None:
    """A worktree of ``base`` sharing this .venv, with our Rasa speed-ups installed in its channels."""
    if folder.exists():
        return
    subprocess.run(["git", "worktree", "add", "-f", str(folder), base], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    (folder / ".venv").symlink_to(ROOT / ".venv")
    (folder / "bot" / "rasa_speedups.py").write_text((ROOT / "bot" / "rasa_speedups.py").read_text())
    with open(folder / "bot" / "channels" / "__init__.py", "a") as f:
        f.write("\nfrom bot import rasa_speedups\nrasa_speedups.apply()\n")


class Running:
    """``python -m bot run`` in ``folder`` on free ports, with its own Redis and run folder."""

    def __init__(self, folder: Path, name: str) -> None:
        self.name, self.port = name, free_port()
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-ab-{name}-"))
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(RASA_PORT=str(self.port), ACTION_PORT=str(free_port()), REDIS_PORT=str(free_port()),
                   BOT_RUN_DIR=str(tmp / "run"), BOT_DATA_DIR=str(tmp / "data"), BOT_INTERFACE="127.0.0.1",
                   PYTHONPATH=str(folder))
        print(f"[ab] starting {name} from {folder} (trains first if needed)...", file=sys.stderr, flush=True)
        self.proc = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-m", "bot", "run"], cwd=folder, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready, tail = threading.Event(), []

        def read() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                tail.append(line)
                if "The assistant is ready" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        while not ready.wait(0.5):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} did not start:\n" + "".join(tail[-40:]))
        self.url = f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


async def measure(stacks: Dict[str, Running], rounds: int, turns: int) -> Dict[str, List[List[float]]]:
    out: Dict[str, List[List[float]]] = {name: [] for name in stacks}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        for s in stacks.values():
            await conversation(session, s.url, 4, [])  # warm-up
        names = list(stacks)
        for r in range(rounds):
            for name in names if r % 2 == 0 else reversed(names):
                latencies: List[float] = []
                await conversation(session, stacks[name].url, turns, latencies)
                out[name].append(latencies)
            print(f"[ab] round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    os.environ.setdefault("CHAT_SESSION_SECRET", os.urandom(24).hex())  # both servers sign handles with it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--turns", type=int, default=24)
    parser.add_argument("--base", default="8431763", help="commit without scoring")
    parser.add_argument("--out", default=str(ROOT / "results/bench/scoring_overhead.json"))
    args = parser.parse_args(argv)
    baseline = Path(tempfile.gettempdir()) / f"scoring-ab-{args.base}"
    prepare_baseline(args.base, baseline)
    stacks: Dict[str, Running] = {}
    try:
        stacks["without scoring"] = Running(baseline, "without")
        stacks["with scoring"] = Running(ROOT, "with")
        t0 = time.perf_counter()
        runs = asyncio.run(measure(stacks, args.rounds, args.turns))
        print(f"[ab] measured in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    finally:
        for s in stacks.values():
            s.stop()
    pooled = {name: [x for conv in convs for x in conv] for name, convs in runs.items()}
    for name, values in pooled.items():
        print(f"{name:16s} {len(values)} messages: p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms")
    a, b = pooled["without scoring"], pooled["with scoring"]
    print(f"{'added':16s} p50 {percentile(b, 50) - percentile(a, 50):+.1f} ms, p95 {percentile(b, 95) - percentile(a, 95):+.1f} ms")
    by_position = [statistics.median(c[j] for c in runs["with scoring"]) - statistics.median(c[j] for c in runs["without scoring"])
                   for j in range(args.turns)]
    print("median difference by message position: " + " ".join(f"{d:+.1f}" for d in by_position))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"base": args.base, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
