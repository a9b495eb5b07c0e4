#!/usr/bin/env bash
# What scoring adds per message: an A/B with the latency benchmark (README, "What scoring adds").
#   bash bench/scoring_overhead.sh [ROUNDS=2]
# A = the foundation commit 8431763 (no scoring) with the same Rasa speed-ups (bot/rasa_speedups.py),
# B = this checkout. Each round runs 8 single 24-message conversations on A, then on B; all messages
# are pooled. About 4 minutes per round plus one training of A (2 minutes) on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-2}"
HERE="$PWD"
A=/tmp/scoring-ab-before
OUT=results/bench/scoring_ab
mkdir -p "$OUT"
if [ ! -d "$A" ]; then
  git worktree add -f "$A" 8431763 >/dev/null
  ln -sfn "$PWD/.venv" "$A/.venv"
  cp bot/rasa_speedups.py "$A/bot/"
  cp bench/latency.py "$A/bench/"
  printf '\nfrom bot import rasa_speedups\nrasa_speedups.apply()\n' >> "$A/bot/channels/__init__.py"
fi
(cd "$A" && .venv/bin/python -m bot train >/dev/null)
.venv/bin/python -m bot train >/dev/null
for i in $(seq "$ROUNDS"); do
  echo "round $i/$ROUNDS: without scoring" >&2
  (cd "$A" && .venv/bin/python -m bench.latency --concurrency 1 1 1 1 1 1 1 1 --out "$HERE/$OUT/before-$i.json" >/dev/null 2>&1)
  echo "round $i/$ROUNDS: with scoring" >&2
  .venv/bin/python -m bench.latency --concurrency 1 1 1 1 1 1 1 1 --out "$OUT/after-$i.json" >/dev/null 2>&1
done
.venv/bin/python - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
from bench.latency import percentile
out, rounds = sys.argv[1], int(sys.argv[2])
def pool(kind):
    values, by_turn = [], {}
    for i in range(1, rounds + 1):
        for run in json.load(open(f"{out}/{kind}-{i}.json"))["runs"]:
            values += run["latencies_ms"]
            for j, x in enumerate(run["latencies_ms"]):
                by_turn.setdefault(j, []).append(x)
    return values, by_turn
b, bt = pool("before")
a, at = pool("after")
print(f"without scoring: {len(b)} messages, p50 {percentile(b, 50):.1f} ms, p95 {percentile(b, 95):.1f} ms")
print(f"with scoring:    {len(a)} messages, p50 {percentile(a, 50):.1f} ms, p95 {percentile(a, 95):.1f} ms")
print(f"added:           p50 {percentile(a, 50) - percentile(b, 50):+.1f} ms, p95 {percentile(a, 95) - percentile(b, 95):+.1f} ms")
print("median difference by message position:",
      " ".join(f"{statistics.median(at[j]) - statistics.median(bt[j]):+.1f}" for j in sorted(at)))
PY
