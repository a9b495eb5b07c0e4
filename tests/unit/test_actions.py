"""Every custom action, run on trackers built from event data, with the exact events and responses expected."""
import asyncio
import datetime as dt
from typing import Any, Dict, List

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.followups import ActionAnswerFollowup
from actions.forms import ValidateAddressChangeForm, ValidateOrderStatusForm, ValidateReturnForm
from actions.orders import ActionClearFormSlots, ActionOrderStatus, ActionSubmitAddressChange, ActionSubmitReturn
from actions.shop import SampleShop
from tests.conftest import make_tracker, user

TODAY = dt.date(2026, 11, 24)  # a Tuesday
CLEARED = [SlotSet("order_number", None), SlotSet("order_verification", None), SlotSet("new_address", None),
           SlotSet("return_reason", None)]


def run(action, tracker, domain=None):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or {"responses": {}}))
    return events, dispatcher.messages


def said(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The responses and their variables, without the dispatcher's empty fields."""
    empty = {"text": None, "buttons": [], "elements": [], "custom": {}, "image": None, "attachment": None}
    return [{k: v for k, v in m.items() if k != "template" and empty.get(k, object()) != v} for m in messages]


@pytest.fixture
def shop():
    return SampleShop(today=TODAY)


@pytest.mark.parametrize("number, expected", [
    ("10234567", {"response": "utter_order_status_processing", "order_number": "10234567"}),
    ("10234568", {"response": "utter_order_status_shipped", "order_number": "10234568", "carrier": "DHL",
                  "tracking_number": "JD014600003LB", "eta": "Thursday 26 November"}),
    ("10234569", {"response": "utter_order_status_delivered", "order_number": "10234569",
                  "delivered_on": "Thursday 19 November"}),
    ("10234571", {"response": "utter_order_status_cancelled", "order_number": "10234571"}),
    ("99999999", {"response": "utter_order_not_found", "order_number": "99999999"}),
])
def test_order_status_says_the_status_and_clears_the_form(shop, number, expected):
    events, messages = run(ActionOrderStatus(shop), make_tracker([], {"order_number": number, "verified_orders": [number]}))
    assert said(messages) == [expected]
    assert events == CLEARED


@pytest.mark.parametrize("number, response", [
    ("10234567", "utter_address_change_done"),
    ("10234568", "utter_address_change_too_late"),
    ("99999999", "utter_order_not_found"),
])
def test_address_change_only_before_shipping(shop, number, response):
    slots = {"order_number": number, "new_address": "12 High Street, Dublin", "verified_orders": [number]}
    events, messages = run(ActionSubmitAddressChange(shop), make_tracker([], slots))
    assert said(messages) == [{"response": response, "order_number": number,
                               "new_address": "12 High Street, Dublin"}]
    assert events == CLEARED


@pytest.mark.parametrize("number, response, return_id", [
    ("10234569", "utter_return_created", "R-10234569"),
    ("10234570", "utter_return_not_eligible", None),
    ("10234567", "utter_return_not_delivered", None),
    ("99999999", "utter_order_not_found", None),
])
def test_return_needs_a_delivered_order_within_30_days(shop, number, response, return_id):
    slots = {"order_number": number, "return_reason": "too small", "verified_orders": [number]}
    events, messages = run(ActionSubmitReturn(shop), make_tracker([], slots))
    expected = {"response": response, "order_number": number}
    if return_id:
        expected["return_id"] = return_id
    assert said(messages) == [expected]
    assert events == CLEARED


def test_a_second_return_for_the_same_order_gets_the_same_id(shop):
    slots = {"order_number": "10234569", "return_reason": "too small", "verified_orders": ["10234569"]}
    first = run(ActionSubmitReturn(shop), make_tracker([], slots))[1]
    second = run(ActionSubmitReturn(shop), make_tracker([], slots))[1]
    assert first[0]["return_id"] == second[0]["return_id"] == "R-10234569"


def test_clear_form_slots():
    assert run(ActionClearFormSlots(), make_tracker([], {"order_number": "10234567"})) == (CLEARED, [])


def validate(form, slot, value):
    dispatcher = CollectingDispatcher()
    method = getattr(form, f"validate_{slot}")
    result = asyncio.run(method(value, dispatcher, make_tracker([]), {}))
    return result, said(dispatcher.messages)


@pytest.mark.parametrize("form", [ValidateOrderStatusForm(), ValidateAddressChangeForm(), ValidateReturnForm()])
def test_every_form_accepts_a_good_order_number_and_reasks_a_malformed_one(form):
    assert validate(form, "order_number", "it's 10234567") == ({"order_number": "10234567"}, [])
    assert validate(form, "order_number", "1234") == (
        {"order_number": None}, [{"response": "utter_invalid_order_number"}])


def test_address_and_reason_validation():
    form = ValidateAddressChangeForm()
    assert validate(form, "new_address", "5 Rue de Rivoli, 75001 Paris") == (
        {"new_address": "5 Rue de Rivoli, 75001 Paris"}, [])
    assert validate(form, "new_address", "somewhere") == ({"new_address": None},
                                                         [{"response": "utter_invalid_new_address"}])
    form = ValidateReturnForm()
    assert validate(form, "return_reason", "It arrived damaged") == ({"return_reason": "It arrived damaged"}, [])
    assert validate(form, "return_reason", "x") == ({"return_reason": None},
                                                  [{"response": "utter_invalid_return_reason"}])


def test_followup_answered_in_context(domain):
    tracker = make_tracker([user("can I change my delivery address?", "faq", "faq/change_address"),
                            user("can I still change it after it shipped?", "ask_after_shipped")])
    events, messages = run(ActionAnswerFollowup(), tracker, domain)
    assert events == []
    assert said(messages) == [{"response": "utter_followup_change_address_after_shipped"}]


def test_followup_without_context_asks_which_topic(domain):
    tracker = make_tracker([user("hello", "greet"), user("who pays for it?", "ask_who_pays")])
    assert said(run(ActionAnswerFollowup(), tracker, domain)[1]) == [{"response": "utter_followup_unknown"}]


def test_every_followup_response_named_in_the_domain_is_reachable(domain):
    names = [r for r in domain["responses"] if r.startswith("utter_followup_") and r != "utter_followup_unknown"]
    assert len(names) >= 8
    for name in names:
        rest = name[len("utter_followup_"):]
        kind = next(k for k in ("how_long", "if_delayed", "who_pays", "after_shipped", "cost") if rest.endswith(k))
        topic = rest[: -len(kind) - 1]
        tracker = make_tracker([user("q", "faq", f"faq/{topic}"), user("f", f"ask_{kind}")])
        assert said(run(ActionAnswerFollowup(), tracker, domain)[1]) == [{"response": name}]
