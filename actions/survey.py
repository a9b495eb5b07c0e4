"""The satisfaction survey after an agent closed the chat: the bridge sets `survey_escalation` and triggers
EXTERNAL_handoff_closed; the rules run `survey_form` (resolved yes/no, then 1-5); this action stores the
answer on the escalation (POST /v1/handoffs/{id}/survey) and clears the survey's slots."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.delivery import submit_survey

SURVEY_SLOTS = ("survey_escalation", "survey_resolved", "survey_rating")


def survey_answer(resolved: Any, rating: Any) -> Optional[Dict[str, Any]]:
    """The body of POST /v1/handoffs/{id}/survey, or None when the customer answered nothing."""
    if not isinstance(resolved, bool):
        return None
    stars = int(rating) if isinstance(rating, str) and rating.isdigit() and 1 <= int(rating) <= 5 else None
    return {"resolved": resolved, "rating": stars}


class ActionSubmitSurvey(Action):
    """Stores what the customer answered (even half an answer, when they moved on) and thanks them."""

    def name(self) -> Text:
        return "action_submit_survey"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        escalation = tracker.get_slot("survey_escalation")
        answer = survey_answer(tracker.get_slot("survey_resolved"), tracker.get_slot("survey_rating"))
        if escalation and answer is not None:
            stored = await submit_survey(str(escalation), answer) in ("stored", "kept")
            finished = tracker.get_slot("survey_rating") is not None  # rated or skipped, not left half-way
            if stored and finished:
                dispatcher.utter_message(response="utter_survey_thanks")
        return [SlotSet(slot, None) for slot in SURVEY_SLOTS]
