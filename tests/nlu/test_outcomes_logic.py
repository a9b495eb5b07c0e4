"""The outcome sets' pure parts: the files are valid and new, and tracker events are classified as the customer
experiences them (tests/nlu/outcomes.py). The measurement itself: tests/integration/test_outcomes.py."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from tests.conftest import action, bot, user
from tests.nlu.outcomes import (SETS, Got, Item, Report, Vocabulary, classify, is_right, load_items, normalise,
                                parse_items, training_texts, verbatim_overlap)

VOCAB = Vocabulary.from_project()
HANDOFF = "action_request_handoff"


def said(name: str) -> Dict[str, Any]:
    return {**bot("..."), "metadata": {"utter_action": name}}


def loop(name: Any) -> Dict[str, Any]:
    return {"event": "active_loop", "timestamp": 0.0, "name": name}


def session() -> List[Dict[str, Any]]:
    return [action("action_session_start"), action("action_listen")]


def item(expect: Any, text: str = "x") -> Item:
    return Item(text, tuple(expect) if isinstance(expect, list) else (expect,), ("plain",))


# ---- the sets ----

@pytest.mark.parametrize("name", sorted(SETS))
def test_each_set_loads_with_only_known_outcomes(name: str):
    items = load_items(SETS[name], VOCAB)
    # The Chinese set was written for 100 and lost 7 sentences found word for word in the training data
    # (written apart): 90 is its floor, as 300 is the held-out one's and 100 the dev one's.
    assert len(items) >= {"heldout": 300, "zh": 90}.get(name, 100)


def test_the_held_out_set_covers_every_faq_topic_form_and_handoff_reason_and_is_a_tenth_out_of_scope():
    items = load_items(SETS["heldout"], VOCAB)
    expected = {e for i in items for e in i.expect}
    assert {f"answer: faq/{t}" for t in VOCAB.faq_topics} <= expected
    assert {f"form: {f}" for f in VOCAB.forms if f != "survey_form"} <= expected  # the survey is not typed
    reasons = {i.reason for i in items if "person" in i.expect}
    assert {"explicit_request", "complaint", "legal_threat", "safety_issue", "payment_problem", "system_error",
            "multiple_issues", "repeated_misunderstanding"} <= reasons
    share = sum(i.expect == ("cant_help",) for i in items) / len(items)
    assert 0.10 <= share <= 0.16, share


def test_no_text_is_in_both_sets_nor_in_the_training_data():
    heldout, dev = load_items(SETS["heldout"], VOCAB), load_items(SETS["dev"], VOCAB)
    assert verbatim_overlap(heldout, [t for i in dev for t in (*i.before, i.text)]) == []
    found = verbatim_overlap([*heldout, *dev], training_texts())
    assert len(found) == 0, "outcome-set text(s) appear verbatim in data/nlu (list: verbatim_overlap)"


def test_a_file_with_an_unknown_outcome_a_missing_kind_or_a_duplicate_is_refused():
    doc = {"items": [{"text": "a", "expect": "answer: faq/no_such_topic", "kind": ["short"]},
                     {"text": "b", "expect": "form: order_status_form"},
                     {"text": "A?", "expect": "person", "kind": ["short"]},
                     {"text": "c", "expect": "maybe", "kind": ["short"]}]}
    with pytest.raises(ValueError) as e:
        parse_items(doc, VOCAB)
    message = str(e.value)
    assert "no_such_topic" in message and "item 2: `kind`" in message and "item 3: the same text" in message
    assert "not an outcome: 'maybe'" in message


def test_overlap_ignores_case_spacing_and_end_punctuation():
    assert normalise("  Where is   my ORDER?? ") == "where is my order"
    assert verbatim_overlap([item("person", "Talk to a human!")], ["talk to a human"]) == ["Talk to a human!"]
    assert verbatim_overlap([item("person", "Talk to a human")], ["talk to a person"]) == []


# ---- classifying a tracker ----

def test_an_faq_answer_is_its_topic():
    events = [*session(), user("how much is shipping", "faq", "faq/shipping_cost"), action("utter_faq"),
              said("utter_faq/shipping_cost"), action("action_listen")]
    assert classify(events).outcome == "answer: faq/shipping_cost"


def test_a_started_form_is_the_form():
    events = [*session(), user("where is my order", "order_status"), action("order_status_form"),
              loop("order_status_form"), said("utter_ask_order_number"), action("action_listen")]
    assert classify(events).outcome == "form: order_status_form"


def test_a_handoff_is_person_whatever_else_was_said_and_reports_the_triggers():
    request = {"decision": {"triggers": [{"name": "legal_threat"}]}}
    events = [*session(), user("my lawyer", "faq", "faq/return_policy"), action(HANDOFF),
              {"event": "slot", "timestamp": 0.0, "name": "handoff_request", "value": request},
              said("utter_handoff_requested"), action("action_listen")]
    got = classify(events)
    assert got.outcome == "person" and got.triggers == ("legal_threat",) and HANDOFF in got.names


@pytest.mark.parametrize("utter", ["utter_out_of_scope", "utter_ask_rephrase"])
def test_declining_or_asking_to_rephrase_is_cant_help(utter: str):
    events = [*session(), user("weather?", "out_of_scope"), action(utter), said(utter), action("action_listen")]
    assert classify(events).outcome == "cant_help"


def test_only_the_latest_message_counts():
    events = [*session(), user("hi", "greet"), action("utter_greet"), said("utter_greet"), action("action_listen"),
              user("bye", "goodbye"), action("utter_goodbye"), said("utter_goodbye"), action("action_listen")]
    assert classify(events).outcome == "answer: utter_goodbye"
    assert classify([]).outcome == "nothing"


def test_a_core_fallback_that_says_nothing_is_no_reply_not_an_answer():
    events = [*session(), user("track order 10239940", "inform"), action("action_default_fallback"),
              {"event": "rewind", "timestamp": 0.0}, action("action_listen")]
    got = classify(events)
    assert got.outcome == "no_reply" and "action_default_fallback" in got.names
    assert not is_right(item("answer: action_default_fallback"), got)
    assert "got no_reply ['action_default_fallback']" in "\n".join(Report([(item("cant_help"), got)]).lines())


def test_an_answer_is_matched_by_its_response_action_or_intent_but_never_by_an_faq_or_a_decline():
    ticket = [*session(), user("my ticket?", "ticket_status"), action("action_ticket_status"),
              said("utter_ticket_status_none"), action("action_listen")]
    got = classify(ticket)
    assert got.outcome == "answer: utter_ticket_status_none"
    for name in ("action_ticket_status", "utter_ticket_status_none", "ticket_status"):
        assert is_right(item(f"answer: {name}"), got)
    assert not is_right(item("answer: utter_greet"), got)
    declined = Got("cant_help", frozenset({"greet", "utter_out_of_scope"}))
    assert not is_right(item("answer: greet"), declined)
    assert not is_right(item("answer: faq/shipping_cost"), Got("answer: faq/shipping_time"))
    assert is_right(item(["answer: faq/shipping_cost", "answer: faq/shipping_time"]), Got("answer: faq/shipping_time"))


def test_the_report_counts_per_kind_and_outcome_and_lists_failures():
    a = Item("a", ("person",), ("short", "angry"))
    b = Item("b", ("cant_help",), ("short",))
    report = Report([(a, Got("person")), (b, Got("answer: faq/invoice"))])
    assert report.accuracy == 0.5 and report.per_kind() == {"angry": (1, 1), "short": (1, 2)}
    assert report.per_outcome() == {"cant_help": (0, 1), "person": (1, 1)}
    text = "\n".join(report.lines())
    assert "expected cant_help; got answer: faq/invoice" in text and "overall: 1/2 right (50.0 %)" in text
    assert "'b'" not in "\n".join(report.lines(show_failures=False))
