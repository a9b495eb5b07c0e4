"""A given model's held-out macro-F1 in English and Chinese (the tests' own scoring), parse time and size.

The tests train or reuse the model of the current inputs; this scores any model file, one message at a time
(what a Rasa server does per message):
    .venv/bin/python bench/configs/eval_model.py models/shop-....tar.gz
"""
import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.nlu.heldout_score import load_holdout, predicted_label  # noqa: E402
from rasa.core.agent import Agent  # noqa: E402


async def run(agent: Agent, examples):
    predicted, times = [], []
    for text, _ in examples:
        t = time.perf_counter()
        parse = await agent.parse_message(text)
        times.append(time.perf_counter() - t)
        predicted.append(predicted_label(parse))
    return predicted, times


def main(model: str) -> None:
    t = time.perf_counter()
    agent = Agent.load(model)
    print(f"model {os.path.basename(model)} size {os.path.getsize(model) / 1e6:.1f} MB, "
          f"loaded in {time.perf_counter() - t:.1f} s")
    for name, path in (("English", "tests/nlu/holdout.yml"), ("Chinese", "tests/nlu/holdout_zh.yml")):
        examples = load_holdout(ROOT / path)
        asyncio.run(run(agent, examples[:5]))  # warm-up
        predicted, times = asyncio.run(run(agent, examples))
        truth = [y for _, y in examples]
        print(f"{name} held-out n={len(truth)} macro-F1 {f1_score(truth, predicted, average='macro', zero_division=0):.3f}"
              f" accuracy {np.mean([a == b for a, b in zip(truth, predicted)]):.3f}; parse p50 "
              f"{1000 * np.median(times):.1f} ms, p90 {1000 * np.percentile(times, 90):.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
