"""Adding Chinese training examples must not move how far from the training data an English message may be
before its confidence falls (bot/nlu/linear_classifier.py: one out-of-scope reference per script)."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.linear_classifier import LinearIntentClassifier

DIM = 48


def message(vec: np.ndarray, text: str, intent: str | None = None) -> Message:
    m = Message(data={TEXT: text, **({INTENT: intent} if intent else {})})
    m.add_features(Features(vec.reshape(1, -1).astype(np.float32), FEATURE_TYPE_SENTENCE, TEXT, "dense"))
    return m


def rows(n_intents: int, per: int, noise: float, text: str, seed: int) -> List[Tuple[np.ndarray, str, str]]:
    rng = np.random.RandomState(seed)
    out = []
    for i in range(n_intents):
        centre = rng.normal(size=DIM)
        for _ in range(per):
            v = centre / np.linalg.norm(centre) + noise * rng.normal(size=DIM) / np.sqrt(DIM)
            out.append((v / np.linalg.norm(v), text, f"intent_{i}"))
    return out


def train(data, tmp_path) -> LinearIntentClassifier:
    tmp_path.mkdir(parents=True, exist_ok=True)
    clf = LinearIntentClassifier.create(LinearIntentClassifier.get_default_config(), LocalModelStorage(tmp_path),
                                        Resource("clf"), ExecutionContext(GraphSchema({}), "test"))
    clf.train(TrainingData([message(v, t, y) for v, t, y in data]))
    return clf


def test_chinese_examples_leave_the_english_out_of_scope_factor_alone(tmp_path):
    english = rows(4, 15, 0.3, "where is my parcel", seed=0)  # tight: English paraphrases, close vectors
    chinese = rows(4, 15, 1.2, "我的快递到哪了", seed=1)  # spread out: another script, another space
    only_english = train(english, tmp_path / "en")
    both = train(english + chinese, tmp_path / "both")
    rng = np.random.RandomState(2)
    probes = [message(v / np.linalg.norm(v), "some english text")
              for v in (english[0][0] + s * rng.normal(size=DIM) for s in (0.05, 0.1, 0.15, 0.2, 0.3))]
    a, b = only_english._in_scope(probes), both._in_scope(probes)
    assert a.min() < 0.9  # the probes reach where the factor matters
    assert np.allclose(a, b, atol=0.02), (a, b)
    assert both.state["oos_reference_han"] < both.state["oos_reference"]  # the Chinese set is looser
