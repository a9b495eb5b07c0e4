"""The sentiment scorer's training data: ``bot/nlu/sentiment/train.csv`` (written for this project, see its
README; ``text,sentiment,complaint`` rows, checked line by line), optionally plus Bitext customer-support
requests (CDLA-Sharing-1.0) as extra neutral, non-complaint examples (``load_bitext_neutral``), and the digest
that says which data a model was trained on. The model itself: bot/nlu/sentiment_model.py."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

LABELS: Tuple[str, str, str] = ("negative", "neutral", "positive")
DEFAULT_TRAIN_CSV = Path(__file__).resolve().parent / "sentiment" / "train.csv"
# Bitext intents that are not plain neutral requests: their texts report a problem or an opinion.
BITEXT_EXCLUDED_INTENTS = frozenset(
    {"complaint", "payment_issue", "registration_problems", "review", "track_refund"}
)
BITEXT_CSV = Path("bitext_customer_support") / "Bitext_Sample_Customer_Support_Training_Dataset.csv"

PathLike = Union[str, Path]


class SentimentDataError(ValueError):
    """A training CSV is malformed; the message names the file and line."""


# ----------------------------------------------------------------------------- data

def load_training_csv(path: PathLike = DEFAULT_TRAIN_CSV) -> Tuple[List[str], List[str], List[int]]:
    """Reads ``text,sentiment,complaint`` rows; returns (texts, sentiment labels, complaint 0/1).

    Raises ``SentimentDataError`` naming the file and line for a wrong header, an empty text,
    an unknown sentiment, a complaint value other than 0/1, or a duplicate text.
    """
    path = Path(path)
    texts: List[str] = []
    sentiments: List[str] = []
    complaints: List[int] = []
    seen: Dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["text", "sentiment", "complaint"]:
            raise SentimentDataError(f"{path}:1: header must be 'text,sentiment,complaint', got {header!r}")
        start = reader.line_num
        for row in reader:
            line = start + 1
            start = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 3:
                raise SentimentDataError(f"{path}:{line}: expected 3 fields (text,sentiment,complaint), "
                                         f"got {len(row)}: {row!r}")
            text, sentiment, complaint = row[0].strip(), row[1].strip(), row[2].strip()
            if not text:
                raise SentimentDataError(f"{path}:{line}: empty text")
            if sentiment not in LABELS:
                raise SentimentDataError(f"{path}:{line}: sentiment must be one of {', '.join(LABELS)}, "
                                         f"got {sentiment!r}")
            if complaint not in ("0", "1"):
                raise SentimentDataError(f"{path}:{line}: complaint must be 0 or 1, got {complaint!r}")
            key = " ".join(text.lower().split())
            if key in seen:
                raise SentimentDataError(f"{path}:{line}: duplicate text (first on line {seen[key]}): {text!r}")
            seen[key] = line
            texts.append(text)
            sentiments.append(sentiment)
            complaints.append(int(complaint))
    if not texts:
        raise SentimentDataError(f"{path}: no rows")
    return texts, sentiments, complaints


def load_bitext_neutral(data_root: PathLike, limit: int = 500, seed: int = 13) -> List[str]:
    """Up to ``limit`` Bitext requests (CDLA-Sharing-1.0) usable as neutral, non-complaint examples.

    Intents that report a problem or an opinion are left out (``BITEXT_EXCLUDED_INTENTS``), and
    so are rows tagged ``W`` (offensive wording). Returns [] if the file is not there.
    """
    path = Path(data_root) / BITEXT_CSV
    if not path.exists():
        return []
    rows = [r for r in csv.DictReader(path.open(encoding="utf-8"))
            if r["intent"] not in BITEXT_EXCLUDED_INTENTS and "W" not in r.get("tags", "")]
    texts = sorted({r["instruction"].strip() for r in rows if r["instruction"].strip()})
    rng = np.random.default_rng(seed)
    if len(texts) > limit:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), limit, replace=False))]
    return texts


def file_digest(*paths: Optional[PathLike]) -> str:
    """A short sha256 over the given files' bytes (missing or None paths count as empty)."""
    h = hashlib.sha256()
    for p in paths:
        if p is not None and Path(p).exists():
            h.update(Path(p).read_bytes())
        h.update(b"\x00")
    return h.hexdigest()[:16]


