"""Validation of the order-status, address-change and return forms."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.parsing import address_from, order_number_from, reason_from


class _OrderNumberValidation(FormValidationAction, ABC):
    """Checks `order_number`; a malformed one is re-asked with `utter_invalid_order_number`."""

    @abstractmethod
    def name(self) -> Text:
        """Abstract: the action server skips this class."""

    async def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        number = order_number_from(value)
        if number is None:
            dispatcher.utter_message(response="utter_invalid_order_number")
        return {"order_number": number}


class ValidateOrderStatusForm(_OrderNumberValidation):
    def name(self) -> Text:
        return "validate_order_status_form"


class ValidateAddressChangeForm(_OrderNumberValidation):
    def name(self) -> Text:
        return "validate_address_change_form"

    async def validate_new_address(self, value: Any, dispatcher: CollectingDispatcher,
                                   tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        address = address_from(value)
        if address is None:
            dispatcher.utter_message(response="utter_invalid_address")
        return {"new_address": address}


class ValidateReturnForm(_OrderNumberValidation):
    def name(self) -> Text:
        return "validate_return_form"

    async def validate_return_reason(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        reason = reason_from(value)
        if reason is None:
            dispatcher.utter_message(response="utter_invalid_return_reason")
        return {"return_reason": reason}
