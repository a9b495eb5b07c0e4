"""Validation of the order-status, address-change and return forms."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.orders import verified_customer
from actions.ownership import FAILED, MAX_ATTEMPTS, VERIFIED, failures_from, locked
from actions.parsing import address_from, order_number_from, rating_from, reason_from
from actions.shop import UsesShop

VERIFICATION_SLOT = "order_verification"


def check(slot: Text, value: Any, parse: Callable[[Any], Optional[str]],
          dispatcher: CollectingDispatcher) -> Dict[Text, Any]:
    """Set `slot` to the parsed value; when it does not parse, say `utter_invalid_<slot>` and ask again."""
    parsed = parse(value)
    if parsed is None:
        dispatcher.utter_message(response=f"utter_invalid_{slot}")
    return {slot: parsed}


class _OrderNumberValidation(UsesShop, FormValidationAction, ABC):
    """Checks `order_number` (a malformed one is re-asked with `utter_invalid_order_number`), then, unless the
    conversation may already act on that order (signed in as its owner, or proved earlier), asks for the
    e-mail or postcode on it (`order_verification`, utter_ask_order_verification). A wrong answer, or any
    answer for an order that does not exist, gets `utter_order_verification_failed` and counts against
    the conversation's attempts (slot `order_verification_failures`); once they are used up the slot is
    set to "failed", the form ends, and the submit action offers a person.

    The shop client is made on first use; tests pass their own."""

    @abstractmethod
    def name(self) -> Text:
        """Abstract: the action server skips this class."""

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        number, answer = tracker.get_slot("order_number"), tracker.get_slot(VERIFICATION_SLOT)
        if VERIFICATION_SLOT not in domain_slots or not number or answer == VERIFIED:
            return domain_slots
        upto = domain_slots.index(VERIFICATION_SLOT)
        if answer == FAILED:  # no more questions: the submit action offers a person
            return domain_slots[:upto + 1]
        if await self.shop.order(number, verified_customer(tracker)) is not None:  # signed-in owner, or proved
            return [s for s in domain_slots if s != VERIFICATION_SLOT]
        if locked(tracker.get_slot("order_verification_failures")):
            return domain_slots[:upto]
        return domain_slots

    async def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return check("order_number", value, order_number_from, dispatcher)

    async def validate_order_verification(self, value: Any, dispatcher: CollectingDispatcher,
                                          tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        number = tracker.get_slot("order_number")
        if number and isinstance(value, str) and await self.shop.verify_guest(number, value):
            proved = list(tracker.get_slot("verified_orders") or [])
            return {VERIFICATION_SLOT: VERIFIED, "verified_orders": sorted({*proved, number})}
        failures = failures_from(tracker.get_slot("order_verification_failures")) + 1
        if failures >= MAX_ATTEMPTS:
            return {VERIFICATION_SLOT: FAILED, "order_verification_failures": failures}
        dispatcher.utter_message(response="utter_order_verification_failed", order_number=number,
                                 attempts_left=MAX_ATTEMPTS - failures)
        return {VERIFICATION_SLOT: None, "order_verification_failures": failures}


class ValidateOrderStatusForm(_OrderNumberValidation):
    def name(self) -> Text:
        return "validate_order_status_form"


class ValidateAddressChangeForm(_OrderNumberValidation):
    """Also checks `new_address` (utter_invalid_new_address)."""

    def name(self) -> Text:
        return "validate_address_change_form"

    async def validate_new_address(self, value: Any, dispatcher: CollectingDispatcher,
                                   tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return check("new_address", value, address_from, dispatcher)


class ValidateReturnForm(_OrderNumberValidation):
    """Also checks `return_reason` (utter_invalid_return_reason)."""

    def name(self) -> Text:
        return "validate_return_form"

    async def validate_return_reason(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return check("return_reason", value, reason_from, dispatcher)


class ValidateSurveyForm(FormValidationAction):
    """The satisfaction survey after a closed chat: `survey_resolved` (yes/no buttons or typed) and
    `survey_rating` 1-5 (buttons or typed; "skip" skips). A rating that does not parse is asked again."""

    def name(self) -> Text:
        return "validate_survey_form"

    async def validate_survey_rating(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        rating = rating_from(value)
        if rating is None:
            dispatcher.utter_message(response="utter_survey_rating_invalid")
        return {"survey_rating": rating}
