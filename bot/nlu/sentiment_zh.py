"""Sentiment and complaint scorer for Chinese turns: character n-grams + two linear heads.

Why not the English model: its features are the all-MiniLM-L6-v2 vector (trained on English; Chinese text
comes out as mostly unknown word pieces) and VADER (an English word list): on Chinese they carry next to no
signal (bench/sentiment_zh.py measures it). Chinese has no spaces and a few characters carry the polarity
(差, 慢, 坏, 退款, 谢谢, 满意), so character 1-3-grams with TF-IDF weights and a logistic regression work well
on small data, with no extra dependency and no word segmentation.

Same output as ``bot.nlu.sentiment_model.SentimentModel`` (label, score, probabilities, complaint, model), same
decision rule chosen by k-fold CV on the training data (class offsets, complaint threshold), same storage idea:
one ``.npz`` with plain arrays (the n-gram vocabulary as a unicode array) and a JSON string, no pickle. The
TF-IDF weighting is recomputed here at prediction time, so scikit-learn is needed for fitting only.

Training data: ``bot/nlu/sentiment/train_zh.csv`` (written for this project, see the README next to it).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from bot.nlu.sentiment_data import LABELS
from bot.nlu.sentiment_model import _sigmoid, _softmax, tune_offsets, tune_threshold

MODEL_NAME = "zh-char-lr"
MODEL_VERSION = 1
DEFAULT_TRAIN_CSV_ZH = Path(__file__).resolve().parent / "sentiment" / "train_zh.csv"
NGRAMS = (1, 3)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_DIGITS = re.compile(r"[0-9]+")
_SPACES = re.compile(r"\s+")

PathLike = Union[str, Path]


def is_chinese(text: str) -> bool:
    """True when the Chinese scorer should read ``text``: it holds Han characters and they are not a few words
    inside an English sentence (at least one Han character per three Latin letters: "app闪退了" is Chinese,
    "I bought a 手机 and it broke" is not)."""
    han = len(_HAN.findall(text or ""))
    return han > 0 and 3 * han >= len(_LATIN.findall(text))


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, runs of digits as one "0" (order numbers and prices say
    nothing about the mood), single spaces."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _SPACES.sub(" ", _DIGITS.sub("0", text)).strip()


def char_ngrams(text: str, low: int = NGRAMS[0], high: int = NGRAMS[1]) -> List[str]:
    """The character n-grams (``low``..``high``) of the normalised text, with start/end markers."""
    padded = f"\x02{normalise(text)}\x03"
    out = []
    for n in range(low, high + 1):
        out.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return [g for g in out if g not in ("\x02", "\x03")]


def _tfidf_rows(texts: Sequence[str], index: Dict[str, int], idf: np.ndarray) -> np.ndarray:
    """Dense TF-IDF rows, sublinear tf and L2 norm, as scikit-learn's TfidfVectorizer computes them."""
    x = np.zeros((len(texts), len(idf)))
    for row, text in enumerate(texts):
        counts: Dict[int, int] = {}
        for gram in char_ngrams(text):
            j = index.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        for j, count in counts.items():
            x[row, j] = (1.0 + math.log(count)) * idf[j]
        norm = np.linalg.norm(x[row])
        if norm > 0:
            x[row] /= norm
    return x


def _fit_heads(x: Any, y: np.ndarray, c: np.ndarray, C: float, seed: int) -> Tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    sent = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(x, y)
    order = [list(sent.classes_).index(i) for i in range(len(LABELS))]
    if len(set(c.tolist())) > 1:
        comp = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(x, c)
        cw, cb = comp.coef_[0], float(comp.intercept_[0])
    else:
        cw, cb = np.zeros(x.shape[1]), (10.0 if c[0] == 1 else -10.0)
    return sent.coef_[order], sent.intercept_[order], cw, cb


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=1)


@dataclass
class ZhSentimentModel:
    """Fitted vocabulary, IDF weights, heads and decision rule. Build with ``fit`` or ``load``."""

    vocabulary: List[str]
    idf: np.ndarray
    sent_coef: np.ndarray  # (3, V)
    sent_intercept: np.ndarray  # (3,)
    compl_coef: np.ndarray  # (V,)
    compl_intercept: float
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(3))
    complaint_threshold: float = 0.5
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {gram: i for i, gram in enumerate(self.vocabulary)}

    @property
    def name(self) -> str:
        """Short model name + version, e.g. ``zh-char-lr/1``."""
        return f"{MODEL_NAME}/{self.meta.get('version', MODEL_VERSION)}"

    @classmethod
    def fit(cls, texts: Sequence[str], sentiments: Sequence[str], complaints: Sequence[int], C: float = 30.0,
            tune: bool = True, folds: int = 5, seed: int = 13,
            meta: Optional[Dict[str, Any]] = None) -> "ZhSentimentModel":
        """Fits the vectoriser and both heads; with ``tune``, the offsets and threshold by k-fold CV."""
        y = np.array([LABELS.index(s) for s in sentiments])
        c = np.asarray(complaints, dtype=int)
        offsets, threshold, cv = np.zeros(3), 0.5, {}
        if tune and len(set(y.tolist())) == 3 and np.bincount(y).min() >= folds:
            from sklearn.metrics import f1_score
            from sklearn.model_selection import StratifiedKFold

            log_p, p_c = np.zeros((len(y), 3)), np.zeros(len(y))
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
                vec = _vectorizer()
                x_tr = vec.fit_transform([texts[i] for i in tr])
                x_te = vec.transform([texts[i] for i in te])
                sw, sb, cw, cb = _fit_heads(x_tr, y[tr], c[tr], C, seed)
                log_p[te] = np.log(np.maximum(_softmax(np.asarray(x_te @ sw.T) + sb), 1e-12))
                p_c[te] = _sigmoid(np.asarray(x_te @ cw).ravel() + cb)
            offsets = tune_offsets(log_p, y)
            threshold = tune_threshold(p_c, c) if 0 < c.sum() < len(c) else 0.5
            cv = {"macro_f1_argmax": round(float(f1_score(y, log_p.argmax(1), average="macro")), 4),
                  "macro_f1_tuned": round(float(f1_score(y, (log_p + offsets).argmax(1), average="macro")), 4)}
            if 0 < c.sum() < len(c):
                cv["complaint_f1_tuned"] = round(float(f1_score(c, (p_c >= threshold).astype(int))), 4)
        vec = _vectorizer()
        x = vec.fit_transform(list(texts))
        sw, sb, cw, cb = _fit_heads(x, y, c, C, seed)
        vocabulary = [""] * len(vec.vocabulary_)
        for gram, i in vec.vocabulary_.items():
            vocabulary[i] = gram
        info = {"version": MODEL_VERSION, "C": C, "n": int(len(y)), "ngrams": list(NGRAMS),
                "label_counts": {LABELS[i]: int((y == i).sum()) for i in range(3)}, "complaints": int(c.sum()),
                "tuned": bool(cv), "cv": cv, "seed": seed, "features": f"char {NGRAMS[0]}-{NGRAMS[1]}-grams tf-idf"}
        info.update(meta or {})
        return cls(vocabulary=vocabulary, idf=np.asarray(vec.idf_, dtype=np.float64), sent_coef=sw,
                   sent_intercept=sb, compl_coef=np.asarray(cw), compl_intercept=float(cb), offsets=offsets,
                   complaint_threshold=float(threshold), meta=info)

    def predict_arrays(self, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities (n, 3) in ``LABELS`` order, complaint probability (n,), label index (n,))."""
        x = _tfidf_rows(texts, self._index, self.idf)
        p = _softmax(x @ self.sent_coef.T + self.sent_intercept)
        pc = _sigmoid(x @ self.compl_coef + self.compl_intercept)
        idx = np.argmax(np.log(np.maximum(p, 1e-12)) + self.offsets, axis=1)
        return p, pc, idx

    def predict_one(self, text: str) -> Dict[str, Any]:
        """The result dict for one text, as ``SentimentModel.predict_one`` gives it."""
        p, pc, idx = self.predict_arrays([text])
        return {"label": LABELS[int(idx[0])], "score": float(min(1.0, max(-1.0, p[0, 2] - p[0, 0]))),
                "probabilities": {LABELS[i]: float(p[0, i]) for i in range(3)}, "complaint": float(pc[0]),
                "model": self.name}

    def save(self, path: PathLike) -> Path:
        """Writes one ``.npz`` (arrays + JSON meta); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "complaint_threshold": self.complaint_threshold}
        with path.open("wb") as fh:
            np.savez_compressed(fh, vocabulary=np.array(self.vocabulary, dtype=str), idf=self.idf,
                                sent_coef=self.sent_coef, sent_intercept=self.sent_intercept,
                                compl_coef=self.compl_coef, compl_intercept=np.array([self.compl_intercept]),
                                offsets=self.offsets, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: PathLike) -> "ZhSentimentModel":
        """Reads a model written by ``save`` (no pickle)."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(vocabulary=[str(g) for g in z["vocabulary"]], idf=z["idf"], sent_coef=z["sent_coef"],
                       sent_intercept=z["sent_intercept"], compl_coef=z["compl_coef"],
                       compl_intercept=float(z["compl_intercept"][0]), offsets=z["offsets"],
                       complaint_threshold=float(meta.pop("complaint_threshold")), meta=meta)


def train_from_csv(csv_path: PathLike = DEFAULT_TRAIN_CSV_ZH, **fit_kwargs: Any) -> ZhSentimentModel:
    """Loads a ``text,sentiment,complaint`` CSV (checked as the English one is) and fits."""
    from bot.nlu.sentiment_data import file_digest, load_training_csv

    texts, sentiments, complaints = load_training_csv(csv_path)
    meta = {"train_csv": Path(csv_path).name, "train_digest": file_digest(csv_path)}
    return ZhSentimentModel.fit(texts, sentiments, complaints, meta=meta, **fit_kwargs)
