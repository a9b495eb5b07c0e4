"""LinearIntentClassifier confidences mean the same on any training data.

An editor who adds an intent with a single example must not take the assistant down:
before, one such intent left the softmax uncalibrated (temperature 1) and every
confidence fell to ~1/n_intents, below the FallbackClassifier threshold.
Data here is synthetic: one dense sentence feature per message, intents as noisy
clusters, so each test is fast and shows what a threshold of 0.45 would do.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.calibration import fold_ids
from bot.nlu.linear_classifier import LinearIntentClassifier

THRESHOLD = 0.45  # the shipped FallbackClassifier threshold is of this order
DIM = 48


def message(vec: np.ndarray, intent: str | None = None) -> Message:
    m = Message(data={TEXT: "text", **({INTENT: intent} if intent else {})})
    m.add_features(Features(vec.reshape(1, -1).astype(np.float32), FEATURE_TYPE_SENTENCE, TEXT, "dense"))
    return m


def clusters(counts: Sequence[int], noise: float, seed: int = 0) -> Tuple[np.ndarray, List[Tuple[np.ndarray, str]]]:
    """Intent centres and noisy unit-length examples, counts[i] for intent i."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(size=(len(counts), DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows = []
    for i, n in enumerate(counts):
        for _ in range(n):
            v = centres[i] + noise * rng.normal(size=DIM) / np.sqrt(DIM)
            rows.append((v / np.linalg.norm(v), f"intent_{i}"))
    return centres, rows


def train(rows: List[Tuple[np.ndarray, str]], tmp_path, **config) -> LinearIntentClassifier:
    tmp_path.mkdir(parents=True, exist_ok=True)
    clf = LinearIntentClassifier.create({**LinearIntentClassifier.get_default_config(), **config},
                                        LocalModelStorage(tmp_path), Resource("clf"),
                                        ExecutionContext(GraphSchema({}), "test"))
    clf.train(TrainingData([message(v, y) for v, y in rows]))
    return clf


def parse(clf: LinearIntentClassifier, vecs: np.ndarray) -> List[Tuple[str, float]]:
    msgs = clf.process([message(v) for v in vecs])
    return [(m.get(INTENT)["name"], m.get(INTENT)["confidence"]) for m in msgs]


def queries(centres: np.ndarray, per_intent: int, noise: float, seed: int = 1) -> Tuple[np.ndarray, List[str]]:
    rng = np.random.RandomState(seed)
    vecs, gold = [], []
    for i, c in enumerate(centres):
        for _ in range(per_intent):
            v = c + noise * rng.normal(size=DIM) / np.sqrt(DIM)
            vecs.append(v / np.linalg.norm(v))
            gold.append(f"intent_{i}")
    return np.array(vecs), gold


def test_adding_an_intent_with_one_example_keeps_ordinary_messages_above_the_threshold(tmp_path):
    centres, rows = clusters([12] * 20 + [1], noise=0.8)
    clf = train(rows, tmp_path)
    vecs, gold = queries(centres[:20], 5, noise=0.8)
    out = parse(clf, vecs)
    answered = [name == g and conf >= THRESHOLD for (name, conf), g in zip(out, gold)]
    assert np.mean(answered) > 0.8
    # and the one-example intent is found for messages close to its example
    new = parse(clf, queries(centres[20:], 5, noise=0.5)[0])
    assert all(name == "intent_20" and conf >= THRESHOLD for name, conf in new)


def test_one_example_per_intent_answers_close_paraphrases(tmp_path):
    centres, rows = clusters([1] * 15, noise=0.3)
    clf = train(rows, tmp_path)
    vecs, gold = queries(centres, 4, noise=0.3)
    out = parse(clf, vecs)
    assert np.mean([n == g and c >= THRESHOLD for (n, c), g in zip(out, gold)]) > 0.8


@pytest.mark.parametrize("counts", [[30, 30], [10] * 60, [150, 3, 2, 150, 2, 60], [2] * 30, [10] * 20 + [1] * 5])
def test_top_confidence_tracks_accuracy_on_any_data_shape(tmp_path, counts):
    """Calibrated: the mean top confidence on new messages is close to the accuracy, whether
    there are 2 intents or 60, balanced or not (so one threshold means the same)."""
    centres, rows = clusters(counts, noise=1.1, seed=3)
    clf = train(rows, tmp_path)
    vecs, gold = queries(centres, 20, noise=1.1, seed=4)
    out = parse(clf, vecs)
    accuracy = np.mean([n == g for (n, _), g in zip(out, gold)])
    confidence = np.mean([c for _, c in out])
    assert abs(confidence - accuracy) < 0.15, (accuracy, confidence)


def test_folds_never_hold_out_the_only_example_and_keep_every_intent_in_training():
    y = np.array([0] * 7 + [1] * 2 + [2] + [3] * 3)
    ids = fold_ids(y, 3, seed=0)
    assert ids[y == 2].tolist() == [-1]
    for f in range(3):
        assert set(y[ids != f]) == {0, 1, 2, 3}
    assert (ids[y != 2] >= 0).all()


def test_training_logs_each_calibration_stage(tmp_path, caplog):
    _, rows = clusters([10] * 5, noise=0.8)
    with caplog.at_level("INFO", logger="bot.nlu.linear_classifier"):
        train(rows, tmp_path)
    text = caplog.text
    assert "calibration fold 1/3" in text and "fold 3/3" in text and "final fit" in text


def test_a_message_far_from_every_training_example_falls_below_the_threshold(tmp_path):
    """Out of scope: the softmax only compares intents, so a message that merely leans towards
    one intent got a confident answer; its distance to the training examples now lowers it."""
    centres, rows = clusters([15, 15, 15], noise=0.6, seed=5)
    rng = np.random.RandomState(6)
    other = rng.normal(size=DIM)
    far = 0.35 * centres[0] + other / np.linalg.norm(other)
    far /= np.linalg.norm(far)
    near = queries(centres, 5, noise=0.6, seed=7)[0]
    without = train(rows, tmp_path / "off", oos_slope=0.0)
    assert parse(without, far[None])[0][1] >= THRESHOLD  # answered before
    clf = train(rows, tmp_path / "on")
    assert parse(clf, far[None])[0][1] < THRESHOLD
    kept = [c for _, c in parse(clf, near)]
    assert np.mean(np.array(kept) >= THRESHOLD) > 0.9


def test_a_saved_model_loads_with_the_same_confidences(tmp_path):
    centres, rows = clusters([8] * 6, noise=0.8)
    clf = train(rows, tmp_path)
    clf.persist()
    loaded = LinearIntentClassifier.load(clf.config, clf._model_storage, clf._resource,
                                         ExecutionContext(GraphSchema({}), "test"))
    vecs = queries(centres, 3, noise=0.8)[0]
    assert [n for n, _ in parse(loaded, vecs)] == [n for n, _ in parse(clf, vecs)]
    np.testing.assert_allclose([c for _, c in parse(loaded, vecs)], [c for _, c in parse(clf, vecs)], atol=2e-3)
