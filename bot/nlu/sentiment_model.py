"""Sentiment (negative / neutral / positive) and complaint scorer for one user turn.

Pure Python + NumPy + scikit-learn (for fitting only); no Rasa imports, so the model can be
trained, measured and unit-tested on its own. ``bot/nlu/sentiment.py`` wraps it as a Rasa
component.

Features per text (``FEATURE_NAMES`` after the vector):
  * the 384-d all-MiniLM-L6-v2 sentence vector that ``SentenceEmbeddingFeaturizer`` already
    computes in the NLU pipeline (``bot/nlu/encoder.py``);
  * VADER polarity scores (neg, neu, pos, compound; vaderSentiment, MIT);
  * a few cheap surface cues: question mark, exclamation marks, share of capital letters.

Two scikit-learn ``LogisticRegression`` heads are fitted on standardised features: a 3-class
sentiment head and a binary complaint head. Only their weights are kept (the standardisation
is folded into them), so prediction is two small matrix products and needs no scikit-learn.
The decision rule (per-class offsets added to the log-probabilities, and the complaint
threshold) is chosen by cross-validation on the training data only.

Storage: one ``.npz`` file with plain float arrays and a JSON string (``allow_pickle=False``).

Training data and its loading: ``bot/nlu/sentiment_data.py``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from bot.nlu.sentiment_data import (DEFAULT_TRAIN_CSV, LABELS, PathLike, file_digest, load_bitext_neutral,
                                    load_training_csv)

MODEL_NAME = "minilm-vader-lr"
MODEL_VERSION = 1
FEATURE_NAMES: Tuple[str, ...] = (
    "vader_neg", "vader_neu", "vader_pos", "vader_compound", "question", "exclamations", "caps_share",
)

# ----------------------------------------------------------------------------- features

_VADER: Any = None
_LETTER = re.compile(r"[A-Za-z]")
_UPPER = re.compile(r"[A-Z]")
_HANDLE = re.compile(r"@\w+")


def _vader() -> Any:
    global _VADER
    if _VADER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _VADER = SentimentIntensityAnalyzer()
    return _VADER


def text_features(text: str) -> np.ndarray:
    """The non-vector features of one text, in ``FEATURE_NAMES`` order (float64)."""
    s = _vader().polarity_scores(text)
    bare = _HANDLE.sub("", text)
    letters = len(_LETTER.findall(bare))
    caps = len(_UPPER.findall(bare)) / letters if letters >= 4 else 0.0
    return np.array([s["neg"], s["neu"], s["pos"], s["compound"], float("?" in text),
                     min(text.count("!"), 3) / 3.0, caps], dtype=np.float64)


def features(vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Rows of [sentence vector, text features] for a batch."""
    vectors = np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)
    extra = np.vstack([text_features(t) for t in texts]) if texts else np.zeros((0, len(FEATURE_NAMES)))
    return np.hstack([vectors, extra])


# ----------------------------------------------------------------------------- model

def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _fit_heads(x: np.ndarray, y: np.ndarray, c: np.ndarray, C: float, class_weight: Optional[str],
               seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Fits both LR heads on standardised x; returns raw (sent_coef, sent_intercept, compl_coef, compl_b)."""
    from sklearn.linear_model import LogisticRegression

    sent = LogisticRegression(C=C, class_weight=class_weight, max_iter=5000, random_state=seed).fit(x, y)
    order = [list(sent.classes_).index(i) for i in range(len(LABELS))]
    if len(set(c.tolist())) > 1:
        comp = LogisticRegression(C=C, class_weight=class_weight, max_iter=5000, random_state=seed).fit(x, c)
        cw, cb = comp.coef_[0], float(comp.intercept_[0])
    else:  # a single class: a constant probability
        cw, cb = np.zeros(x.shape[1]), (10.0 if c[0] == 1 else -10.0)
    return sent.coef_[order], sent.intercept_[order], cw, cb


def tune_offsets(log_p: np.ndarray, y: np.ndarray, grid: Optional[np.ndarray] = None) -> np.ndarray:
    """Offsets (neg fixed at 0) added to log-probabilities that maximise macro-F1 on (y, log_p)."""
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(-1.5, 1.51, 0.1), 2) if grid is None else grid
    best, best_f = np.zeros(3), -1.0
    for a in grid:
        for b in grid:
            off = np.array([0.0, a, b])
            f = f1_score(y, np.argmax(log_p + off, axis=1), labels=[0, 1, 2], average="macro")
            # prefer smaller offsets on ties (closer to plain argmax)
            if f > best_f + 1e-9 or (abs(f - best_f) <= 1e-9 and np.abs(off).sum() < np.abs(best).sum()):
                best, best_f = off, f
    return best


def tune_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The complaint threshold in [0.1, 0.9] that maximises F1 of the positive class."""
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(0.1, 0.91, 0.025), 3)
    scores = [f1_score(y, (p >= t).astype(int), zero_division=0) for t in grid]
    best = float(np.max(scores))
    # middle of the best plateau
    ok = grid[np.array(scores) >= best - 1e-9]
    return float(ok[len(ok) // 2])


@dataclass
class SentimentModel:
    """Fitted weights and decision rule. Build with ``SentimentModel.fit``, or ``load``."""

    sent_coef: np.ndarray  # (3, d) on raw features (standardisation folded in)
    sent_intercept: np.ndarray  # (3,)
    compl_coef: np.ndarray  # (d,)
    compl_intercept: float
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(3))  # added to log-probabilities
    complaint_threshold: float = 0.5
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Short model name + version, e.g. ``minilm-vader-lr/1``."""
        return f"{MODEL_NAME}/{self.meta.get('version', MODEL_VERSION)}"

    @property
    def vector_dim(self) -> int:
        """Length of the sentence vector the model expects."""
        return int(self.sent_coef.shape[1] - len(FEATURE_NAMES))

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        texts: Sequence[str],
        sentiments: Sequence[str],
        complaints: Sequence[int],
        C: float = 0.01,
        class_weight: Optional[str] = None,
        text_feature_weight: float = 1.0,
        tune: bool = True,
        folds: int = 5,
        seed: int = 13,
        meta: Optional[Dict[str, Any]] = None,
    ) -> "SentimentModel":
        """Fits both heads; with ``tune``, picks offsets and the complaint threshold by k-fold CV.

        ``vectors``: (n, dim) sentence vectors of ``texts``; ``sentiments`` in ``LABELS``;
        ``complaints`` 0/1. Nothing but these arrays is used. After standardisation, the
        VADER and surface features are multiplied by ``text_feature_weight`` (so they are
        regularised less than the 384 vector dimensions when it is > 1).
        """
        if text_feature_weight <= 0:
            raise ValueError("text_feature_weight must be > 0")
        x = features(vectors, texts)
        y = np.array([LABELS.index(s) for s in sentiments])
        c = np.asarray(complaints, dtype=int)
        gain = np.ones(x.shape[1])
        gain[-len(FEATURE_NAMES):] = text_feature_weight

        def scale(rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            m, s = rows.mean(axis=0), rows.std(axis=0)
            return m, np.where(s < 1e-8, 1.0, s) / gain

        mu, sd = scale(x)
        offsets, threshold, cv = np.zeros(3), 0.5, {}
        if tune and len(set(y.tolist())) == 3 and np.bincount(y).min() >= folds:
            from sklearn.model_selection import StratifiedKFold

            log_p, p_c = np.zeros((len(y), 3)), np.zeros(len(y))
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
                m, s = scale(x[tr])
                sw, sb, cw, cb = _fit_heads((x[tr] - m) / s, y[tr], c[tr], C, class_weight, seed)
                z = (x[te] - m) / s
                log_p[te] = np.log(np.maximum(_softmax(z @ sw.T + sb), 1e-12))
                p_c[te] = _sigmoid(z @ cw + cb)
            offsets = tune_offsets(log_p, y)
            threshold = tune_threshold(p_c, c) if 0 < c.sum() < len(c) else 0.5
            cv = _cv_report(log_p, offsets, y, p_c, threshold, c)
        sw, sb, cw, cb = _fit_heads((x - mu) / sd, y, c, C, class_weight, seed)
        # fold the standardisation into the weights: w·((x-mu)/sd) + b = (w/sd)·x + (b - (w/sd)·mu)
        sent_coef = sw / sd
        compl_coef = cw / sd
        info = {"version": MODEL_VERSION, "C": C, "class_weight": class_weight,
                "text_feature_weight": text_feature_weight, "n": int(len(y)),
                "label_counts": {LABELS[i]: int((y == i).sum()) for i in range(3)},
                "complaints": int(c.sum()), "tuned": bool(cv), "cv": cv, "seed": seed,
                "features": ["sentence_vector"] + list(FEATURE_NAMES)}
        info.update(meta or {})
        return cls(sent_coef=sent_coef, sent_intercept=sb - sent_coef @ mu, compl_coef=compl_coef,
                   compl_intercept=float(cb - compl_coef @ mu), offsets=offsets,
                   complaint_threshold=float(threshold), meta=info)

    # ------------------------------------------------------------------ prediction
    def predict_arrays(self, vectors: np.ndarray, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities (n, 3) in ``LABELS`` order, complaint probability (n,), label index (n,))."""
        x = features(vectors, texts)
        p = _softmax(x @ self.sent_coef.T + self.sent_intercept)
        pc = _sigmoid(x @ self.compl_coef + self.compl_intercept)
        idx = np.argmax(np.log(np.maximum(p, 1e-12)) + self.offsets, axis=1)
        return p, pc, idx

    def predict(self, vectors: np.ndarray, texts: Sequence[str]) -> List[Dict[str, Any]]:
        """One result dict per text (see ``predict_one``)."""
        p, pc, idx = self.predict_arrays(vectors, texts)
        return [self._result(p[i], pc[i], idx[i]) for i in range(len(texts))]

    def predict_one(self, vector: np.ndarray, text: str) -> Dict[str, Any]:
        """The result dict for one text: label, score, probabilities, complaint, model.

        ``label`` applies the CV-tuned class offsets, so it can differ from the largest probability
        when two classes are close; ``score`` is p(positive) - p(negative) of the raw probabilities.
        """
        x = np.concatenate([np.asarray(vector, dtype=np.float64).ravel(), text_features(text)])
        p = _softmax(self.sent_coef @ x + self.sent_intercept)
        pc = float(_sigmoid(self.compl_coef @ x + self.compl_intercept))
        idx = int(np.argmax(np.log(np.maximum(p, 1e-12)) + self.offsets))
        return self._result(p, pc, idx)

    def is_complaint(self, complaint_probability: float) -> bool:
        """Applies the complaint threshold chosen at training time."""
        return complaint_probability >= self.complaint_threshold

    def _result(self, p: np.ndarray, pc: float, idx: int) -> Dict[str, Any]:
        return {
            "label": LABELS[int(idx)],
            "score": float(min(1.0, max(-1.0, p[2] - p[0]))),
            "probabilities": {LABELS[i]: float(p[i]) for i in range(3)},
            "complaint": float(pc),
            "model": self.name,
        }

    # ------------------------------------------------------------------ storage
    def save(self, path: PathLike) -> Path:
        """Writes one ``.npz`` (float arrays + a JSON string); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "complaint_threshold": self.complaint_threshold, "name": self.name}
        with path.open("wb") as fh:
            np.savez_compressed(fh, sent_coef=self.sent_coef, sent_intercept=self.sent_intercept,
                                compl_coef=self.compl_coef, compl_intercept=np.array([self.compl_intercept]),
                                offsets=self.offsets, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: PathLike) -> "SentimentModel":
        """Reads a model written by ``save`` (no pickle)."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(sent_coef=z["sent_coef"], sent_intercept=z["sent_intercept"], compl_coef=z["compl_coef"],
                       compl_intercept=float(z["compl_intercept"][0]), offsets=z["offsets"],
                       complaint_threshold=float(meta.pop("complaint_threshold")),
                       meta={k: v for k, v in meta.items() if k != "name"})


def _cv_report(log_p: np.ndarray, offsets: np.ndarray, y: np.ndarray, p_c: np.ndarray, thr: float,
               c: np.ndarray) -> Dict[str, float]:
    from sklearn.metrics import f1_score

    plain, tuned = np.argmax(log_p, axis=1), np.argmax(log_p + offsets, axis=1)
    out = {"macro_f1_argmax": f1_score(y, plain, average="macro"),
           "macro_f1_tuned": f1_score(y, tuned, average="macro"),
           "neg_f1_tuned": f1_score(y == 0, tuned == 0)}
    if 0 < c.sum() < len(c):
        out["complaint_f1_05"] = f1_score(c, (p_c >= 0.5).astype(int))
        out["complaint_f1_tuned"] = f1_score(c, (p_c >= thr).astype(int))
    return {k: round(float(v), 4) for k, v in out.items() if not math.isnan(v)}


def train_from_csv(
    csv_path: PathLike = DEFAULT_TRAIN_CSV,
    encode: Optional[Any] = None,
    bitext_root: Optional[PathLike] = None,
    bitext_limit: int = 500,
    **fit_kwargs: Any,
) -> SentimentModel:
    """Loads the CSV (plus Bitext neutrals if ``bitext_root`` holds them), encodes, fits.

    ``encode``: a function list[str] -> (n, dim) array; default ``SentenceEncoder.get().encode``.
    """
    texts, sentiments, complaints = load_training_csv(csv_path)
    n_bitext = 0
    if bitext_root is not None:
        known = {" ".join(t.lower().split()) for t in texts}
        extra = [t for t in load_bitext_neutral(bitext_root, bitext_limit) if " ".join(t.lower().split()) not in known]
        n_bitext = len(extra)
        texts, sentiments, complaints = texts + extra, sentiments + ["neutral"] * n_bitext, complaints + [0] * n_bitext
    if encode is None:
        from bot.nlu.encoder import SentenceEncoder

        encode = SentenceEncoder.get().encode
    vectors = np.asarray(encode(list(texts)), dtype=np.float64)
    meta = {"train_csv": Path(csv_path).name, "train_digest": file_digest(csv_path), "bitext_examples": n_bitext}
    return SentimentModel.fit(vectors, texts, sentiments, complaints, meta=meta, **fit_kwargs)
