"""Markdown table of bench.nlu JSON results: ``python -m bench.table results/bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List


def table(folder: Path) -> str:
    """Closed-set runs, best accuracy first; then runs with an OOS label."""
    every = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    results = sorted((r for r in every if "oos" not in r), key=lambda r: -r["accuracy"])
    lines: List[str] = [
        "| pipeline | train data | accuracy | macro-F1 | training s | parse ms/msg |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {Path(r['config']).stem} | {Path(r['train']).parent.name} | "
            f"{100 * r['accuracy']:.2f} % | {100 * r['macro_f1']:.2f} % | "
            f"{r['train_seconds']:.0f} | {r['parse_ms_per_message']:.1f} |"
        )
    oos = [r for r in every if "oos" in r]
    if oos:
        lines += ["", "| pipeline | train data | in-scope acc. (thr 0.1) | best MCC (threshold: "
                  "in-scope acc., OOS recall) | training s |", "| --- | --- | --- | --- | --- |"]
    for r in oos:
        best = max(r["oos"], key=lambda t: t["mcc"])
        lines.append(
            f"| {Path(r['config']).stem} | {Path(r['train']).parent.name} | "
            f"{100 * r['oos'][0]['in_scope_accuracy']:.2f} % | {best['mcc']:.3f} ({best['threshold']}: "
            f"{100 * best['in_scope_accuracy']:.1f} %, {100 * best['oos_recall']:.1f} %) | "
            f"{r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1] if len(sys.argv) > 1 else "results/bench")))
