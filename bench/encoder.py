"""Sentence encoder benchmark: the NumPy reference beside the onnx backends, in one run.

    python -m bench.encoder [--texts ../shared/data/banking77/test.csv] [--n 500]
        [--batch-n 2000] [--backends numpy,onnx,onnx-int8] [--out /tmp/encoder.json]

Per message: each text is encoded alone (``encode([text])``, what a parse does), the
backends taking turns text by text, so machine load hits them alike; p50/p90/p99 in ms.
Batch: ``--batch-n`` texts in one ``encode`` call (training; the onnx backends use one
thread per core there). Agreement: cosine of every vector to the NumPy reference. Load:
seconds to build the encoder (the onnx backends build their graph from the weights).
The last line sums it up with the ratios to NumPy, the date, ``nproc`` and the load average:
timings on a shared machine are noisy, the ratios from one run are what to compare.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from bot.nlu.encoder import BACKENDS, SentenceEncoder, default_model_source


def read_texts(path: Path, limit: int) -> List[str]:
    """The ``text`` column of a CSV, first ``limit`` rows (BANKING77's test set by default)."""
    with path.open(newline="", encoding="utf-8") as f:
        return [row["text"] for row, _ in zip(csv.DictReader(f), range(limit))]


def percentiles(seconds: List[float]) -> Dict[str, float]:
    """p50/p90/p99 and mean, in ms."""
    ms = np.array(seconds) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def run(texts: List[str], batch_texts: List[str], backends: List[str]) -> dict:
    """Loads each backend, then times them side by side."""
    source = default_model_source()
    encoders: Dict[str, SentenceEncoder] = {}
    result: dict = {"backends": {}}
    for name in backends:
        start = time.perf_counter()
        encoders[name] = SentenceEncoder(source, backend=name)
        result["backends"][name] = {"load_s": round(time.perf_counter() - start, 2)}
        print(f"[encoder] loaded {name} in {result['backends'][name]['load_s']} s", file=sys.stderr)
    for enc in encoders.values():  # warm-up: first runs allocate
        enc.encode(texts[:5])
    single: Dict[str, List[float]] = {n: [] for n in backends}
    vectors: Dict[str, List[np.ndarray]] = {n: [] for n in backends}
    for i, text in enumerate(texts):
        turn = backends[i % len(backends):] + backends[: i % len(backends)]
        for name in turn:
            start = time.perf_counter()
            vec = encoders[name].encode([text])
            single[name].append(time.perf_counter() - start)
            vectors[name].append(vec[0])
        if (i + 1) % 100 == 0:
            print(f"[encoder] single messages {i + 1}/{len(texts)}", file=sys.stderr)
    ref = np.array(vectors["numpy"]) if "numpy" in backends else None
    for name in backends:
        row = result["backends"][name]
        row["single_ms"] = percentiles(single[name])
        if ref is not None:
            cos = (np.array(vectors[name]) * ref).sum(1)
            row["cosine_to_numpy"] = {"min": float(cos.min()), "mean": float(cos.mean())}
        start = time.perf_counter()
        encoders[name].encode(batch_texts, batch_size=64)
        took = time.perf_counter() - start
        row["batch"] = {"texts": len(batch_texts), "seconds": round(took, 2),
                        "texts_per_s": round(len(batch_texts) / took, 1)}
        print(f"[encoder] batch {name}: {len(batch_texts)} texts in {took:.1f} s", file=sys.stderr)
    return result


def summary(result: dict) -> str:
    """One line: per backend p50 ms, batch texts/s, ratio to NumPy; date, nproc, load."""
    rows = result["backends"]
    base = rows.get("numpy")
    parts = []
    for name, row in rows.items():
        part = f"{name} p50 {row['single_ms']['p50']:.2f} ms, {row['batch']['texts_per_s']:.0f} texts/s"
        if base and name != "numpy":
            part += (f" ({base['single_ms']['p50'] / row['single_ms']['p50']:.1f}x per message, "
                     f"{row['batch']['texts_per_s'] / base['batch']['texts_per_s']:.1f}x batch, "
                     f"cos min {row['cosine_to_numpy']['min']:.4f})")
        parts.append(part)
    return (f"encoder {result['date']}: " + "; ".join(parts)
            + f"; nproc {result['nproc']}, load {result['load_before']}->{result['load_after']}")


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=Path, default=Path("../shared/data/banking77/test.csv"))
    ap.add_argument("--n", type=int, default=500, help="texts timed one at a time")
    ap.add_argument("--batch-n", type=int, default=2000, help="texts embedded in one call")
    ap.add_argument("--backends", default="numpy,onnx,onnx-int8")
    ap.add_argument("--out", type=Path, help="write the figures as JSON")
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not args.texts.exists():
        ap.error(f"unknown backend {unknown}" if unknown else f"no such file: {args.texts}")
    texts = read_texts(args.texts, max(args.n, args.batch_n))
    load = lambda: round(os.getloadavg()[0], 2)  # noqa: E731
    result = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "nproc": os.cpu_count(), "load_before": load(), "texts": str(args.texts)}
    result.update(run(texts[: args.n], texts[: args.batch_n], backends))
    result["load_after"] = load()
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
