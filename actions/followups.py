"""Answer a follow-up question ("who pays for that?") in the context of the FAQ just answered."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import followup_response, topic_in_context


class ActionAnswerFollowup(Action):
    """Needs intents ask_* and responses utter_followup_<topic>_<kind> plus utter_followup_unknown.

    An editor adds a follow-up path by adding a response; no Python changes.
    """

    def name(self) -> Text:
        return "action_answer_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        topic = topic_in_context(tracker.applied_events())
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dispatcher.utter_message(response=followup_response(topic, intent, domain.get("responses", {})))
        return []
