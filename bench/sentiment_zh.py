"""Chinese sentiment and complaint benchmark: ``./run bench-sentiment --lang zh [--holdout FILE]``.

Trains on bot/nlu/sentiment/train_zh.csv only and scores on a held-out file written separately by the project
(default bench/sentiment_zh_holdout.csv; never used for training or for any choice: C is chosen by 5-fold CV
on the training file, one-standard-error rule as for English). Rows:

* the shipped Chinese scorer (bot/nlu/sentiment_zh.py, the component's C) with its CV-tuned decision rule;
* the same with plain argmax / complaint p >= 0.5, and other C values (reported, not chosen on the hold-out);
* what Chinese text got before: the English scorer (MiniLM + VADER, trained on train.csv) on the same rows.

Reports accuracy, macro-F1, per-class F1, complaint F1/P/R, and the per-message latency of ``predict_one``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold

DEFAULT_HOLDOUT = Path(__file__).resolve().parent / "sentiment_zh_holdout.csv"
SEED = 13


def scores(y: List[str], pred: List[str], c: np.ndarray, cp: np.ndarray) -> Dict[str, float]:
    """Accuracy, macro-F1, per-class F1 and complaint F1/P/R."""
    out = {"accuracy": accuracy_score(y, pred), "macro_f1": f1_score(y, pred, average="macro")}
    for label, f in zip(("negative", "neutral", "positive"),
                        f1_score(y, pred, labels=["negative", "neutral", "positive"], average=None)):
        out[label[:3] + "_f1"] = f
    out.update(complaint_f1=f1_score(c, cp, zero_division=0), complaint_p=precision_score(c, cp, zero_division=0),
               complaint_r=recall_score(c, cp, zero_division=0))
    return {k: round(float(v), 4) for k, v in out.items()}


def cv_grid(texts: List[str], sentiments: List[str], complaints: List[int], Cs=(1.0, 3.0, 10.0, 30.0, 100.0)):
    """5-fold x 2 CV macro-F1 (argmax) of each C on the TRAINING file."""
    from bot.nlu.sentiment_data import LABELS
    from bot.nlu.sentiment_zh import _fit_heads, _vectorizer

    y, c = np.array([LABELS.index(s) for s in sentiments]), np.array(complaints)
    rows = []
    for C in Cs:
        fs = []
        for rep in range(2):
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED + rep).split(np.zeros(len(y)), y):
                vec = _vectorizer()
                x_tr, x_te = vec.fit_transform([texts[i] for i in tr]), vec.transform([texts[i] for i in te])
                sw, sb, _, _ = _fit_heads(x_tr, y[tr], c[tr], C, SEED)
                fs.append(f1_score(y[te], np.asarray(x_te @ sw.T + sb).argmax(1), average="macro"))
        rows.append({"C": C, "cv_macro_f1": float(np.mean(fs)), "cv_macro_f1_se": float(np.std(fs) / np.sqrt(len(fs)))})
        print(f"[zh] CV on train_zh.csv C={C:<6} macro-F1 {rows[-1]['cv_macro_f1']:.4f} ± "
              f"{rows[-1]['cv_macro_f1_se']:.4f}", flush=True)
    return rows


def run_zh(args: argparse.Namespace) -> Dict[str, Any]:
    """Trains on train_zh.csv, scores on the hold-out file; writes ``args.zh_out``."""
    from bot.nlu import sentiment_data as sd
    from bot.nlu import sentiment_model as sm
    from bot.nlu import sentiment_zh as zh
    from bot.nlu.sentiment import SentimentScorer

    t0 = time.time()
    tr_t, tr_s, tr_c = sd.load_training_csv(zh.DEFAULT_TRAIN_CSV_ZH)
    ho_t, ho_s, ho_c = sd.load_training_csv(args.holdout)
    overlap = {" ".join(t.lower().split()) for t in tr_t} & {" ".join(t.lower().split()) for t in ho_t}
    if overlap:
        raise SystemExit(f"hold-out rows also in the training file: {sorted(overlap)[:5]}")
    c = np.array(ho_c)
    print(f"[zh] train_zh.csv {len(tr_t)} rows {dict(Counter(tr_s))}, complaints {sum(tr_c)}; hold-out "
          f"{args.holdout} {len(ho_t)} rows {dict(Counter(ho_s))}, complaints {sum(ho_c)}", flush=True)
    grid = cv_grid(tr_t, tr_s, tr_c)
    best = max(grid, key=lambda r: r["cv_macro_f1"])
    pick = min((r for r in grid if r["cv_macro_f1"] >= best["cv_macro_f1"] - best["cv_macro_f1_se"]),
               key=lambda r: r["C"])
    shipped_C = SentimentScorer.get_default_config()["C_zh"]
    print(f"[zh] CV pick (1-SE rule): C={pick['C']}; component default C_zh={shipped_C}", flush=True)
    rows = []

    def evaluate(name: str, model: "zh.ZhSentimentModel", plain: bool = False) -> Dict[str, Any]:
        p, pc, idx = model.predict_arrays(ho_t)
        pred = [sd.LABELS[i] for i in (p.argmax(1) if plain else idx)]
        cp = (pc >= (0.5 if plain else model.complaint_threshold)).astype(int)
        row = {"candidate": name, **scores(ho_s, pred, c, cp), "C": model.meta["C"]}
        rows.append(row)
        print(f"[zh] {name:44s} acc {row['accuracy']:.3f} macro-F1 {row['macro_f1']:.3f} (neg {row['neg_f1']:.3f} "
              f"neu {row['neu_f1']:.3f} pos {row['pos_f1']:.3f}) | complaint F1 {row['complaint_f1']:.3f} "
              f"(P {row['complaint_p']:.2f} R {row['complaint_r']:.2f})", flush=True)
        return row

    shipped = zh.ZhSentimentModel.fit(tr_t, tr_s, tr_c, C=shipped_C)
    ship_row = evaluate("SHIPPED: char 1-3-gram LR, CV-tuned rule", shipped)
    evaluate("  same, plain argmax and complaint p >= 0.5", shipped, plain=True)
    for C in (1.0, 3.0, 30.0, 100.0):
        if C != shipped_C:
            evaluate(f"  C={C}", zh.ZhSentimentModel.fit(tr_t, tr_s, tr_c, C=C))
    ms = []
    for text in ho_t * 2:
        start = time.perf_counter()
        shipped.predict_one(text)
        ms.append((time.perf_counter() - start) * 1000)
    ship_row.update(latency_p50_ms=round(float(np.percentile(ms, 50)), 3),
                    latency_p95_ms=round(float(np.percentile(ms, 95)), 3))
    print(f"[zh] predict_one latency p50 {ship_row['latency_p50_ms']} ms p95 {ship_row['latency_p95_ms']} ms", flush=True)

    if not args.no_english_baseline:  # what a Chinese message got before: the English scorer
        en = sm.train_from_csv(sd.DEFAULT_TRAIN_CSV)
        from bot.nlu.encoder import SentenceEncoder

        p, pc, idx = en.predict_arrays(SentenceEncoder.get().encode(list(ho_t)), ho_t)
        pred = [sd.LABELS[i] for i in idx]
        row = {"candidate": "BEFORE: English MiniLM+VADER scorer on Chinese", **scores(ho_s, pred, c,
               (pc >= en.complaint_threshold).astype(int))}
        rows.append(row)
        print(f"[zh] {row['candidate']:44s} acc {row['accuracy']:.3f} macro-F1 {row['macro_f1']:.3f} (neg "
              f"{row['neg_f1']:.3f} neu {row['neu_f1']:.3f} pos {row['pos_f1']:.3f}) | complaint F1 "
              f"{row['complaint_f1']:.3f}", flush=True)
    out = {"seed": SEED, "train_rows": len(tr_t), "train_labels": dict(Counter(tr_s)), "holdout": str(args.holdout),
           "holdout_rows": len(ho_t), "holdout_labels": dict(Counter(ho_s)), "cv_grid": grid,
           "cv_pick": pick["C"], "component_C_zh": shipped_C, "rows": rows, "load_avg": os.getloadavg(),
           "seconds": round(time.time() - t0, 1)}
    Path(args.zh_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.zh_out).write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"[zh] wrote {args.zh_out} in {time.time() - t0:.0f} s")
    return out
