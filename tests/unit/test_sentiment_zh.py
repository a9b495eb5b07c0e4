"""The Chinese sentiment scorer (bot/nlu/sentiment_zh.py) and how the component routes Chinese turns to it."""
import csv

import numpy as np
import pytest

from bot.nlu import sentiment_zh as zh
from bot.nlu.sentiment_data import LABELS, load_training_csv


@pytest.fixture(scope="module")
def model():
    return zh.train_from_csv()  # the shipped train_zh.csv, the component's default C


@pytest.mark.parametrize("text, chinese", [
    ("我要投诉", True), ("app一直闪退了", True), ("好的", True), ("thanks 谢谢", True),
    ("I bought a 手机 and it broke", False), ("where is my order", False), ("10234568", False), ("", False),
])
def test_which_turns_are_read_as_chinese(text, chinese):
    assert zh.is_chinese(text) is chinese


def test_the_shipped_csv_is_valid_and_big_enough():
    texts, sentiments, complaints = load_training_csv(zh.DEFAULT_TRAIN_CSV_ZH)
    assert len(texts) >= 400 and all(zh.is_chinese(t) or t.isascii() for t in texts)
    assert set(sentiments) == set(LABELS)
    assert all(s == "negative" for s, c in zip(sentiments, complaints) if c)  # every complaint is negative


def test_no_hold_out_row_is_in_the_training_file():
    from bench.sentiment_zh import DEFAULT_HOLDOUT

    train = {" ".join(t.lower().split()) for t in load_training_csv(zh.DEFAULT_TRAIN_CSV_ZH)[0]}
    with open(DEFAULT_HOLDOUT, encoding="utf-8") as fh:
        held = [" ".join(r["text"].lower().split()) for r in csv.DictReader(fh)]
    assert len(held) >= 150 and not train & set(held)


@pytest.mark.parametrize("text, label, complaint", [
    ("亲，快递一个星期了还没到，你们怎么回事", "negative", True),
    ("收到的碗碎了两个，包装太差了", "negative", True),
    ("谢谢亲，东西很好，很满意", "positive", False),
    ("请问这个包邮吗？", "neutral", False),
])
def test_obvious_chinese_turns(model, text, label, complaint):
    result = model.predict_one(text)
    assert result["label"] == label
    assert (result["complaint"] >= model.complaint_threshold) is complaint
    assert result["model"] == "zh-char-lr/1"
    if label == "negative":
        assert result["score"] < -0.3


def test_prediction_without_sklearn_matches_the_fitted_vectoriser():
    texts, sentiments, complaints = load_training_csv(zh.DEFAULT_TRAIN_CSV_ZH)
    vec = zh._vectorizer()
    expected = vec.fit_transform(texts[:50]).toarray()
    index = {g: i for g, i in vec.vocabulary_.items()}
    assert np.allclose(zh._tfidf_rows(texts[:50], index, vec.idf_), expected)


def test_full_width_and_numbers_do_not_change_the_result(model):
    assert model.predict_one("订单10234568还没发货")["probabilities"] == \
        model.predict_one("订单１０９９９９９９还没发货")["probabilities"]


def test_save_load_round_trip(model, tmp_path):
    loaded = zh.ZhSentimentModel.load(model.save(tmp_path / "zh.npz"))
    for text in ("退款还没到账", "谢谢", "在吗"):
        assert loaded.predict_one(text) == model.predict_one(text)
    assert loaded.meta["C"] == model.meta["C"]


def test_the_component_scores_chinese_with_the_chinese_model_and_english_as_before(model):
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.sentiment import SENTIMENT, SentimentScorer

    class English:  # stands in for the English model: records what it was asked
        vector_dim = 4
        seen = []

        def predict_one(self, vector, text):
            self.seen.append(text)
            return {"label": "neutral", "model": "english"}

    english = English()
    comp = SentimentScorer({}, model_storage=None, resource=None, model=english, zh_model=model)
    msgs = [Message(data={TEXT: t}) for t in ("我要投诉，快递丢了", "where is my parcel")]
    msgs[1].add_features(Features(np.zeros((1, 4)), FEATURE_TYPE_SENTENCE, TEXT,
                                  "run_bot.nlu.sentence_featurizer.SentenceEmbeddingFeaturizer3"))
    comp.process(msgs)
    assert msgs[0].get(SENTIMENT)["model"] == "zh-char-lr/1" and msgs[0].get(SENTIMENT)["label"] == "negative"
    assert msgs[1].get(SENTIMENT)["model"] == "english"
    assert english.seen == ["where is my parcel"]


def test_the_component_trains_persists_and_loads_both_models(tmp_path):
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.sentiment import SentimentScorer

    english = tmp_path / "en.csv"
    rows = [("thanks a lot", "positive", 0), ("great love it", "positive", 0), ("where is my order", "neutral", 0),
            ("can I pay by card", "neutral", 0), ("my parcel is late again", "negative", 1),
            ("the box arrived broken", "negative", 1)]
    english.write_text("text,sentiment,complaint\n" + "".join(f"{t},{s},{c}\n" for t, s, c in rows), encoding="utf-8")
    (tmp_path / "storage").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "storage"), Resource("sentiment")
    config = {"train_csv": str(english), "tune_decision": False}
    comp = SentimentScorer.create({**SentimentScorer.get_default_config(), **config}, storage, resource,
                                  ExecutionContext(None))
    comp._encode = lambda texts: np.eye(len(texts), 8)  # no sentence encoder in unit tests
    comp.train(TrainingData())
    loaded = SentimentScorer.load({**SentimentScorer.get_default_config(), **config}, storage, resource,
                                  ExecutionContext(None))
    assert loaded.zh_model is not None and loaded.model is not None
    assert loaded.zh_model.predict_one("太差了，我要投诉") == comp.zh_model.predict_one("太差了，我要投诉")
