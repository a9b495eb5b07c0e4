"""After any hand-back (a person released or closed the chat, a ticket, a failed delivery) the
handoff decision starts afresh: a closed chat followed by the survey creates no second escalation."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ConversationPaused, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.handoff import ActionRequestHandoff
from bot.bridge.delivery import hand_back_events
from bot.bridge.events import CLOSED_INTENT
from bot.policies.handoff import HandoffPolicy
from tests.unit.test_handoff_again import TICKET, answer, slots_after  # noqa: F401 - fixture
from tests.conftest import make_tracker
from tests.unit.test_scoring import ANGRY, run

ROOT = Path(__file__).resolve().parents[2]
HAND_OFF = {"handoff": True, "triggers": [{"name": "explicit_request", "reason": "The customer asked for a person."}]}


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> HandoffPolicy:
    storage = LocalModelStorage(tmp_path_factory.mktemp("policy"))
    return HandoffPolicy.create(HandoffPolicy.get_default_config(), storage, Resource("handoff"),
                                ExecutionContext(GraphSchema({}), "test"))


def handed_off(domain: Domain) -> DialogueStateTracker:
    """A conversation a person had: the request made on the customer's word, the bot paused."""
    tracker = DialogueStateTracker("c1", domain.slots)
    for event in [ActionExecuted(ACTION_LISTEN_NAME),
                  UserUttered("I want to talk to a human", {"name": "human_handoff", "confidence": 0.99}),
                  SlotSet("handoff_decision", HAND_OFF), ActionExecuted("action_request_handoff"),
                  SlotSet("handoff_request", {"conversation_id": "c1"}), ConversationPaused(),
                  ActionExecuted(ACTION_LISTEN_NAME)]:
        tracker.update(event, domain)
    return tracker


def predicted(policy: HandoffPolicy, tracker: DialogueStateTracker, domain: Domain) -> str:
    prediction = policy.predict_action_probabilities(tracker, domain)
    best = max(range(len(prediction.probabilities)), key=prediction.probabilities.__getitem__)
    return domain.action_names_or_texts[best] if prediction.probabilities[best] > 0 else "nothing"


@pytest.mark.parametrize("then", ["survey", "customer"])
def test_a_closed_chat_does_not_hand_off_again(domain, policy, then):
    tracker = handed_off(domain)
    for event in [*hand_back_events(), ActionExecuted(ACTION_LISTEN_NAME)]:  # what the bridge's resume stores
        tracker.update(event, domain)
    # The bridge triggers the survey (or the customer writes first); the scoring did not run (the action server
    # was restarting), so the slots are what the hand-back left.
    if then == "survey":
        tracker.update(UserUttered.create_external(CLOSED_INTENT, [], "socketio"), domain)
    else:
        tracker.update(UserUttered("4", {"name": "inform", "confidence": 0.9}), domain)
    assert tracker.get_slot("handoff_decision") is None  # old code: still "hand off" from before the handoff
    assert predicted(policy, tracker, domain) != "action_request_handoff"  # old code: a second escalation


def test_an_external_intent_is_never_a_customer_asking_for_a_person(domain, policy):
    tracker = DialogueStateTracker("c2", domain.slots)
    for event in [ActionExecuted(ACTION_LISTEN_NAME), SlotSet("handoff_decision", HAND_OFF),
                  UserUttered.create_external(CLOSED_INTENT, [], "socketio")]:
        tracker.update(event, domain)
    assert predicted(policy, tracker, domain) != "action_request_handoff"
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME), domain)
    tracker.update(UserUttered("I want a human", {"name": "human_handoff", "confidence": 0.99}), domain)
    assert predicted(policy, tracker, domain) == "action_request_handoff"  # a customer's own word still does


def test_a_ticket_resets_the_decision_as_a_hand_back_does(answer):  # noqa: F811
    answer["delivery"] = TICKET
    events, _ = run(ActionRequestHandoff(), make_tracker(ANGRY))
    slots = slots_after(events)
    assert slots["handoff_request"] is None and slots["handoff_decision"] is None
    assert events[-1]["event"] == "resume"
    reset = {e.key for e in hand_back_events() if isinstance(e, SlotSet) and e.value is None}
    assert {"handoff_request", "handoff_decision"} <= reset
