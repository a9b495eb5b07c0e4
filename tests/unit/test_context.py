from actions.context import consecutive_fallbacks, faq_topic_of, followup_response, topic_in_context
from tests.conftest import action, bot, user

RESPONSES = ["utter_followup_change_address_how_long", "utter_followup_refund_time_if_delayed",
             "utter_followup_unknown"]


def test_topic_comes_from_the_response_selector_or_the_full_retrieval_intent():
    assert faq_topic_of(user("how do I change my address", "faq", "faq/change_address")) == "change_address"
    assert faq_topic_of(user("invoice?", "faq/invoice")) == "invoice"
    assert faq_topic_of(user("hi", "greet")) is None


def test_followup_refers_to_the_faq_just_answered():
    events = [user("hi", "greet"), bot("Hi!"),
              user("how can I change my address?", "faq", "faq/change_address"), action("utter_faq"),
              bot("You can change it until it ships."),
              user("how long until the change takes effect?", "ask_how_long")]
    assert topic_in_context(events) == "change_address"


def test_chained_followups_keep_the_topic():
    events = [user("when do I get my refund?", "faq", "faq/refund_time"),
              user("how long does it take?", "ask_how_long"),
              user("what if it takes longer?", "ask_if_delayed")]
    assert topic_in_context(events) == "refund_time"


def test_no_topic_when_the_previous_message_was_not_an_faq():
    events = [user("how do I get an invoice", "faq", "faq/invoice"), user("thanks", "thank"),
              user("how long does it take?", "ask_how_long")]
    assert topic_in_context(events) is None
    assert topic_in_context([user("how long?", "ask_how_long")]) is None


def test_followup_response_by_name_or_unknown():
    assert followup_response("change_address", "ask_how_long", RESPONSES) == "utter_followup_change_address_how_long"
    assert followup_response("change_address", "ask_who_pays", RESPONSES) == "utter_followup_unknown"
    assert followup_response(None, "ask_how_long", RESPONSES) == "utter_followup_unknown"
    assert followup_response("change_address", "greet", RESPONSES) == "utter_followup_unknown"


def test_consecutive_fallbacks_counts_only_the_latest_run():
    fb = lambda: user("asdf", "nlu_fallback", confidence=0.2)  # noqa: E731
    assert consecutive_fallbacks([fb()]) == 1
    assert consecutive_fallbacks([fb(), user("hi", "greet"), fb()]) == 1
    assert consecutive_fallbacks([user("hi", "greet"), fb(), fb()]) == 2
    assert consecutive_fallbacks([fb(), user("hi", "greet")]) == 0
