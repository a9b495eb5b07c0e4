"""The survey's action against a real HTTP server standing in for the handoff service: what it posts for each
answer (yes / no / "I need more help", chat or ticket) and what it says from the service's answer (the follow-up
case, the reopened case, thanks); and the bridge's rule that a survey is asked once."""
from __future__ import annotations

import asyncio
import os
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web
from rasa.shared.core.events import SlotSet, UserUttered
from rasa_sdk.events import SlotSet as SdkSlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.survey import (SURVEY_SLOTS, ActionSubmitSurvey, follow_up_response, survey_answer,
                            survey_left_for_a_person)
from bot.bridge.surveys import SURVEY_INTENT, asked_already, survey_slot
from tests.conftest import free_port, make_tracker, user

FOLLOW_UP = {"id": "t1", "label": "T-10007", "state": "open", "priority": 30, "agent_id": "ann",
             "agent_name": "Ann Lee", "group": "general", "reopened": False, "due_at": "2026-12-07T05:00:00.000Z",
             "due_local": "2026-12-07 13:00", "timezone": "Asia/Shanghai"}


def test_the_answers_sent_to_the_service():
    assert survey_answer(False, "2") == {"resolved": False, "rating": 2}
    assert survey_answer(None, None, more_help=True) == {"resolved": False, "rating": None, "more_help": True}


def test_what_the_customer_is_told_of_the_follow_up():
    assert follow_up_response({"follow_up": FOLLOW_UP}) == ("utter_survey_follow_up", {
        "ticket_label": "T-10007", "agent_name": "Ann Lee", "due_local": "2026-12-07 13:00",
        "timezone": "Asia/Shanghai"})
    assert follow_up_response({"follow_up": {**FOLLOW_UP, "reopened": True}})[0] == "utter_survey_reopened"
    assert follow_up_response({"follow_up": {**FOLLOW_UP, "agent_name": None}})[0] == "utter_survey_follow_up_team"
    assert follow_up_response({"follow_up": None}) is None and follow_up_response(None) is None


def serve(answers: Dict[str, Tuple[int, Dict[str, Any]]], received: List[Tuple[str, Any]]):
    async def handle(request: web.Request) -> web.Response:
        received.append((request.path, await request.json()))
        status, body = answers[request.path]
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


def submit(slots: Dict[str, Any], intent: str, answers: Dict[str, Tuple[int, Dict[str, Any]]],
           active_loop: Optional[str] = None, left: bool = False):
    """Run action_submit_survey (or, ``left``, survey_left_for_a_person) against a real HTTP stand-in."""
    received: List[Tuple[str, Any]] = []
    port = free_port()

    async def scenario():
        runner = web.AppRunner(serve(answers, received))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            dispatcher = CollectingDispatcher()
            tracker = make_tracker([user("x", intent)], slots=slots, active_loop=active_loop)
            if left:
                return await survey_left_for_a_person(tracker), []
            events = await ActionSubmitSurvey().run(dispatcher, tracker, {"responses": {}})
            return events, dispatcher.messages
        finally:
            await runner.cleanup()

    old = {k: os.environ.get(k) for k in ("HANDOFF_URL", "HANDOFF_BOT_TOKEN", "REDIS_URL", "HANDOFF_REDIS_URL")}
    os.environ.update({"HANDOFF_URL": f"http://127.0.0.1:{port}", "HANDOFF_BOT_TOKEN": "t" * 32})
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("HANDOFF_REDIS_URL", None)
    try:
        events, messages = asyncio.run(scenario())
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    said = [{k: v for k, v in m.items() if k in ("response", "ticket_label", "agent_name", "due_local", "timezone")}
            for m in messages]
    return received, events, said


CLEARED = [SdkSlotSet(slot, None) for slot in SURVEY_SLOTS]


def test_not_solved_on_a_chat_tells_the_customer_of_the_follow_up_case():
    received, events, said = submit({"survey_escalation": "e1", "survey_resolved": False, "survey_rating": "2"},
                                    "affirm", {"/v1/handoffs/e1/survey": (200, {"id": "e1", "follow_up": FOLLOW_UP})})
    assert received == [("/v1/handoffs/e1/survey", {"resolved": False, "rating": 2})]
    assert said == [{"response": "utter_survey_follow_up", "ticket_label": "T-10007", "agent_name": "Ann Lee",
                     "due_local": "2026-12-07 13:00", "timezone": "Asia/Shanghai"}]
    assert events == CLEARED


def test_not_solved_on_a_ticket_posts_to_the_ticket_and_says_it_reopened():
    received, events, said = submit({"survey_ticket": "T-10007", "survey_resolved": False, "survey_rating": "skipped"},
                                    "deny", {"/v1/tickets/T-10007/survey": (200, {"follow_up": {**FOLLOW_UP,
                                                                                               "reopened": True}})})
    assert received == [("/v1/tickets/T-10007/survey", {"resolved": False, "rating": None})]
    assert [s["response"] for s in said] == ["utter_survey_reopened"] and events == CLEARED


def test_solved_thanks_and_i_need_more_help_stores_it_and_says_nothing_more():
    received, _, said = submit({"survey_escalation": "e2", "survey_resolved": True, "survey_rating": "5"}, "affirm",
                               {"/v1/handoffs/e2/survey": (200, {"id": "e2", "follow_up": None})})
    assert said == [{"response": "utter_survey_thanks"}]
    received, events, said = submit({"survey_escalation": "e3", "survey_resolved": None, "survey_rating": None},
                                    "human_handoff", {"/v1/handoffs/e3/survey": (200, {"id": "e3", "follow_up": None})})
    assert received == [("/v1/handoffs/e3/survey", {"resolved": False, "rating": None, "more_help": True})]
    assert said == [] and events == CLEARED  # the rules hand them to the team next (action_request_handoff)


def test_asking_for_a_person_during_the_survey_stores_i_need_more_help_before_the_handoff():
    """HandoffPolicy hands off ahead of the survey's rules; action_request_handoff stores the answer through this."""
    slots = {"survey_escalation": "e4", "survey_resolved": None, "survey_rating": None}
    answers = {"/v1/handoffs/e4/survey": (200, {"id": "e4", "follow_up": None})}
    received, events, _ = submit(slots, "human_handoff", answers, active_loop="survey_form", left=True)
    assert received == [("/v1/handoffs/e4/survey", {"resolved": False, "rating": None, "more_help": True})]
    assert events == CLEARED
    received, events, _ = submit(slots, "human_handoff", answers, active_loop=None, left=True)
    assert received == [] and events == []  # no survey running: nothing to store


def test_a_survey_is_asked_once_per_case():
    closed = [SlotSet("survey_escalation", "e1"), UserUttered.create_external("EXTERNAL_handoff_closed", [])]
    assert not asked_already(closed, "survey_escalation", "e1")  # the close names it, but asks nothing
    asked = [*closed, SlotSet("survey_escalation", "e1"), UserUttered.create_external(SURVEY_INTENT, [])]
    assert asked_already(asked, "survey_escalation", "e1")
    assert not asked_already(asked, "survey_escalation", "e2")
    assert survey_slot({"subject": "ticket", "ticket": "t1", "label": "T-10007"}) == ("survey_ticket", "T-10007")
    assert survey_slot({"subject": "chat", "escalation": "e1"}) == ("survey_escalation", "e1")
    assert survey_slot({"subject": "chat"}) is None
