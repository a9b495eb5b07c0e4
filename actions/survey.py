"""The satisfaction survey after an agent closed the chat or the team solved a ticket: when it is due
(policy/survey.yml) the bridge sets `survey_escalation` (a chat) or `survey_ticket` (a ticket) and triggers
EXTERNAL_survey; the rules run `survey_form` (resolved yes / no / "I need more help", then 1-5); this action
stores the answer (POST /v1/handoffs/{id}/survey or /v1/tickets/{ref}/survey) and clears the survey's slots.

"Not solved": the service opens a follow-up case with the agent who had it (or reopens the ticket) and answers
its label, agent and answer time, which this action tells the customer (utter_survey_follow_up,
utter_survey_reopened). "I need more help" (the intent human_handoff while the survey runs) stores "not solved,
needs more help" and hands the customer to the team again: HandoffPolicy predicts action_request_handoff at once,
which stores the answer (survey_left_for_a_person); the rules do the same when it does not."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.delivery import answer_survey

SURVEY_SLOTS = ("survey_escalation", "survey_ticket", "survey_resolved", "survey_rating")
MORE_HELP_INTENT = "human_handoff"


def survey_answer(resolved: Any, rating: Any, more_help: bool = False) -> Optional[Dict[str, Any]]:
    """The body of POST /v1/handoffs/{id}/survey, or None when the customer answered nothing."""
    if more_help:
        return {"resolved": False, "rating": None, "more_help": True}
    if not isinstance(resolved, bool):
        return None
    stars = int(rating) if isinstance(rating, str) and rating.isdigit() and 1 <= int(rating) <= 5 else None
    return {"resolved": resolved, "rating": stars}


def follow_up_response(answer: Optional[Dict[str, Any]]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The response (and its values) that tells the customer of the case a "not solved" opened or reopened; None
    when the service's answer names none (or no answer time to tell)."""
    follow = (answer or {}).get("follow_up")
    if not isinstance(follow, dict) or not follow.get("label") or not follow.get("due_local"):
        return None
    values = {"ticket_label": follow["label"], "agent_name": follow.get("agent_name") or "",
              "due_local": follow["due_local"], "timezone": follow.get("timezone") or "UTC"}
    if follow.get("reopened") and values["agent_name"]:
        return "utter_survey_reopened", values
    return ("utter_survey_follow_up" if values["agent_name"] else "utter_survey_follow_up_team"), values


async def survey_left_for_a_person(tracker: Tracker) -> List[Dict[Text, Any]]:
    """For action_request_handoff: when the customer asked for a person while the survey ran ("I need more
    help"), HandoffPolicy hands off at once, ahead of the survey's rules: store the answer (not solved, more help)
    here and clear the survey's slots. [] when no survey was running."""
    if tracker.active_loop.get("name") != "survey_form":
        return []
    escalation, ticket = tracker.get_slot("survey_escalation"), tracker.get_slot("survey_ticket")
    if escalation or ticket:
        await answer_survey(str(ticket or escalation), survey_answer(None, None, more_help=True) or {},
                            ticket=bool(ticket))
    return [SlotSet(slot, None) for slot in SURVEY_SLOTS]


class ActionSubmitSurvey(Action):
    """Stores what the customer answered (even half an answer, when they moved on) and thanks them, or tells them
    of the follow-up case."""

    def name(self) -> Text:
        return "action_submit_survey"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        escalation, ticket = tracker.get_slot("survey_escalation"), tracker.get_slot("survey_ticket")
        more_help = (tracker.latest_message.get("intent") or {}).get("name") == MORE_HELP_INTENT
        answer = survey_answer(tracker.get_slot("survey_resolved"), tracker.get_slot("survey_rating"), more_help)
        if (escalation or ticket) and answer is not None:
            status, reply = await answer_survey(str(ticket or escalation), answer, ticket=bool(ticket))
            finished = tracker.get_slot("survey_rating") is not None  # rated or skipped, not left half-way
            told = follow_up_response(reply)
            if told is not None:
                dispatcher.utter_message(response=told[0], **told[1])
            elif status in ("stored", "kept") and finished:
                dispatcher.utter_message(response="utter_survey_thanks")
        return [SlotSet(slot, None) for slot in SURVEY_SLOTS]
