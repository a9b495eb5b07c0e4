"""Pure helpers: how far a message is from everything the assistant was trained on.

Why: a calibrated softmax says which known intent fits a message best, not whether
any fits. A message about something no intent covers can still get a confident
top intent (the softmax only compares intents). The distance from the message's
sentence vector to its nearest training example adds what the softmax cannot see.

The scale is set by the training data itself: ``reference`` is a low quantile of the
nearest-neighbour similarity of training examples to the *other* training examples
(leave-one-out), i.e. how close a genuine new in-scope message typically gets. A
message as close as that keeps its confidence (factor ~1); further away the factor
falls smoothly to 0, so the FallbackClassifier threshold turns it into nlu_fallback.
"""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity becomes a dot product)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_similarity(queries: np.ndarray, memory: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Cosine similarity of each (unit) query row to its nearest (unit) memory row."""
    if len(memory) == 0:
        return np.zeros(len(queries), dtype=np.float32)
    out = np.empty(len(queries), dtype=np.float32)
    for s in range(0, len(queries), chunk):
        out[s : s + chunk] = (queries[s : s + chunk] @ memory.T).max(axis=1)
    return out


def leave_one_out_similarity(memory: np.ndarray, max_rows: int = 3000, seed: int = 0) -> np.ndarray:
    """Nearest-neighbour similarity of (up to max_rows sampled) memory rows to the other rows."""
    n = len(memory)
    if n < 2:
        return np.zeros(0, dtype=np.float32)
    rows = np.random.RandomState(seed).permutation(n)[:max_rows] if n > max_rows else np.arange(n)
    out = np.empty(len(rows), dtype=np.float32)
    for s in range(0, len(rows), 1024):
        idx = rows[s : s + 1024]
        sims = memory[idx] @ memory.T
        sims[np.arange(len(idx)), idx] = -1.0
        out[s : s + 1024] = sims.max(axis=1)
    return out


def reference_similarity(memory: np.ndarray, quantile: float, fallback: float) -> float:
    """The ``quantile`` of leave-one-out similarities; ``fallback`` when there are too few rows."""
    loo = leave_one_out_similarity(memory)
    return float(np.quantile(loo, quantile)) if len(loo) >= 10 else fallback


def in_scope_factor(similarity: np.ndarray, reference: float, slope: float) -> np.ndarray:
    """A factor in (0, 1]: ~1 at or above ``reference``, falling off below it (logistic)."""
    z = slope * (np.asarray(similarity, dtype=np.float64) - reference)
    return np.minimum(1.0, 2.0 / (1.0 + np.exp(-z)))


def explicit_oos_probabilities(
    scores: np.ndarray,
    oos_cols: np.ndarray,
    temperature: float,
    in_scope_temperature: float,
    offset: float,
    factor: np.ndarray,
) -> np.ndarray:
    """Confidences when some intents stand for "out of scope" (e.g. ``out_of_scope``).

    Why: trained as one more intent among many, the out-of-scope class takes in-scope
    messages and flattens every in-scope confidence (its examples are negatives for all
    of them), so the fallback threshold rejects in-scope messages too. Here it acts as a
    gate instead: the out-of-scope intents win only if they still top the full softmax
    after ``offset`` is subtracted from their logits (chosen on validation data). Otherwise
    the in-scope intents get their own softmax (temperature fitted on held-out in-scope
    examples, out-of-scope columns left out) times the distance ``factor``; the
    out-of-scope intents keep their full-softmax confidence (times the factor) in the ranking.
    """
    logits = temperature * np.asarray(scores, dtype=np.float64)
    logits[:, oos_cols] -= offset
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    full = e / e.sum(axis=1, keepdims=True)
    gate = np.isin(full.argmax(axis=1), oos_cols)
    in_cols = np.setdiff1d(np.arange(scores.shape[1]), oos_cols)
    z = in_scope_temperature * np.asarray(scores, dtype=np.float64)[:, in_cols]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out = np.empty_like(full)
    out[:, in_cols] = e / e.sum(axis=1, keepdims=True)
    out[:, oos_cols] = full[:, oos_cols]
    out *= np.asarray(factor, dtype=np.float64)[:, None]
    out[gate] = full[gate]  # the out-of-scope intent tops these rows, as trained
    return out
