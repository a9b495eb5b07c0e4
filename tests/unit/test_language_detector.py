"""bot/nlu/language.py: the language entity that sets the conversation's language slot."""
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.language import LanguageDetector


def parse(text, metadata=None, entities=None):
    data = {"text": text, "metadata": metadata}
    if entities is not None:
        data["entities"] = entities
    message = Message(data=data)
    LanguageDetector().process([message])
    return message.as_dict(only_output_properties=True).get("entities", [])


def language(text, metadata=None):
    found = [e["value"] for e in parse(text, metadata) if e["entity"] == "language"]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_decisive_text_adds_the_entity_as_the_contract_spells_it():
    assert parse("亲，我的快递咋还没到？") == [
        {"entity": "language", "value": "zh", "extractor": "LanguageDetector", "start": 0, "end": 0}]
    assert language("where is my parcel") == "en"


def test_a_short_message_adds_nothing():
    for text in ("好的", "ok", "👍", "10234568"):
        assert parse(text) == [], text
        assert parse(text, metadata={}) == [], text


def test_the_metadata_language_is_used_when_the_text_does_not_say():
    assert language("好的", {"language": "zh"}) == "zh"
    assert language("ok", {"language": "zh-CN"}) == "zh"
    assert language("10234568", {"language": "en"}) == "en"
    assert language("ok", {"language": "fr"}) is None
    assert language("ok", {"other": "zh"}) is None


def test_the_text_wins_over_the_metadata():
    assert language("where is my order", {"language": "zh"}) == "en"
    assert language("我要退货", {"language": "en"}) == "zh"


def test_other_entities_are_kept():
    order = {"entity": "order_number", "value": "10234568", "start": 4, "end": 12,
             "extractor": "RegexEntityExtractor"}
    got = parse("我的订单10234568还没到", entities=[order])
    assert got[0] == order and [e["entity"] for e in got] == ["order_number", "language"]
