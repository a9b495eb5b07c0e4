"""Sentiment + complaint model (bot/nlu/sentiment_model.py) and its Rasa wrapper, without Rasa training.

A hashed bag-of-words stands in for the MiniLM vector, so no encoder is loaded.
"""
import collections
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from bot.nlu import sentiment_data as sd
from bot.nlu import sentiment_model as sm

DIM = 384

TINY = [
    ("my order never arrived and nobody answers my emails", "negative", 1),
    ("the parcel came broken, I want a refund", "negative", 1),
    ("charged twice and still no refund, terrible", "negative", 1),
    ("flight delayed 4 hours and no information", "negative", 1),
    ("worst service ever, still waiting", "negative", 1),
    ("refund still not received after three weeks", "negative", 1),
    ("I'm so sad it's raining today", "negative", 0),
    ("can I change the delivery address?", "neutral", 0),
    ("how do I reset my password?", "neutral", 0),
    ("do you ship to Norway?", "neutral", 0),
    ("what are your opening hours?", "neutral", 0),
    ("is the blue one in stock?", "neutral", 0),
    ("where do I enter a gift card code?", "neutral", 0),
    ("thank you so much, great service!", "positive", 0),
    ("love my new jacket, thanks!", "positive", 0),
    ("brilliant, the refund arrived, thank you", "positive", 0),
    ("amazing delivery, very happy", "positive", 0),
    ("thanks for the quick help, perfect", "positive", 0),
]


def fake_encode(texts):
    """Deterministic stand-in for the sentence encoder: L2-normalised hashed word counts."""
    out = np.zeros((len(texts), DIM))
    for i, t in enumerate(texts):
        for w in re.findall(r"[a-z']+", t.lower()):
            out[i, zlib.crc32(w.encode()) % DIM] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def tiny_model() -> sm.SentimentModel:
    texts, labels, complaints = zip(*TINY)
    return sm.SentimentModel.fit(fake_encode(texts), list(texts), list(labels), list(complaints),
                                 C=1.0, tune=False)


def test_fits_and_predicts_obvious_cases(tiny_model):
    texts = ["still no refund and nobody answers, terrible", "thank you, great service, love it",
             "can I change my password?"]
    results = tiny_model.predict(fake_encode(texts), texts)
    assert [r["label"] for r in results] == ["negative", "positive", "neutral"]
    assert results[0]["complaint"] > 0.5 > results[1]["complaint"]
    assert results[0]["score"] < 0 < results[1]["score"]


def test_result_has_exactly_the_documented_keys(tiny_model):
    r = tiny_model.predict_one(fake_encode(["where is my order"])[0], "where is my order")
    assert set(r) == {"label", "score", "probabilities", "complaint", "model"}
    assert set(r["probabilities"]) == {"negative", "neutral", "positive"}
    assert abs(sum(r["probabilities"].values()) - 1.0) < 1e-9
    assert -1.0 <= r["score"] <= 1.0 and 0.0 <= r["complaint"] <= 1.0
    assert r["score"] == pytest.approx(r["probabilities"]["positive"] - r["probabilities"]["negative"])
    assert r["model"] == f"{sm.MODEL_NAME}/{sm.MODEL_VERSION}"
    assert isinstance(r["score"], float) and isinstance(r["complaint"], float)


def test_batch_and_single_predictions_agree(tiny_model):
    texts = [t for t, _, _ in TINY[:5]]
    vecs = fake_encode(texts)
    batch = tiny_model.predict(vecs, texts)
    single = [tiny_model.predict_one(v, t) for v, t in zip(vecs, texts)]
    for a, b in zip(batch, single):
        assert a["label"] == b["label"]
        assert a["complaint"] == pytest.approx(b["complaint"], abs=1e-12)
        assert a["score"] == pytest.approx(b["score"], abs=1e-12)


def test_tuned_fit_records_cv_and_decision_rule():
    texts, labels, complaints = zip(*(TINY * 2))  # >= 5 per class for 5 folds
    texts = [f"{t} {i}" for i, t in enumerate(texts)]
    m = sm.SentimentModel.fit(fake_encode(texts), texts, list(labels), list(complaints), C=1.0, tune=True)
    assert m.meta["tuned"] and "macro_f1_tuned" in m.meta["cv"]
    assert m.offsets.shape == (3,) and m.offsets[0] == 0.0
    assert 0.1 <= m.complaint_threshold <= 0.9


def test_save_load_round_trip_gives_identical_outputs(tiny_model, tmp_path):
    path = tiny_model.save(tmp_path / "model.npz")
    loaded = sm.SentimentModel.load(path)
    texts = ["my parcel is late again", "thanks a lot!", "do you deliver on Sundays?", "ok"]
    vecs = fake_encode(texts)
    assert loaded.predict(vecs, texts) == tiny_model.predict(vecs, texts)
    assert loaded.complaint_threshold == tiny_model.complaint_threshold
    assert np.array_equal(loaded.offsets, tiny_model.offsets)
    assert loaded.meta == tiny_model.meta
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert all(z[k].dtype != object for k in z.files)


def test_shipped_csv_columns_labels_and_no_duplicates():
    path = sd.DEFAULT_TRAIN_CSV
    with path.open(encoding="utf-8") as fh:
        assert fh.readline().strip() == "text,sentiment,complaint"
    texts, labels, complaints = sd.load_training_csv(path)  # raises on bad labels / duplicates
    assert len(texts) >= 1500
    normalised = [" ".join(t.lower().split()) for t in texts]
    assert len(set(normalised)) == len(normalised)
    counts = collections.Counter(labels)
    assert set(counts) == set(sd.LABELS)
    share = {k: v / len(labels) for k, v in counts.items()}
    assert 0.40 <= share["negative"] <= 0.50 and 0.25 <= share["neutral"] <= 0.35
    assert 0.20 <= share["positive"] <= 0.30
    assert set(complaints) == {0, 1}
    # a complaint is always negative in the label guide
    assert all(lab == "negative" for lab, c in zip(labels, complaints) if c == 1)


@pytest.mark.parametrize(
    "body, line, message",
    [
        ("text,sentiment,complaint\nfine,neutral,0\nbad one,angry,1\n", 3, "sentiment must be one of"),
        ("text,sentiment,complaint\nfine,neutral,0\n\"oops\",negative,yes\n", 3, "complaint must be 0 or 1"),
        ("text,sentiment,complaint\n,neutral,0\n", 2, "empty text"),
        ("text,sentiment,complaint\na,neutral,0\nb,neutral\n", 3, "expected 3 fields"),
        ("text,sentiment,complaint\nSame text,neutral,0\nx,positive,0\nsame  TEXT,negative,1\n", 4,
         "duplicate text (first on line 2)"),
        ("\"multi\nline\",neutral,0\n", 1, "header must be"),
        ("text,sentiment,complaint\n\"multi\nline\",neutral,0\nbad,x,0\n", 4, "sentiment must be one of"),
    ],
)
def test_bad_csv_rows_name_file_and_line(tmp_path, body, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(sd.SentimentDataError) as err:
        sd.load_training_csv(path)
    assert f"{path}:{line}:" in str(err.value)
    assert message in str(err.value)


def test_bitext_is_optional(tmp_path):
    assert sd.load_bitext_neutral(tmp_path / "missing") == []


def test_component_reads_the_featurizer_vector_and_sets_sentiment(tiny_model):
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.sentiment import SENTIMENT, SentimentScorer

    comp = SentimentScorer({}, model_storage=None, resource=None, model=tiny_model)
    text = "charged twice and nobody answers"
    msg = Message(data={TEXT: text})
    msg.add_features(Features(fake_encode([text]), FEATURE_TYPE_SENTENCE, TEXT,
                              "run_bot.nlu.sentence_featurizer.SentenceEmbeddingFeaturizer3"))
    comp.process([msg, Message(data={})])  # a message without text is left alone
    out = msg.as_dict(only_output_properties=True)[SENTIMENT]
    assert out == tiny_model.predict_one(fake_encode([text])[0], text)
    assert out["label"] == "negative"


def test_fingerprint_changes_with_the_csv(tmp_path):
    from bot.nlu.sentiment import SentimentScorer

    path = tmp_path / "t.csv"
    path.write_text("text,sentiment,complaint\na,neutral,0\n", encoding="utf-8")
    before = SentimentScorer.fingerprint_addon({"train_csv": str(path)})
    path.write_text("text,sentiment,complaint\nb,neutral,0\n", encoding="utf-8")
    assert SentimentScorer.fingerprint_addon({"train_csv": str(path)}) != before
    from bot.nlu.sentiment_zh import DEFAULT_TRAIN_CSV_ZH

    # the Chinese CSV counts too (bot/nlu/sentiment_zh.py): editing it retrains the component
    assert SentimentScorer.fingerprint_addon({}) == sd.file_digest(sd.DEFAULT_TRAIN_CSV, None, DEFAULT_TRAIN_CSV_ZH)
