"""What the forms do once filled: look up an order, change its address, open a return.

Each acts only for the customer who owns the order (actions/ownership.py): the shop answers for anyone
else's order exactly as for an order that does not exist (utter_order_not_found), and a guest whose
verification attempts ran out is offered a person instead (utter_order_verification_locked)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.ownership import VerifiedCustomer, customer_of, locked
from actions.shop import ChangeResult, OrderStatus, ReturnResult, UsesShop, format_date

FORM_SLOTS = ("order_number", "order_verification", "new_address", "return_reason")


def clear_form_slots() -> List[Dict[Text, Any]]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


class ShopAction(UsesShop, Action, ABC):
    """Base of the actions that talk to the shop. Needs slot `order_number`.

    The shop client is made on first use (never at import or construction); tests pass their own.
    """

    @abstractmethod
    def name(self) -> Text:
        """Abstract: the action server skips this class."""


def verified_customer(tracker: Tracker) -> VerifiedCustomer:
    """Who this conversation may act for (signed token, or the orders the guest proved)."""
    return customer_of(tracker.events, tracker.get_slot("verified_orders"))


def not_found(customer: VerifiedCustomer, tracker: Tracker) -> Text:
    """What to say when the order is not (visibly) there: a guest out of attempts is offered a person."""
    if not customer.signed_in and locked(tracker.get_slot("order_verification_failures")):
        return "utter_order_verification_locked"
    return "utter_order_not_found"


class ActionOrderStatus(ShopAction):
    """Says the status of order `order_number` (responses utter_order_status_<status>, utter_order_not_found)."""

    def name(self) -> Text:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        number, customer = tracker.get_slot("order_number"), verified_customer(tracker)
        order = await self.shop.order(number, customer) if number else None
        if order is None:
            dispatcher.utter_message(response=not_found(customer, tracker), order_number=number)
        elif order.status is OrderStatus.SHIPPED:
            dispatcher.utter_message(response="utter_order_status_shipped", order_number=number,
                                     carrier=order.carrier, tracking_number=order.tracking_number,
                                     eta=format_date(order.eta, tracker.get_slot("language")))
        elif order.status is OrderStatus.DELIVERED:
            dispatcher.utter_message(response="utter_order_status_delivered", order_number=number,
                                     delivered_on=format_date(order.delivered_on, tracker.get_slot("language")))
        else:
            response = {OrderStatus.PROCESSING: "utter_order_status_processing",
                        OrderStatus.CANCELLED: "utter_order_status_cancelled"}[order.status]
            dispatcher.utter_message(response=response, order_number=number)
        return clear_form_slots()


class ActionSubmitAddressChange(ShopAction):
    """Changes the delivery address of `order_number` to `new_address` when the order has not shipped."""

    def name(self) -> Text:
        return "action_submit_address_change"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        number, address = tracker.get_slot("order_number"), tracker.get_slot("new_address")
        customer = verified_customer(tracker)
        result = await self.shop.change_address(number, address, customer)
        response = {ChangeResult.DONE: "utter_address_change_done",
                    ChangeResult.TOO_LATE: "utter_address_change_too_late",
                    ChangeResult.NOT_FOUND: not_found(customer, tracker)}[result]
        dispatcher.utter_message(response=response, order_number=number, new_address=address)
        return clear_form_slots()


class ActionSubmitReturn(ShopAction):
    """Opens a return for `order_number` with `return_reason` when it is delivered and within 30 days."""

    def name(self) -> Text:
        return "action_submit_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        number, reason = tracker.get_slot("order_number"), tracker.get_slot("return_reason")
        customer = verified_customer(tracker)
        result, return_id = await self.shop.create_return(number, reason, customer)
        response = {ReturnResult.CREATED: "utter_return_created",
                    ReturnResult.NOT_DELIVERED: "utter_return_not_delivered",
                    ReturnResult.WINDOW_CLOSED: "utter_return_not_eligible",
                    ReturnResult.NOT_FOUND: not_found(customer, tracker)}[result]
        details = {"return_id": return_id} if return_id else {}
        dispatcher.utter_message(response=response, order_number=number, **details)
        return clear_form_slots()


class ActionClearFormSlots(Action):
    """Forgets what a stopped form had collected, so the next form starts fresh."""

    def name(self) -> Text:
        return "action_clear_form_slots"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        return clear_form_slots()
