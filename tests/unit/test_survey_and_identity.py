"""The survey's parsing, the external-intent filter and conversation handles: pure functions."""
from __future__ import annotations

import pytest

from actions.context import customer_events
from actions.parsing import SKIPPED, rating_from
from actions.survey import survey_answer
from bot.identity import new_handle, sign, verify


@pytest.mark.parametrize("text, rating", [
    ("4", "4"), (" 5 ", "5"), ("4/5", "4"), ("3 out of 5", "3"), ("I'd say four", "4"), ("five stars!", "5"),
    ("1", "1"), (SKIPPED, SKIPPED),
    ("0", None), ("6", None), ("45", None), ("4.5", None), ("between 3 and 4", None), ("great", None), ("", None),
])
def test_ratings_are_read_from_what_customers_type(text, rating):
    assert rating_from(text) == rating


def test_the_survey_answer_sent_to_the_service():
    assert survey_answer(True, "4") == {"resolved": True, "rating": 4}
    assert survey_answer(False, SKIPPED) == {"resolved": False, "rating": None}
    assert survey_answer(True, None) == {"resolved": True, "rating": None}  # left after the first question
    assert survey_answer(None, "4") is None  # nothing answered: nothing to store


def test_externally_triggered_intents_are_not_customer_messages():
    events = [{"event": "user", "text": "where is my order"},
              {"event": "user", "text": "EXTERNAL: EXTERNAL_handoff_closed",
               "parse_data": {"intent": {"name": "EXTERNAL_handoff_closed"}}},
              {"event": "bot", "text": "EXTERNAL: looks like one but is the bot's"}]
    assert [e["text"] for e in customer_events(events)] == ["where is my order",
                                                             "EXTERNAL: looks like one but is the bot's"]


def test_only_handles_signed_with_the_secret_name_a_conversation():
    key = "k" * 32
    handle = sign("conv-1", key)
    assert verify(handle, key) == "conv-1"
    assert verify(handle, "other-secret" * 3) is None
    assert verify("conv-1", key) is None                         # the bare id
    assert verify(handle[:-1] + ("A" if handle[-1] != "A" else "B"), key) is None
    assert verify("conv-2" + handle[len("conv-1"):], key) is None  # a signature moved to another id
    assert verify(None, key) is None and verify("", key) is None and verify(".", key) is None
    fresh = new_handle(key)
    assert verify(fresh, key) and verify(fresh, key) != verify(new_handle(key), key)


def test_a_handle_issued_to_a_signed_in_customer_opens_for_that_customer_only():
    key = "k" * 32
    ann = sign("conv-1", key, customer="ann")
    assert verify(ann, key, customer="ann") == "conv-1"
    assert verify(ann, key, customer="bob") is None
    assert verify(ann, key) is None                     # the same browser, signed out
    assert verify(sign("conv-1", key), key, customer="ann") is None  # a guest's chat, then ann signs in
    assert verify(new_handle(key, customer="ann"), key, customer="ann")
