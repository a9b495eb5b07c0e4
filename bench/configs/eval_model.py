"""A given model's English held-out macro-F1 (tests/test_content.py's own scoring), parse time and size.

tests/test_content.py trains or reuses the model of the current inputs; this scores any model file:
    .venv/bin/python bench/configs/eval_model.py models/shop-....tar.gz
"""
import asyncio
import os
import sys
import time

import numpy as np
from sklearn.metrics import f1_score
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from tests.test_content import _holdout, predicted_label
from rasa.core.agent import Agent

model = sys.argv[1]
t = time.perf_counter(); agent = Agent.load(model); load_s = time.perf_counter() - t
ex = _holdout()
zh_msgs = ["亲，我的快递咋还没到？", "我要退货", "你们包邮吗", "转人工", "发票怎么开", "订单10234568到哪了"]
async def run():
    out, times = [], []
    for text, _ in ex:
        t = time.perf_counter(); p = await agent.parse_message(text); times.append(time.perf_counter() - t)
        out.append(predicted_label(p))
    zt = []
    for text in zh_msgs * 5:
        t = time.perf_counter(); p = await agent.parse_message(text); zt.append(time.perf_counter() - t)
    zp = [(text, predicted_label(await agent.parse_message(text)),
           [e["value"] for e in (await agent.parse_message(text))["entities"] if e["entity"] == "language"])
          for text in zh_msgs]
    return out, times, zt, zp
pred, times, zt, zp = asyncio.run(run())
truth = [y for _, y in ex]
print(f"model {os.path.basename(model)} size {os.path.getsize(model)/1e6:.1f} MB load {load_s:.1f} s")
print(f"English held-out n={len(truth)} macro-F1 {f1_score(truth, pred, average='macro', zero_division=0):.3f} "
      f"accuracy {np.mean([a == b for a, b in zip(truth, pred)]):.3f}")
print(f"parse p50 English {1000*np.median(times):.1f} ms p90 {1000*np.percentile(times, 90):.1f} ms; "
      f"Chinese p50 {1000*np.median(zt):.1f} ms")
for z in zp: print(z)
