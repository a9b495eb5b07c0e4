"""Every response speaks the customer's language: a Chinese variation chosen by the `language` slot, English
otherwise.

Test stories only check response NAMES, so this renders the TEXT with Rasa's own generator (the one the Rasa
server and the handoff bridge use) for a tracker whose `language` slot is zh, en or unset.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from tests.conftest import ROOT

ZH_CONDITION = [{"type": "slot", "name": "language", "value": "zh"}]
HAN = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _domain_responses() -> Dict[str, List[Dict[str, Any]]]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def _faq_responses() -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for path in sorted((ROOT / "data" / "nlu").glob("faq_*.yml")):
        out.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {})
    return out


def _all_responses() -> Dict[str, List[Dict[str, Any]]]:
    return {**_domain_responses(), **_faq_responses()}


@pytest.mark.parametrize("name", sorted(_all_responses()))
def test_every_response_has_a_chinese_variation_first_and_an_english_default(name: str):
    variations = _all_responses()[name]
    zh, default = variations[0], variations[-1]
    assert zh.get("condition") == ZH_CONDITION, f"{name}: the zh variation must come first"
    assert "condition" not in default, f"{name}: the English default has no condition"
    assert HAN.search(zh["text"]), f"{name}: the zh variation is not Chinese: {zh['text']!r}"
    assert not HAN.search(default["text"]), f"{name}: the default must stay English"
    assert set(PLACEHOLDER.findall(zh["text"])) == set(PLACEHOLDER.findall(default["text"])), name
    zh_buttons, en_buttons = zh.get("buttons") or [], default.get("buttons") or []
    assert len(zh_buttons) == len(en_buttons), name
    for zb, eb in zip(zh_buttons, en_buttons):
        if eb["payload"].startswith("/") or eb["payload"].isdigit():
            assert zb["payload"] == eb["payload"], f"{name}: an intent payload must not change"
        else:  # a free-text answer (the return reason): the Chinese title, so the chat stays Chinese
            assert zb["payload"] == zb["title"] and HAN.search(zb["payload"]), name


def _render(name: str, language: Optional[str], **values: Any) -> Dict[str, Any]:
    domain = Domain.load(str(ROOT / "domain.yml"))
    assert "language" in {s.name for s in domain.slots}, "the language slot (helper nlu) is missing"
    events = [SlotSet("language", language)] if language else []
    tracker = DialogueStateTracker.from_events("customer", events, slots=domain.slots)
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    message = asyncio.run(nlg.generate(name, tracker, "socketio", **values))
    assert message is not None
    return message


def test_a_chinese_chat_gets_the_chinese_text_with_its_values_filled_in():
    message = _render("utter_order_status_shipped", "zh", order_number="10234567", carrier="DHL",
                      tracking_number="JD0012345", eta="12月8日")
    assert message["text"] == ("亲，订单 10234567 已经发货啦，由 DHL 配送（快递单号 JD0012345），"
                               "预计送达时间：12月8日。")


def test_a_chinese_chat_gets_chinese_buttons_with_the_same_intent_payloads():
    message = _render("utter_ask_survey_resolved", "zh")
    assert message["text"] == "亲，走之前想问一下：您的问题解决了吗？"
    assert [(b["title"], b["payload"]) for b in message["buttons"]] == [
        ("解决了", "/affirm"), ("没解决", "/deny"), ("我还需要帮助", "/human_handoff")]


@pytest.mark.parametrize("language", ["en", None])
def test_an_english_or_undecided_chat_gets_the_english_text(language: Optional[str]):
    message = _render("utter_handoff_queued", language, position=3, wait_minutes=5)
    assert message["text"] == ("You're number 3 in the queue; the wait should be about 5 min. You can keep "
                               "writing here: everything you send reaches them.")


def test_the_language_follows_the_latest_setting_of_the_slot():
    domain = Domain.load(str(ROOT / "domain.yml"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    tracker = DialogueStateTracker.from_events(
        "customer", [SlotSet("language", "zh"), SlotSet("language", "en")], slots=domain.slots)
    assert asyncio.run(nlg.generate("utter_goodbye", tracker, "rest"))["text"] == (
        "Goodbye, and thanks for shopping with Brightcart!")
    tracker.update(SlotSet("language", "zh"))
    assert asyncio.run(nlg.generate("utter_goodbye", tracker, "rest"))["text"] == (
        "再见啦亲，感谢您在 Brightcart 购物，祝您生活愉快！")

