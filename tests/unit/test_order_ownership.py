"""Orders are acted on only for their owner: the pure check, the shop, the forms and the actions."""
import asyncio
import datetime as dt
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import ValidateAddressChangeForm, ValidateOrderStatusForm, ValidateReturnForm
from actions.orders import ActionOrderStatus, ActionSubmitAddressChange, ActionSubmitReturn
from actions.ownership import VerifiedCustomer, answer_matches, customer_of, locked
from actions.shop import ChangeResult, ReturnResult, SampleShop
from tests.conftest import make_tracker, user

TODAY = dt.date(2026, 11, 24)
FORM_SLOTS = ["order_number", "order_verification", "new_address"]  # address_change_form in domain.yml


def signed_in(customer_id: str, text: str = "where is my order?") -> Dict[str, Any]:
    """A user event as the channel stores it after checking the shop's token."""
    event = user(text, "order_status")
    event["metadata"] = {"customer": {"id": customer_id, "vip_tier": "none"}}
    return event


@pytest.fixture
def shop() -> SampleShop:
    return SampleShop(today=TODAY)


def said(dispatcher: CollectingDispatcher) -> List[str]:
    return [m["response"] for m in dispatcher.messages]


# ---- the pure check ---------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, ok", [
    ("1017 GC", True), ("1017gc", True), ("  1017  GC ", True), ("１０１７ ＧＣ", True),
    ("ann.murphy@example.com", True), ("ANN.Murphy@Example.com", True), ("it's ann.murphy@example.com", True),
    ("1017 GD", False), ("1017", False), ("ann.murphy@example", False), ("", False), (None, False),
    ("my postcode is 1017 GC", False), ("1017 GC or ann", False),
])
def test_an_answer_matches_only_the_orders_email_or_postcode(answer: Optional[str], ok: bool):
    assert answer_matches(answer, "ann.murphy@example.com", "1017 GC") is ok


def test_nothing_matches_an_order_without_contact_details():
    assert answer_matches("", None, None) is False
    assert answer_matches("anything", None, None) is False


def test_the_customer_id_comes_only_from_verified_metadata():
    assert customer_of([signed_in("cust-1")]).customer_id == "cust-1"
    typed = user('/order_status{"customer": {"id": "cust-1"}}', "order_status",
                 entities=[{"entity": "customer", "value": "cust-1"}])
    assert customer_of([typed]) == VerifiedCustomer()
    assert customer_of([], ["10234567", 5, None]).verified_orders == frozenset({"10234567"})
    assert customer_of([], "10234567").verified_orders == frozenset()


def test_ownership_and_attempts():
    assert VerifiedCustomer("cust-1").owns("1", "cust-1")
    assert not VerifiedCustomer("cust-1").owns("1", "cust-2")
    assert not VerifiedCustomer("cust-1").owns("1", None)
    assert not VerifiedCustomer().owns("1", None)
    assert VerifiedCustomer(None, frozenset({"1"})).owns("1", "cust-2")
    assert [locked(n, limit=3) for n in (None, 0, 2, 3, 4, "x")] == [False, False, False, True, True, False]


# ---- the shop ---------------------------------------------------------------------------------------
def test_the_shop_shows_and_changes_an_order_only_for_its_owner(shop: SampleShop):
    owner, stranger = VerifiedCustomer("cust-1002"), VerifiedCustomer("cust-1001")
    guest, proved = VerifiedCustomer(), VerifiedCustomer(None, frozenset({"10234567"}))
    assert asyncio.run(shop.order("10234568", owner)).tracking_number == "JD014600003LB"
    assert asyncio.run(shop.order("10234568", stranger)) is None
    assert asyncio.run(shop.order("10234568", guest)) is None
    assert asyncio.run(shop.change_address("10234567", "12 High Street, Dublin", owner)) is ChangeResult.NOT_FOUND
    assert asyncio.run(shop.change_address("10234567", "12 High Street, Dublin", proved)) is ChangeResult.DONE
    assert asyncio.run(shop.create_return("10234569", "too small", owner)) == (ReturnResult.NOT_FOUND, None)
    assert asyncio.run(shop.verify_guest("10234569", "00184")) is True
    assert asyncio.run(shop.verify_guest("10234569", "00185")) is False
    assert asyncio.run(shop.verify_guest("99999999", "00184")) is False


# ---- the actions ------------------------------------------------------------------------------------
def run_action(action, events, slots) -> "tuple[list, List[Dict[str, Any]]]":
    dispatcher = CollectingDispatcher()
    result = asyncio.run(action.run(dispatcher, make_tracker(events, slots), {"responses": {}}))
    return result, dispatcher.messages


def test_a_stranger_gets_the_not_found_answer_for_an_existing_order(shop: SampleShop):
    for events, number in [([], "10234568"), ([signed_in("cust-1001")], "10234568"), ([], "99999999")]:
        _, messages = run_action(ActionOrderStatus(shop), events, {"order_number": number})
        assert messages == [{**messages[0], "response": "utter_order_not_found", "order_number": number}]
        assert "tracking_number" not in messages[0]
    _, messages = run_action(ActionOrderStatus(shop), [signed_in("cust-1002")], {"order_number": "10234568"})
    assert messages[0]["response"] == "utter_order_status_shipped" and messages[0]["tracking_number"] == "JD014600003LB"


def test_a_stranger_cannot_change_the_address_or_open_a_return(shop: SampleShop):
    slots = {"order_number": "10234567", "new_address": "12 High Street, Dublin"}
    _, messages = run_action(ActionSubmitAddressChange(shop), [signed_in("cust-1002")], slots)
    assert [m["response"] for m in messages] == ["utter_order_not_found"]
    assert asyncio.run(shop.order("10234567", VerifiedCustomer("cust-1001"))) is not None
    assert shop._addresses == {}  # nothing changed
    _, messages = run_action(ActionSubmitReturn(shop), [], {"order_number": "10234569", "return_reason": "meh"})
    assert [m["response"] for m in messages] == ["utter_order_not_found"]
    assert shop._returns == {}


def test_a_guest_out_of_attempts_is_offered_a_person(shop: SampleShop):
    slots = {"order_number": "10234568", "order_verification": "failed", "order_verification_failures": 3}
    _, messages = run_action(ActionOrderStatus(shop), [], slots)
    assert [m["response"] for m in messages] == ["utter_order_verification_locked"]


# ---- the forms --------------------------------------------------------------------------------------
def required(form, events, slots) -> List[str]:
    return asyncio.run(form.required_slots(list(FORM_SLOTS), CollectingDispatcher(), make_tracker(events, slots), {}))


def test_a_guest_is_asked_to_verify_and_the_owner_is_not(shop: SampleShop):
    form = ValidateAddressChangeForm(shop)
    assert required(form, [], {}) == FORM_SLOTS
    assert required(form, [], {"order_number": "10234567"}) == FORM_SLOTS
    assert required(form, [], {"order_number": "99999999"}) == FORM_SLOTS  # the same as for a real order
    assert required(form, [signed_in("cust-1001")], {"order_number": "10234567"}) == ["order_number", "new_address"]
    assert required(form, [signed_in("cust-1002")], {"order_number": "10234567"}) == FORM_SLOTS
    assert required(form, [], {"order_number": "10234567", "verified_orders": ["10234567"]}) == \
        ["order_number", "new_address"]
    assert required(form, [], {"order_number": "10234567", "order_verification": "failed"}) == \
        ["order_number", "order_verification"]
    assert required(form, [], {"order_number": "10234567", "order_verification_failures": 3}) == ["order_number"]


def verify(form, answer: str, slots: Dict[str, Any]) -> "tuple[Dict[str, Any], List[Dict[str, Any]]]":
    dispatcher = CollectingDispatcher()
    tracker = make_tracker([], slots)
    result = asyncio.run(form.validate_order_verification(answer, dispatcher, tracker, {}))
    return result, dispatcher.messages


@pytest.mark.parametrize("form_class", [ValidateOrderStatusForm, ValidateAddressChangeForm, ValidateReturnForm])
def test_verification_right_wrong_and_out_of_attempts(shop: SampleShop, form_class):
    form = form_class(shop)
    ok, messages = verify(form, "1017 gc", {"order_number": "10234567", "verified_orders": ["10234570"]})
    assert ok == {"order_verification": "verified", "verified_orders": ["10234567", "10234570"]} and messages == []
    for number in ("10234567", "99999999"):  # a wrong answer and a missing order look the same
        wrong, messages = verify(form, "1017 GCx", {"order_number": number, "order_verification_failures": 1})
        assert wrong == {"order_verification": None, "order_verification_failures": 2}
        assert [(m["response"], m["order_number"], m["attempts_left"]) for m in messages] == \
            [("utter_order_verification_failed", number, 1)]
    last, messages = verify(form, "verified", {"order_number": "10234567", "order_verification_failures": 2})
    assert last == {"order_verification": "failed", "order_verification_failures": 3} and messages == []


def test_clearing_the_form_forgets_the_answer_but_not_the_proof_or_the_count(shop: SampleShop):
    events, _ = run_action(ActionOrderStatus(shop), [], {"order_number": "10234567", "verified_orders": ["10234567"],
                                                         "order_verification": "verified"})
    names = [e["name"] for e in events]
    assert SlotSet("order_verification", None) in events
    assert "verified_orders" not in names and "order_verification_failures" not in names
