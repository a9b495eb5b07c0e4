"""The language of a customer message (common/language.py): what decides, what keeps the conversation's."""
import pytest

from common.language import choose, detect, normalise


@pytest.mark.parametrize("text", [
    "亲，我的快递咋还没到？",
    "啥时候发货",
    "我的订单10234568还没到 where is it",  # mostly Chinese, an English tail
    "iPhone 13 的屏幕坏了",
    "ｏｋ 我要退货",
])
def test_han_characters_make_a_message_chinese(text):
    assert detect(text) == "zh"


@pytest.mark.parametrize("text", [
    "where is my order",
    "my order",
    "I ordered the 小米手环 and it broke",  # a copied Chinese product name in an English sentence
    "Où est ma commande",  # Latin script: the assistant answers in English
    "ＷＨＥＲＥ ＩＳ ＩＴ",  # full-width letters
])
def test_latin_words_make_a_message_english(text):
    assert detect(text) == "en"


@pytest.mark.parametrize("text", [
    "好的", "谢谢", "你好", "ok", "hello", "thanks", "👍", "🙂🙂", "10234568", "T-12345", "BC12345",
    "", "   ", "?!", "好的 ok", "ありがとう", "注文はまだですか",
])
def test_short_or_undecidable_messages_keep_the_conversations_language(text):
    assert detect(text) is None


def test_metadata_decides_only_when_the_text_does_not():
    assert choose("好的", "zh") == "zh"
    assert choose("ok", "zh") == "zh"
    assert choose("10234568", "en") == "en"
    assert choose("where is my order", "zh") == "en"
    assert choose("我的快递咋还没到", "en") == "zh"
    assert choose("好的", None) is None
    assert choose("好的", "fr") is None
    assert choose("ok", {"lang": "zh"}) is None


@pytest.mark.parametrize("code,expected", [
    ("zh", "zh"), ("zh-CN", "zh"), ("zh_Hans", "zh"), ("EN-us", "en"), (" en ", "en"),
    ("fr", None), ("", None), (None, None), (3, None), ("zhx", None),
])
def test_metadata_language_codes(code, expected):
    assert normalise(code) == expected
