"""An explicit out-of-scope intent must not cost in-scope answers.

Trained as one more intent, ``out_of_scope`` (data/nlu/out_of_scope.yml) takes in-scope
messages and, since its examples are negatives for every other intent, flattens their
confidences under the FallbackClassifier threshold. LinearIntentClassifier's
``oos_intents`` / ``oos_intent_offset`` make it a gate with its own calibration. Synthetic
data as in test_linear_classifier_calibration.py: dense sentence features only.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from tests.unit.test_linear_classifier_calibration import DIM, THRESHOLD, clusters, parse, queries, train


def with_out_of_scope(seed: int = 3) -> Tuple[np.ndarray, List[Tuple[np.ndarray, str]], np.ndarray]:
    """Six in-scope intents and an out_of_scope intent whose examples lie between and around
    them (like questions about things the assistant does not do), plus out-of-scope queries."""
    centres, rows = clusters([20] * 6, noise=0.9, seed=seed)
    rng = np.random.RandomState(seed + 10)

    def around(n: int) -> np.ndarray:
        v = 0.4 * centres[rng.randint(len(centres), size=n)] + rng.normal(size=(n, DIM)) / np.sqrt(DIM)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    rows += [(v, "out_of_scope") for v in around(80)]
    return centres, rows, around(60)


def answered(clf, vecs: np.ndarray, gold: List[str]) -> float:
    """Share of in-scope queries answered with the right intent above the threshold."""
    return float(np.mean([n == g and c >= THRESHOLD for (n, c), g in zip(parse(clf, vecs), gold)]))


def caught(clf, vecs: np.ndarray) -> float:
    """Share of out-of-scope queries that get out_of_scope or fall below the threshold."""
    return float(np.mean([n == "out_of_scope" or c < THRESHOLD for n, c in parse(clf, vecs)]))


def test_the_out_of_scope_intent_answers_more_in_scope_questions_and_still_catches_others(tmp_path):
    centres, rows, oos_queries = with_out_of_scope()
    vecs, gold = queries(centres, 20, noise=0.9, seed=4)
    plain = train(rows, tmp_path / "plain", oos_intents=[])  # out_of_scope as an ordinary intent
    gated = train(rows, tmp_path / "gated")  # the default: oos_intents [out_of_scope]
    assert answered(gated, vecs, gold) >= answered(plain, vecs, gold) + 0.02
    # a trade-off, not a switch: most out-of-scope queries are still caught (the offset is
    # chosen on validation data; here the clusters overlap far more than real questions do)
    assert caught(gated, oos_queries) >= 0.5 * caught(plain, oos_queries)
    # and the out_of_scope intent still wins on messages like its own examples
    trained = np.array([v for v, y in rows if y == "out_of_scope"])
    assert np.mean([n == "out_of_scope" for n, _ in parse(gated, trained)]) > 0.6

def test_without_an_out_of_scope_intent_the_option_changes_nothing(tmp_path):
    centres, rows = clusters([10] * 5, noise=0.8, seed=2)
    vecs = queries(centres, 5, noise=0.8)[0]
    default = parse(train(rows, tmp_path / "a"), vecs)
    off = parse(train(rows, tmp_path / "b", oos_intents=[], oos_intent_offset=0.0), vecs)
    assert [n for n, _ in default] == [n for n, _ in off]
    np.testing.assert_allclose([c for _, c in default], [c for _, c in off])


def test_a_saved_model_with_an_out_of_scope_intent_loads_with_the_same_confidences(tmp_path):
    from rasa.engine.graph import ExecutionContext, GraphSchema

    from bot.nlu.linear_classifier import LinearIntentClassifier

    centres, rows, oos_queries = with_out_of_scope(seed=5)
    clf = train(rows, tmp_path)
    loaded = LinearIntentClassifier.load(clf.config, clf._model_storage, clf._resource,
                                         ExecutionContext(GraphSchema({}), "test"))
    vecs = np.vstack([queries(centres, 3, noise=0.9)[0], oos_queries[:10]])
    assert [n for n, _ in parse(loaded, vecs)] == [n for n, _ in parse(clf, vecs)]
    np.testing.assert_allclose([c for _, c in parse(loaded, vecs)], [c for _, c in parse(clf, vecs)], atol=2e-3)
