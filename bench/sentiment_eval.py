"""What the sentiment benchmark (bench/sentiment.py) measures on: the data sets (loaded, deduplicated, split),
the MiniLM vectors of their texts (cached on disk), and the measures both of its sections report (F1 per class,
latency). The data sets live outside the repository (``--data``, ../shared/data by default); their licences
are in the benchmark's docstring."""
from __future__ import annotations

import csv
import hashlib
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

SEED = 13
LABELS = ["negative", "neutral", "positive"]


# ----------------------------------------------------------------------------- data

def load_airline(root: Path) -> Tuple[List[str], List[str], Dict[str, int]]:
    rows = list(csv.DictReader(open(root / "airline" / "Tweets.csv", encoding="utf-8")))
    stats = {"rows": len(rows)}
    by_id: Dict[str, List[dict]] = defaultdict(list)
    for r in rows:
        by_id[r["tweet_id"]].append(r)
    stats["unique_ids"] = len(by_id)
    kept = [g[0] for g in by_id.values() if len({r["airline_sentiment"] for r in g}) == 1]
    stats["id_groups_disagreeing_dropped"] = len(by_id) - len(kept)
    by_text: Dict[str, List[dict]] = defaultdict(list)
    for r in kept:
        by_text[r["text"].strip()].append(r)
    kept2 = [g[0] for g in by_text.values() if len({r["airline_sentiment"] for r in g}) == 1]
    stats["text_dupes_merged"] = len(kept) - len(by_text)
    stats["text_groups_disagreeing_dropped"] = len(by_text) - len(kept2)
    stats["kept"] = len(kept2)
    return [r["text"] for r in kept2], [r["airline_sentiment"] for r in kept2], stats


def load_complaints(root: Path) -> Tuple[List[str], np.ndarray]:
    rows = list(csv.reader(open(root / "complaints_twitter" / "complaints-data.csv", encoding="utf-8")))
    return [r[1] for r in rows], np.array([int(r[2]) for r in rows])


def load_sst2(root: Path) -> Tuple[List[str], np.ndarray]:
    rows = list(csv.DictReader(open(root / "sst2" / "dev.tsv", encoding="utf-8"), delimiter="\t"))
    return [r["sentence"].strip() for r in rows], np.array([int(r["label"]) for r in rows])


def load_bitext(root: Path) -> Tuple[List[str], np.ndarray]:
    path = root / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    return [r["instruction"] for r in rows], np.array([int(r["intent"] == "complaint") for r in rows])


def airline_split(root: Path) -> Tuple[List[str], List[str], np.ndarray, np.ndarray, Dict[str, int]]:
    """The deduplicated airline tweets split 50/50 (stratified, seed 13): dev_t, test_t, dev_y, test_y, stats."""
    texts, labels, dstats = load_airline(root)
    dev_t, test_t, dev_y, test_y = train_test_split(texts, labels, test_size=0.5, random_state=SEED,
                                                    stratify=labels)
    return dev_t, test_t, np.array(dev_y), np.array(test_y), dstats


# ----------------------------------------------------------------------------- features

def embed(texts: Sequence[str], cache: Path) -> np.ndarray:
    from bot.nlu.encoder import SentenceEncoder

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache / f"minilm_{key}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.time()
    vecs = SentenceEncoder.get().encode(list(texts)).astype(np.float32)
    print(f"[bench] embedded {len(texts)} texts in {time.time() - t0:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


# ----------------------------------------------------------------------------- measures

def three_way(score: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A polarity score (higher = more positive) to negative / neutral / positive."""
    return np.where(score <= lo, "negative", np.where(score >= hi, "positive", "neutral"))


def sent_metrics(y: Sequence[str], pred: Sequence[str]) -> Dict[str, float]:
    f1 = f1_score(y, pred, labels=LABELS, average=None)
    return {"neg_f1": float(f1[0]), "neu_f1": float(f1[1]), "pos_f1": float(f1[2]),
            "macro_f1": float(np.mean(f1)), "accuracy": float(np.mean(np.asarray(y) == np.asarray(pred)))}


def latency(fn: Callable[[str], object], texts: Sequence[str]) -> Dict[str, float]:
    for t in texts[:10]:
        fn(t)
    ms = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        ms.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


