"""bot/nlu/tokenizer.py: Chinese segmented by jieba, everything else exactly as WhitespaceTokenizer."""
import pytest
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.tokenizer import BilingualTokenizer


def tokens(tokenizer, text):
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


@pytest.fixture(scope="module")
def tokenizer():
    return BilingualTokenizer({})


def test_mixed_text_has_words_of_both_scripts_at_their_offsets(tokenizer):
    text = "我的订单10234568还没到 where is it"
    got = tokens(tokenizer, text)
    assert [(w, s, e) for w, s, e in got if w in ("订单", "10234568", "where", "is", "it")] == [
        ("订单", 2, 4), ("10234568", 4, 12), ("where", 16, 21), ("is", 22, 24), ("it", 25, 27)]
    # every token is the text at its offsets, in order, and all the Chinese is covered
    assert all(text[s:e] == w for w, s, e in got)
    assert [s for _, s, _ in got] == sorted(s for _, s, _ in got)
    assert "".join(w for w, _, _ in got if not w.isascii()) == "我的订单还没到"


def test_chinese_punctuation_separates_words(tokenizer):
    got = tokens(tokenizer, "亲，单号：10234568。咋还没发货？？")
    words = [w for w, _, _ in got]
    assert "10234568" in words and "亲" in words
    assert not any(c in w for w in words for c in "，：。？")


@pytest.mark.parametrize("text", [
    "Where is my order #10234568?", "hi :)", "👍", "e-mail me at a.b@example.com, please!",
    "I paid 1,299.00 EUR - twice!!", "can't log in... help", "order: 10234568", "  ",
])
def test_english_is_split_exactly_as_by_the_whitespace_tokenizer(tokenizer, text):
    whitespace = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    assert tokens(tokenizer, text) == tokens(whitespace, text)


def test_a_message_of_emoji_only_is_one_token(tokenizer):
    assert tokens(tokenizer, "👍👍") == [("👍👍", 0, 2)]


def test_jieba_prints_nothing_and_loads_its_dictionary_once(monkeypatch, capfd):
    import jieba

    import bot.nlu.tokenizer as module

    monkeypatch.setattr(jieba, "dt", jieba.Tokenizer())  # a dictionary not loaded yet
    monkeypatch.setattr(module, "_jieba_tokenizer", None)
    capfd.readouterr()
    first = module.jieba_tokenizer()
    assert first.initialized
    assert tokens(BilingualTokenizer({}), "快递咋还没到")
    assert module.jieba_tokenizer() is first
    out, err = capfd.readouterr()
    assert out == "" and err == ""
