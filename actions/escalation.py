"""Handing the conversation to a person: on request, or after NLU failed twice in a row."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import consecutive_fallbacks

FALLBACKS_BEFORE_ESCALATION = 2


def escalate(dispatcher: CollectingDispatcher, reason: Text) -> List[Dict[Text, Any]]:
    """Record the request for a person and tell the customer (the handoff service will take it over)."""
    dispatcher.utter_message(response="utter_handoff_recorded")
    return [SlotSet("handoff_requested", True), SlotSet("handoff_reason", reason)]


class ActionEscalate(Action):
    """The customer asked for a person. Sets slots handoff_requested, handoff_reason."""

    def name(self) -> Text:
        return "action_escalate"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        return escalate(dispatcher, "customer_request")


class ActionHandleFallback(Action):
    """First misunderstanding: ask to rephrase (utter_ask_rephrase). Second in a row: escalate."""

    def name(self) -> Text:
        return "action_handle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if consecutive_fallbacks(tracker.applied_events()) >= FALLBACKS_BEFORE_ESCALATION:
            return escalate(dispatcher, "repeated_fallback")
        dispatcher.utter_message(response="utter_ask_rephrase")
        return []
