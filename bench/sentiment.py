"""Sentiment and complaint-detection benchmark.

    python -m bench.sentiment [--shipped] [--baselines] [--data ../shared/data] [--cache /tmp/sent/cache]
    python -m bench.sentiment --lang zh [--holdout bench/sentiment_zh_holdout.csv]   (bench/sentiment_zh.py)

``--shipped`` (the default): the shipped model, bot/nlu/sentiment_model.py trained on
bot/nlu/sentiment/train.csv (``run_shipped``; writes ``--shipped-out``). ``--baselines``: the
earlier candidates below (bench/sentiment_baselines.py, ~7 min); writes ``--out``. Data sets, vectors
and measures: bench/sentiment_eval.py.

Airline tweets (CC BY-NC-SA 4.0, evaluation only): deduplicated by tweet id and by exact text
(groups whose labels disagree are dropped), split once 50/50 with seed 13 (stratified) into
dev and test. Every candidate is scored on the test part only. Models marked "reference" are
trained on the airline dev part: they show what in-domain training would reach and may NOT be
shipped (the licence allows evaluation, not a shipped model trained on it).

Complaints (Preotiuc-Pietro et al. 2019, no licence stated: research use): zero-shot candidates
are scored on all 3,449 tweets; models trained on it are scored by 5-fold stratified
cross-validation (seed 13) and are research references, not shippable.

Latency: one text at a time (not batched), p50/p95 over 300 airline test tweets, in ms.
"MiniLM head" = only the classifier on a MiniLM vector already computed by the NLU pipeline.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from bench.sentiment_eval import SEED, airline_split, embed, load_complaints, sent_metrics, three_way


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--cache", default=os.environ.get("SENT_CACHE", "/tmp/sent/cache"))
    ap.add_argument("--out", default="results/bench/sentiment.json", help="output of --baselines")
    ap.add_argument("--shipped-out", default="results/bench/sentiment_shipped.json", help="output of --shipped")
    ap.add_argument("--latency-n", type=int, default=300)
    ap.add_argument("--shipped", action="store_true",
                    help="the shipped model (bot/nlu/sentiment_model.py); the default when no section is named")
    ap.add_argument("--baselines", action="store_true",
                    help="the earlier candidates (VADER, AFINN, SST-2 and airline-trained references; ~7 min)")
    ap.add_argument("--lang", choices=("en", "zh"), default="en",
                    help="zh: the Chinese scorer on a Chinese hold-out file (bench/sentiment_zh.py)")
    ap.add_argument("--holdout", default=None, help="--lang zh: the hold-out CSV (text,sentiment,complaint)")
    ap.add_argument("--zh-out", default="results/bench/sentiment_zh.json", help="output of --lang zh")
    ap.add_argument("--no-english-baseline", action="store_true",
                    help="--lang zh: skip the English scorer on the Chinese rows (needs the MiniLM encoder)")
    args = ap.parse_args()
    if args.lang == "zh":
        from bench.sentiment_zh import DEFAULT_HOLDOUT, run_zh

        args.holdout = args.holdout or str(DEFAULT_HOLDOUT)
        run_zh(args)
        return
    if args.baselines:
        from bench.sentiment_baselines import run_baselines

        run_baselines(args)
    if args.shipped or not args.baselines:
        run_shipped(args)


# ----------------------------------------------------------------------------- shipped model

def _cv_grid(X: np.ndarray, y: np.ndarray, c: np.ndarray, Cs: Sequence[float],
             weights: Sequence[object]) -> List[dict]:
    """5-fold x 2 repeats CV on OUR training data: macro-F1 (argmax) and complaint F1 (p >= 0.5)."""
    from bot.nlu.sentiment_model import _fit_heads

    rows = []
    for cw in weights:
        for C in Cs:
            fs, cfs = [], []
            for rep in range(2):
                for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED + rep).split(X, y):
                    m, s = X[tr].mean(0), X[tr].std(0)
                    s = np.where(s < 1e-8, 1.0, s)
                    sw, sb, cw_, cb = _fit_heads((X[tr] - m) / s, y[tr], c[tr], C, cw, SEED)
                    z = (X[te] - m) / s
                    fs.append(f1_score(y[te], np.argmax(z @ sw.T + sb, 1), average="macro"))
                    cfs.append(f1_score(c[te], (z @ cw_ + cb > 0).astype(int)))
            rows.append({"C": C, "class_weight": cw, "cv_macro_f1": float(np.mean(fs)),
                         "cv_macro_f1_se": float(np.std(fs) / np.sqrt(len(fs))),
                         "cv_complaint_f1": float(np.mean(cfs))})
            print(f"[shipped] CV on train.csv  C={C:<6} class_weight={str(cw):8s} macro-F1 "
                  f"{rows[-1]['cv_macro_f1']:.4f} ± {rows[-1]['cv_macro_f1_se']:.4f}  complaint F1 "
                  f"{rows[-1]['cv_complaint_f1']:.4f}", flush=True)
    return rows


def run_shipped(args: argparse.Namespace) -> None:
    """The shipped scorer: trained on bot/nlu/sentiment/train.csv only; airline test + complaints zero-shot."""
    from sklearn.metrics import precision_score, recall_score

    from bot.nlu import sentiment_data as sd
    from bot.nlu import sentiment_model as sm

    root, cache = Path(args.data), Path(args.cache)
    t_start = time.time()
    dev_t, test_t, dev_y, test_y, dstats = airline_split(root)
    c_t, c_y = load_complaints(root)
    tr_t, tr_s, tr_c = sd.load_training_csv(sd.DEFAULT_TRAIN_CSV)
    print(f"[shipped] train.csv {len(tr_t)} rows {dict(Counter(tr_s))}, complaints {sum(tr_c)}; "
          f"airline test {len(test_t)}; complaints_twitter {len(c_t)}", flush=True)
    E_tr, E_test, E_c = embed(tr_t, cache), embed(test_t, cache), embed(c_t, cache)
    X_test, X_c = sm.features(E_test, test_t), sm.features(E_c, c_t)

    # 1. C and class weight: CV on OUR data only; the one-standard-error rule picks the smallest C
    #    whose CV macro-F1 is within one SE of the best (the stronger-regularised model).
    X_tr = sm.features(E_tr, tr_t)
    y_tr, c_tr = np.array([sd.LABELS.index(s) for s in tr_s]), np.array(tr_c)
    grid = _cv_grid(X_tr, y_tr, c_tr, (0.003, 0.01, 0.03, 0.1, 0.3, 1.0), (None, "balanced"))
    best = max(grid, key=lambda r: r["cv_macro_f1"])
    within = [r for r in grid if r["cv_macro_f1"] >= best["cv_macro_f1"] - best["cv_macro_f1_se"]
              and r["class_weight"] == best["class_weight"]]
    pick = min(within, key=lambda r: r["C"])
    print(f"[shipped] CV pick (1-SE rule): C={pick['C']} class_weight={pick['class_weight']}", flush=True)

    from bot.nlu.sentiment import SentimentScorer

    defaults = SentimentScorer.get_default_config()
    if (defaults["C"], defaults["class_weight"]) != (pick["C"], pick["class_weight"]):
        print(f"[shipped] NOTE: the component default (C={defaults['C']}, class_weight="
              f"{defaults['class_weight']}) differs from the CV pick", flush=True)

    rows: List[dict] = []

    def evaluate(name: str, model: "sm.SentimentModel", note: str = "", decision: str = "tuned") -> dict:
        z = X_test @ model.sent_coef.T + model.sent_intercept
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        off = model.offsets if decision == "tuned" else np.zeros(3)
        pred = np.array(sd.LABELS)[np.argmax(np.log(np.maximum(p, 1e-12)) + off, 1)]
        pc = 1 / (1 + np.exp(-(X_c @ model.compl_coef + model.compl_intercept)))
        thr = model.complaint_threshold if decision == "tuned" else 0.5
        cp = (pc >= thr).astype(int)
        zc = X_c @ model.sent_coef.T + model.sent_intercept
        neg_c = (np.argmax(zc - zc.max(1, keepdims=True) + (off if decision == "tuned" else 0), 1) == 0)
        row = {"candidate": name, "note": note, "decision": decision, **sent_metrics(test_y, pred),
               "complaint_f1": float(f1_score(c_y, cp)), "complaint_p": float(precision_score(c_y, cp)),
               "complaint_r": float(recall_score(c_y, cp)),
               "complaint_f1_pred_negative": float(f1_score(c_y, neg_c.astype(int))),
               "complaint_threshold": thr, "offsets": [float(o) for o in off],
               "C": model.meta["C"], "class_weight": model.meta["class_weight"], "cv": model.meta.get("cv")}
        rows.append(row)
        print(f"[shipped] {name:46s} neg {row['neg_f1']:.3f} neu {row['neu_f1']:.3f} pos {row['pos_f1']:.3f} "
              f"macro {row['macro_f1']:.3f} | complaint F1 {row['complaint_f1']:.3f} "
              f"(P {row['complaint_p']:.2f} R {row['complaint_r']:.2f}, thr {thr:.3f}; as negative "
              f"{row['complaint_f1_pred_negative']:.3f})", flush=True)
        return row

    def fit(**kw) -> "sm.SentimentModel":
        kw = {"C": defaults["C"], "class_weight": defaults["class_weight"],
              "text_feature_weight": defaults["text_feature_weight"], **kw}
        return sm.SentimentModel.fit(E_tr, tr_t, tr_s, tr_c, **kw)

    # 2. VADER alone, for comparison (same test part)
    V_test, V_c = X_test[:, -len(sm.FEATURE_NAMES):], X_c[:, -len(sm.FEATURE_NAMES):]
    vader_pred = three_way(V_test[:, 3], -0.05, 0.05)
    vrow = {"candidate": "VADER alone (±0.05)", **sent_metrics(test_y, vader_pred),
            "complaint_f1": float(f1_score(c_y, (V_c[:, 3] <= -0.05).astype(int)))}
    rows.append(vrow)
    print(f"[shipped] {vrow['candidate']:46s} neg {vrow['neg_f1']:.3f} neu {vrow['neu_f1']:.3f} "
          f"pos {vrow['pos_f1']:.3f} macro {vrow['macro_f1']:.3f} | complaint F1 {vrow['complaint_f1']:.3f}")

    # 3. the shipped model (component defaults) and its decision rule
    shipped = fit()
    ship_row = evaluate("SHIPPED: MiniLM+VADER LR, CV-tuned rule", shipped,
                        "component defaults; offsets + complaint threshold by 5-fold CV on train.csv")
    evaluate("  same, plain argmax and complaint p >= 0.5", shipped, decision="plain")
    # 4. variants (reported, not used for any choice)
    other_cw = "balanced" if defaults["class_weight"] is None else None
    evaluate(f"  class_weight={other_cw}", fit(class_weight=other_cw))
    for C in (0.003, 0.03, 0.1, 1.0):
        evaluate(f"  C={C}", fit(C=C))
    evaluate("  VADER/surface features weighted x3", fit(text_feature_weight=3.0))
    bt = sd.load_bitext_neutral(root, 500)
    if bt:
        E_bt = embed(bt, cache)
        m_bt = sm.SentimentModel.fit(np.vstack([E_tr, E_bt]), tr_t + bt, tr_s + ["neutral"] * len(bt),
                                     tr_c + [0] * len(bt), C=defaults["C"], class_weight=defaults["class_weight"])
        evaluate(f"  + {len(bt)} Bitext requests as neutral", m_bt)

    # 5. latency: the component's process() on one message at a time (vector already on the message),
    #    and with encoding (no vector on the message: the component encodes the text itself)
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    comp = SentimentScorer({}, model_storage=None, resource=None, model=shipped)
    lat_idx = range(min(args.latency_n, len(test_t)))

    def timed(with_vector: bool) -> Dict[str, float]:
        msgs = []
        for i in lat_idx:
            m = Message(data={TEXT: test_t[i]})
            if with_vector:
                m.add_features(Features(E_test[i:i + 1], FEATURE_TYPE_SENTENCE, TEXT,
                                        "run_bot.nlu.sentence_featurizer.SentenceEmbeddingFeaturizer1"))
            msgs.append(m)
        for m in msgs[:10]:  # warm-up (VADER lexicon, encoder load)
            comp.process([Message(data={TEXT: m.get(TEXT)})] if not with_vector else [m])
        ms = []
        for m in msgs:
            t0 = time.perf_counter()
            comp.process([m])
            ms.append((time.perf_counter() - t0) * 1000)
        assert all(m.get("sentiment") for m in msgs)
        return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}

    lat_vec, lat_enc = timed(True), timed(False)
    print(f"[shipped] latency, process() with the vector on the message: p50 {lat_vec['p50_ms']:.3f} "
          f"p95 {lat_vec['p95_ms']:.3f} ms; encoding itself: p50 {lat_enc['p50_ms']:.2f} "
          f"p95 {lat_enc['p95_ms']:.2f} ms ({len(lat_idx)} messages)", flush=True)
    ship_row.update({"latency_vector_" + k: v for k, v in lat_vec.items()})
    ship_row.update({"latency_encode_" + k: v for k, v in lat_enc.items()})

    out = {"seed": SEED, "train_csv": str(sd.DEFAULT_TRAIN_CSV.relative_to(Path.cwd()))
           if sd.DEFAULT_TRAIN_CSV.is_relative_to(Path.cwd()) else str(sd.DEFAULT_TRAIN_CSV),
           "train_rows": len(tr_t), "train_labels": dict(Counter(tr_s)), "train_complaints": int(sum(tr_c)),
           "airline": {**dstats, "test": len(test_t), "test_labels": dict(Counter(test_y.tolist()))},
           "complaints": {"n": len(c_y), "complaints": int(c_y.sum())},
           "targets": {"neg_f1": 0.85, "macro_f1": 0.78, "complaint_f1": 0.80, "p95_ms": 2.0},
           "cv_grid": grid, "cv_pick": {"C": pick["C"], "class_weight": pick["class_weight"]},
           "component_defaults": {k: defaults[k] for k in ("C", "class_weight", "text_feature_weight")},
           "rows": rows, "latency": {"vector": lat_vec, "encode": lat_enc, "n": len(lat_idx)},
           "load_avg": os.getloadavg(), "seconds": round(time.time() - t_start, 1)}
    Path(args.shipped_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.shipped_out).write_text(json.dumps(out, indent=2))
    print(f"[shipped] wrote {args.shipped_out} in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
