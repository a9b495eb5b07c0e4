"""action_score_conversation and action_request_handoff over tracker events: signals, slots, the request."""
import asyncio
import copy
import json

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.delivery import Delivery
from actions.handoff import ActionRequestHandoff, build_request, status_message
from actions.scoring import ActionScoreConversation, tables
from actions.signals import customer_tags, signals_from_events
from common.config import ConfigError, validate
from tests.conftest import make_tracker, user

CARD = "4111 1111 1111 1111"


def turn(text, intent, sentiment=0.0, complaint=0.0, metadata=None, ts=1_700_000_000.0, **kw):
    event = user(text, intent, **kw)
    event["parse_data"]["sentiment"] = {"label": "negative" if sentiment < -0.3 else "neutral", "score": sentiment,
                                        "complaint": complaint, "model": "test"}
    event["timestamp"] = ts
    event["input_channel"] = "rest"
    if metadata is not None:
        event["metadata"] = metadata
    return event


def bot_said(text, action, ts):
    return {"event": "bot", "timestamp": ts, "text": text, "metadata": {"utter_action": action}}


def run(action, tracker):
    dispatcher = CollectingDispatcher()
    return asyncio.run(action.run(dispatcher, tracker, {"responses": {}})), dispatcher.messages


ANGRY = [
    turn("where is my order 10234568?", "order_status", 0.0, ts=1_700_000_000.0,
         metadata={"customer": {"id": "c-42", "vip_tier": "silver", "lifetime_orders": 7, "open_tickets": 1}}),
    bot_said("Order 10234568 is on its way with DHL.", "utter_order_status_shipped", 1_700_000_001.0),
    turn("it says delivered but nothing came, this is ridiculous", "nlu_fallback", -0.7, 0.9, ts=1_700_000_030.0,
         confidence=0.3),
    bot_said("Sorry, I didn't quite understand that.", "utter_ask_rephrase", 1_700_000_031.0),
    turn(f"I paid with {CARD} and I want my money back NOW", "faq", -0.9, 0.8, faq_key="faq/refund_time",
         ts=1_700_000_060.0),
]


def test_signals_come_from_the_conversation():
    s = signals_from_events(ANGRY, tables().categories)
    assert (s.turns, s.fallbacks, s.consecutive_fallbacks, s.low_confidence) == (3, 1, 0, 0)
    assert s.topics == ["order_status", "refund_time"]
    assert s.order_numbers == ["10234568"]
    assert s.sentiments == [0.0, -0.7, -0.9] and s.complaint == 0.8
    assert s.categories == {"complaint": "ridiculous", "delivery_problem": "says delivered"}
    assert s.vip_tier == "silver"


def test_an_unsure_faq_topic_does_not_outrank_a_sure_one_in_routing():
    rant = user("this is the worst shop I have ever used, I'm furious", "faq", "faq/payment_declined", 0.997)
    rant["parse_data"]["response_selector"]["faq"]["response"]["confidence"] = 0.235
    s = signals_from_events([user("where is my order 10234568?", "order_status"), rant], tables().categories)
    assert (s.topics, s.unsure_topics) == (["order_status", "payment_declined"], ["payment_declined"])
    assert tables().skill_groups.route({}, [], s.topics, s.unsure_topics).group == "after_sales"
    assert tables().skill_groups.route({}, [], s.topics).group == "billing"  # what happened without the rule
    alone = signals_from_events([rant], tables().categories)
    assert tables().skill_groups.route({}, [], alone.topics, alone.unsure_topics).group == "billing"  # not nothing


def test_form_failures_and_repeats_are_counted():
    events = [turn("where is my order", "order_status"), bot_said("Which order?", "utter_invalid_order_number", 1.0),
              turn("where is my order??", "order_status"), bot_said("Which order?", "utter_invalid_order_number", 2.0)]
    s = signals_from_events(events, tables().categories)
    assert (s.form_failures, s.repeated_intent, s.topics) == (2, 1, ["order_status"])


def test_score_action_sets_the_score_slots_and_decides():
    events, messages = run(ActionScoreConversation(), make_tracker(ANGRY))
    assert messages == []
    slots = {e["name"]: e["value"] for e in events}
    assert set(slots) == {"sentiment", "complexity", "handoff_decision", "customer_tags"}
    assert slots["sentiment"] == {"latest": -0.9, "label": "negative", "trend": -0.625,
                                  "complaint": 0.8, "model": "test"}
    assert (slots["complexity"]["score"], slots["complexity"]["level"]) == (0.655, "high")
    assert [f["name"] for f in slots["complexity"]["factors"]][:2] == ["category:complaint", "fallbacks"]
    assert [t["name"] for t in slots["handoff_decision"]["triggers"]] == [
        "negative_sentiment", "complaint", "multiple_issues"]
    assert slots["customer_tags"] == {"id": "c-42", "vip_tier": "silver", "lifetime_orders": 7, "open_tickets": 1}


def test_no_second_decision_while_a_request_is_pending():
    events, _ = run(ActionScoreConversation(), make_tracker(ANGRY, {"handoff_request": {"x": 1}}))
    decision = next(e["value"] for e in events if e["name"] == "handoff_decision")
    assert decision == {"handoff": False, "triggers": []}


def test_typed_tags_set_nothing_and_raise_no_priority():
    typed = user('/human_handoff{"vip_tier":"gold"}', "human_handoff",
                 entities=[{"entity": "vip_tier", "value": "gold", "start": 14, "end": 32}])
    typed["metadata"] = {}
    events, _ = run(ActionScoreConversation(), make_tracker([typed]))
    slots = {e["name"]: e["value"] for e in events}
    assert slots["customer_tags"] == {"vip_tier": "none"}
    assert [t["name"] for t in slots["handoff_decision"]["triggers"]] == ["explicit_request"]
    request = build_request("c1", [typed], {}, tables())
    assert request["customer"]["tags"] == {"vip_tier": "none"}
    assert request["routing"]["skill_group"] == "general"
    assert request["routing"]["priority"] == 10 and request["routing"]["priority_reasons"] == ["base 10"]


def test_unknown_or_bad_tiers_in_metadata_count_as_none():
    assert customer_tags([{"event": "user", "metadata": {"customer": {"vip_tier": "diamond"}}}]) == {"vip_tier": "none"}
    assert customer_tags([{"event": "user", "metadata": {"customer": "gold"}}]) == {"vip_tier": "none"}


def test_request_has_transcript_brief_scores_routing_and_masks_cards():
    slots = {"order_number": "10234568", "sentiment": {"x": 1}, "requested_slot": None, "return_reason": None}
    request = build_request("conv-7", ANGRY, slots, tables(), now=1_700_000_061.0)
    validate(request, "handoff_request")  # the schema in schemas/
    assert request["conversation_id"] == "conv-7" and request["channel"] == "rest" and request["language"] == "en"
    assert request["created_at"] == "2023-11-14T22:14:21.000Z"
    assert [(line["speaker"], line["timestamp"]) for line in request["transcript"]] == [
        ("customer", "2023-11-14T22:13:20.000Z"), ("bot", "2023-11-14T22:13:21.000Z"),
        ("customer", "2023-11-14T22:13:50.000Z"), ("bot", "2023-11-14T22:13:51.000Z"),
        ("customer", "2023-11-14T22:14:20.000Z")]
    assert request["transcript"][-1]["text"] == "I paid with 4111 11** **** 1111 and I want my money back NOW"
    assert CARD not in json.dumps(request)
    brief = request["case_brief"]
    assert brief["slots"] == {"order_number": "10234568"}
    assert {"type": "ORDER_NUMBER", "value": "10234568"} in brief["entities"]
    assert {"type": "CARD", "value": "4111 11** **** 1111"} in brief["entities"]
    assert brief["topics"] == ["order_status", "refund_time"]
    assert brief["summary"].startswith("Silver customer | order 10234568 | topics: order status, refund time")
    assert request["routing"]["skill_group"] == "after_sales"  # delivery problem (no billing category matched)
    assert request["routing"]["priority_reasons"] == ["base 10", "+5 tier silver", "+15 sentiment -0.90",
                                                      "+15 complexity high"]
    assert request["scores"]["complexity"]["factors"][0]["reason"] == "complaint (\u201cridiculous\u201d)"


def test_schema_rejects_a_broken_request():
    request = build_request("conv-7", ANGRY, {}, tables())
    broken = copy.deepcopy(request)
    broken["routing"]["priority"] = -1
    with pytest.raises(ConfigError, match=r"routing.priority: -1 is less than the minimum of 0"):
        validate(broken, "handoff_request")
    broken = copy.deepcopy(request)
    broken["transcript"][0]["speaker"] = "martian"
    with pytest.raises(ConfigError, match=r"transcript\[0\].speaker"):
        validate(broken, "handoff_request")


@pytest.fixture
def service_answer(monkeypatch):
    """What the handoff service answers (actions.handoff.deliver replaced); the requests it got."""
    sent = []
    answer = {"value": Delivery("sent", {"id": "e1", "status": "waiting", "skill_group": "after_sales",
                                         "queue_position": 3, "estimated_wait_seconds": 500})}

    async def fake_deliver(request):
        sent.append(request)
        return answer["value"]
    monkeypatch.setattr("actions.handoff.deliver", fake_deliver)
    return answer, sent


def test_request_action_records_it_tells_the_customer_and_leaves_the_form(service_answer):
    answer, sent = service_answer
    tracker = make_tracker(ANGRY, {"order_number": "10234568"}, active_loop="return_form")
    events, messages = run(ActionRequestHandoff(), tracker)
    assert [m["response"] for m in messages] == ["utter_handoff_requested", "utter_handoff_queued"]
    assert (messages[1]["position"], messages[1]["wait_minutes"]) == (3, 8)
    assert sent[0]["conversation_id"] == "test-customer"
    assert events[-2] == {"event": "slot", "timestamp": None, "name": "handoff_escalation",
                          "value": {"id": "e1", "status": "waiting", "skill_group": "after_sales"}}
    assert events[-1]["event"] == "pause"
    assert messages[0]["group_name"] == "After-sales"
    assert events[0]["event"] == "slot" and events[0]["name"] == "handoff_request"
    assert events[0]["value"]["routing"]["skill_group"] == "after_sales"
    assert events[1:3] == [ActiveLoop(None), SlotSet("requested_slot", None)]


def test_unchanged_scores_are_not_set_again():
    first, _ = run(ActionScoreConversation(), make_tracker(ANGRY))
    slots = {e["name"]: e["value"] for e in first}
    again, _ = run(ActionScoreConversation(), make_tracker(ANGRY, slots))
    assert again == []


def test_a_card_the_channel_already_masked_is_listed_as_a_card():
    events = [turn("I paid with 4111 11** **** 1111 and 5500-00**-****-0004", "faq"),
              turn("order 10234567, tel 555-123-4567", "inform")]
    request = build_request("c", events, {}, tables())
    cards = [e["value"] for e in request["case_brief"]["entities"] if e["type"] == "CARD"]
    assert cards == ["4111 11** **** 1111", "5500-00**-****-0004"]


@pytest.mark.parametrize("delivery,response,pause", [
    (Delivery("sent", {"status": "offered"}), "utter_handoff_connecting", True),
    (Delivery("sent", {"status": "ticket", "ticket": {"reply_by": "2026-11-25T10:00:00.000Z"}}),
     "utter_handoff_ticket_reply_by", False),  # an older service: no number, the time in UTC
    (Delivery("sent", {"status": "ticket", "ticket": {"label": "T-10042", "due_local": "2026-12-07 13:00",
                                                      "timezone": "Asia/Shanghai", "reply_by": "x"}}),
     "utter_handoff_ticket", False),
    (Delivery("queued"), "utter_handoff_delayed", True),
    (Delivery("failed"), "utter_handoff_failed", False),
    (Delivery("rejected"), "utter_handoff_failed", False),
])
def test_the_customer_is_told_where_the_request_stands(delivery, response, pause):
    said, values, paused = status_message(delivery)
    assert (said, paused) == (response, pause)
    if response == "utter_handoff_ticket_reply_by":
        assert values == {"reply_by": "2026-11-25 10:00 UTC"}
    if response == "utter_handoff_ticket":
        assert values == {"ticket_label": "T-10042", "due_local": "2026-12-07 13:00", "timezone": "Asia/Shanghai"}


def test_a_message_the_core_fallback_answered_counts_as_not_understood():
    """Rasa's core fallback (a confident intent nothing expects, e.g. `inform` as a first message) says
    "could you rephrase it?" and reverts the message: the customer was not understood, so a second garbled
    message in a row is the `repeated_misunderstanding` trigger, as after two nlu_fallbacks."""
    events = [
        turn("wrrr fnapp", "inform", ts=1_700_000_000.0),
        {"event": "action", "name": "action_default_fallback", "timestamp": 1_700_000_001.0},
        bot_said("Sorry, I didn't quite understand that. Could you rephrase it?", "utter_default", 1_700_000_001.0),
        {"event": "rewind", "timestamp": 1_700_000_001.0},
        turn("zzzk blub", "nlu_fallback", ts=1_700_000_010.0, confidence=0.2),
    ]
    s = signals_from_events(events, tables().categories)
    assert (s.fallbacks, s.consecutive_fallbacks) == (2, 2)
