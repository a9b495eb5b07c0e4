"""Validation of the order-status, address-change and return forms."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.parsing import address_from, order_number_from, rating_from, reason_from


def check(slot: Text, value: Any, parse: Callable[[Any], Optional[str]],
          dispatcher: CollectingDispatcher) -> Dict[Text, Any]:
    """Set `slot` to the parsed value; when it does not parse, say `utter_invalid_<slot>` and ask again."""
    parsed = parse(value)
    if parsed is None:
        dispatcher.utter_message(response=f"utter_invalid_{slot}")
    return {slot: parsed}


class _OrderNumberValidation(FormValidationAction, ABC):
    """Checks `order_number`; a malformed one is re-asked with `utter_invalid_order_number`."""

    @abstractmethod
    def name(self) -> Text:
        """Abstract: the action server skips this class."""

    async def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return check("order_number", value, order_number_from, dispatcher)


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
