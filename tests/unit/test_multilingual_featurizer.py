"""USE-multilingual reads the Chinese messages; English ones keep the MiniLM space their thresholds were
measured in (a zero USE block), bot/nlu/sentence_featurizer.py."""
from __future__ import annotations

import numpy as np

from bot.nlu.sentence_featurizer import USE_DIM, MultilingualSentenceFeaturizer


def featurizer(**config):
    return MultilingualSentenceFeaturizer({**MultilingualSentenceFeaturizer.get_default_config(), **config}, "use")


def test_only_texts_with_han_characters_get_a_use_vector():
    vectors = featurizer()._embed(["亲，我的快递啥时候到", "where is my parcel", "订单10234568 where"])
    assert vectors.shape == (3, USE_DIM)
    assert np.linalg.norm(vectors[0]) > 0.5 and np.linalg.norm(vectors[2]) > 0.5
    assert not vectors[1].any()


def test_every_text_gets_one_when_the_option_is_off():
    vectors = featurizer(only_with_han=False)._embed(["where is my parcel"])
    assert np.linalg.norm(vectors[0]) > 0.5


def test_the_same_question_in_both_languages_is_close_in_use_space():
    a, b, c = featurizer(only_with_han=False)._embed(["我想退货", "I want to return this", "今天天气怎么样"])
    assert float(a @ b) > float(a @ c)
