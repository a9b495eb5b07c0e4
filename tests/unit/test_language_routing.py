"""Routing by language, the pure parts: the matching rule, the overflow rule, and the request the bot sends
(its language, and the brief's summary in the customer's language)."""
import asyncio

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.case_brief import Catalog, summary_line
from actions.delivery import Delivery
from actions.handoff import ActionRequestHandoff, build_request, request_language
from actions.scoring import tables
from common.config import ConfigError, validate
from common.language_rules import LanguageRules, parse_languages, reads
from common.policy import Decision, FiredTrigger, Signals
from common.routing import SkillGroups
from tests.conftest import make_tracker, user


@pytest.mark.parametrize("agent,readers,ok", [
    (("en",), ["zh"], False),            # an English-only agent never gets a Chinese chat
    (("zh", "en"), ["zh"], True),
    (("zh",), ["zh"], True),
    (("zh",), ["en"], False),            # nor a Chinese-only agent an English one
    (("en",), ["*"], True),              # after the overflow: any agent
    (("zh",), ["zh", "en"], True),       # overflow to a list of languages
    (("en",), [], True),                 # a chat from before languages: anyone
])
def test_an_agent_takes_a_chat_only_in_a_language_they_read(agent, readers, ok):
    assert reads(agent, readers) is ok


def test_agents_read_english_unless_told_otherwise():
    assert parse_languages(None) == ("en",) and parse_languages("") == ("en",)
    assert parse_languages("zh, EN") == ("zh", "en") and parse_languages(["zh"]) == ("zh",)


RULES = LanguageRules({"default": "en", "rules": {
    "en": {"overflow_after_seconds": 300, "overflow_to": "any"},
    "zh": {"overflow_after_seconds": 120, "overflow_to": "any"},
    "de": {"overflow_after_seconds": None, "overflow_to": ["en"]},
    "fr": {"overflow_to": "none"}}})


def test_a_chat_overflows_at_once_when_nobody_online_reads_its_language():
    reason = RULES.rule("zh").overflow_reason(0.0, reader_online=False)
    assert reason is not None and reason.startswith("language overflow: nobody who reads zh online")
    assert RULES.rule("zh").overflow_readers == ["*"]


def test_a_chat_overflows_after_the_wait_the_rule_sets_when_its_readers_are_busy():
    zh = RULES.rule("zh")
    assert zh.overflow_reason(119.9, reader_online=True) is None
    assert "free within 120 s" in zh.overflow_reason(120.0, reader_online=True)
    assert RULES.rule("en").overflow_reason(299.0, reader_online=True) is None


def test_overflow_to_a_list_of_languages_or_none():
    de = RULES.rule("de")
    assert de.overflow_readers == ["de", "en"] and de.overflow_reason(10_000, reader_online=True) is None
    assert "agents who read de or en" in de.overflow_reason(0, reader_online=False)
    fr = RULES.rule("fr")  # waits for a reader, however long
    assert fr.overflow_readers == ["fr"] and fr.overflow_reason(10_000, reader_online=False) is None


def test_a_language_without_a_rule_follows_the_default_languages_rule():
    ja = RULES.rule("ja-JP")
    assert (ja.language, ja.overflow_after_seconds, ja.overflow_readers) == ("ja", 300.0, ["*"])
    assert RULES.rule(None).language == "en"


def test_the_shipped_policy_sends_chinese_chats_to_readers_for_two_minutes():
    rules = SkillGroups.load().languages
    assert rules.default == "en" and rules.rule("zh").overflow_after_seconds == 120
    assert rules.rule("zh").overflow_readers == ["*"]


def test_an_overflow_to_an_unknown_language_is_a_config_error(tmp_path):
    import yaml
    from common.config import POLICY_DIR
    document = yaml.safe_load((POLICY_DIR / "skill_groups.yml").read_text(encoding="utf-8"))
    document["languages"]["rules"]["zh"]["overflow_to"] = ["xx"]
    with pytest.raises(ConfigError, match=r"languages.rules.zh.overflow_to\[0\]: unknown language 'xx'"):
        SkillGroups(document, tmp_path / "skill_groups.yml")


# -- the request and its brief ------------------------------------------------------------------------------
def said(text, intent, ts, **kw):
    event = user(text, intent, **kw)
    event.update(timestamp=ts, input_channel="rest",
                 metadata={"customer": {"id": "c-9", "vip_tier": "silver", "lifetime_orders": 2, "open_tickets": 0}})
    event["parse_data"]["sentiment"] = {"label": "neutral", "score": 0.0, "complaint": 0.0, "model": "test"}
    return event


ZH = [said("亲，我的订单 10234568 到哪了？", "order_status", 1_700_000_000.0),
      said("快递显示签收了但是我没收到，转人工", "human_handoff", 1_700_000_030.0)]


def test_build_request_in_chinese_carries_zh_and_a_chinese_summary():
    request = build_request("conv-zh", ZH, {}, tables(), now=1_700_000_031.0, language="zh")
    validate(request, "handoff_request")
    assert request["language"] == "zh"
    summary = request["case_brief"]["summary"]
    assert summary.startswith("银卡客户｜订单 10234568｜咨询：订单状态"), summary
    assert "。转人工原因：客户要求转人工。已分配给" in summary
    assert summary.endswith("已分配给售后（after_sales）。") or summary.endswith("已分配给综合客服（general）。"), summary
    assert "customer" not in summary.lower() and "Why a person" not in summary


def test_the_same_conversation_in_english_keeps_the_english_summary():
    request = build_request("conv-en", ZH, {}, tables(), now=1_700_000_031.0)
    assert request["language"] == "en"
    assert request["case_brief"]["summary"].startswith("Silver customer | order 10234568 | topics: order status")
    assert "Why a person: The customer asked for a person." in request["case_brief"]["summary"]


def test_a_missing_line_or_language_in_the_catalog_falls_back_to_the_default():
    wording = Catalog({"version": 1, "default": "en", "languages": {
        "en": {"customer": "Customer", "tier_customer": "{tier} customer", "order": "order {orders}",
               "topics": "topics: {topics}", "issues": "issues: {issues}", "why": "Why: {why}",
               "routed": "To {group_name}.", "sentence": "{parts}. {why} {routed}", "part_separator": " | ",
               "list_separator": ", ", "reason_separator": "; "},
        "zh": {"customer": "客户", "topics_names": {"refund_time": "退款时效"}}}})
    signals = Signals()
    signals.topics = ["refund_time", "gift_wrapping"]
    decision = Decision(True, (FiredTrigger("explicit_request", "asked"),))
    zh = summary_line(signals, decision, "billing", "支付与账务", [], "zh", wording)
    assert zh == "客户 | topics: 退款时效, gift wrapping. Why: asked To 支付与账务."
    assert summary_line(signals, decision, "billing", "Billing", [], "ja", wording).startswith("Customer | ")


def test_the_default_language_must_have_every_line():
    with pytest.raises(ConfigError, match="the default language needs every line"):
        Catalog({"version": 1, "default": "en", "languages": {"en": {"customer": "Customer"}}})


@pytest.mark.parametrize("slot,expected", [(None, "en"), ("zh", "zh"), ("en", "en"), ("zh-CN", "zh"), (3, "en")])
def test_the_request_language_is_the_slot_or_english(slot, expected):
    assert request_language(slot) == expected


@pytest.fixture
def sent(monkeypatch):
    requests = []

    async def fake_deliver(request):
        requests.append(request)
        return Delivery("sent", {"id": "e1", "status": "offered", "skill_group": "after_sales"})
    monkeypatch.setattr("actions.handoff.deliver", fake_deliver)
    return requests


@pytest.mark.parametrize("slot,language,group_word", [("zh", "zh", "售后"), (None, "en", "After-sales")])
def test_the_action_sends_the_language_slot_and_names_the_group_in_it(sent, slot, language, group_word):
    tracker = make_tracker(ZH[:1] + [said("it arrived broken, I want a person", "human_handoff", 1_700_000_030.0)],
                           {"language": slot})
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionRequestHandoff().run(dispatcher, tracker, {"responses": {}}))
    assert sent[0]["language"] == language
    assert dispatcher.messages[0]["response"] == "utter_handoff_requested"
    assert dispatcher.messages[0]["group_name"] == group_word
