"""After a ticket or a failed delivery the customer keeps the bot, and the automatic handoff works
again for them (the `handoff_request` slot is cleared); while a person is coming it stays set."""
import pytest

from actions.delivery import Delivery
from actions.handoff import ActionRequestHandoff
from actions.scoring import ActionScoreConversation
from bot.policies.handoff import should_hand_off
from tests.conftest import make_tracker
from tests.unit.test_scoring import ANGRY, run, turn

TICKET = Delivery("sent", {"id": "e7", "status": "ticket", "skill_group": "after_sales",
                           "ticket": {"reply_by": "2026-11-25T10:00:00.000Z"}})
WAITING = Delivery("sent", {"id": "e8", "status": "waiting", "skill_group": "after_sales", "queue_position": 1})


def slots_after(events):
    slots = {}
    for e in events:
        if e["event"] == "slot":
            slots[e["name"]] = e["value"]
    return slots


@pytest.fixture
def answer(monkeypatch):
    given = {}

    async def fake_deliver(request):
        given["request"] = request
        return given["delivery"]
    monkeypatch.setattr("actions.handoff.deliver", fake_deliver)
    return given


@pytest.mark.parametrize("delivery", [TICKET, Delivery("rejected"), Delivery("failed")], ids=["ticket", "rejected",
                                                                                             "failed"])
def test_after_a_ticket_or_a_failed_delivery_the_next_problem_hands_off_again(answer, delivery):
    answer["delivery"] = delivery
    events, _ = run(ActionRequestHandoff(), make_tracker(ANGRY))
    assert not any(e["event"] == "pause" for e in events)  # the customer has the bot
    assert events[0]["name"] == "handoff_request" and events[0]["value"]  # what was asked is on the record
    slots = slots_after(events)
    assert slots["handoff_request"] is None  # old code: the request stayed, so nothing handed off again
    so_far = ANGRY + [dict(e) for e in events]
    # a plain next message does not ask again at once (the scores start afresh after the answer)...
    calm = so_far + [turn("ok, and how long does shipping take?", "faq", 0.1, ts=1_700_000_300.0)]
    scored, _ = run(ActionScoreConversation(), make_tracker(calm, slots))
    assert not slots_after(scored)["handoff_decision"]["handoff"]
    # ...and a new problem later hands off the normal way: the scoring decides so and the policy follows it
    later = calm + [turn("then I will take legal action and call my lawyer", "inform", -0.6, ts=1_700_000_400.0)]
    scored, _ = run(ActionScoreConversation(), make_tracker(later, slots))
    decision = slots_after(scored)["handoff_decision"]
    assert decision["handoff"] is True
    assert should_hand_off(decision, slots["handoff_request"], "action_listen")


def test_while_a_person_is_coming_the_request_stays_pending(answer):
    answer["delivery"] = WAITING
    events, _ = run(ActionRequestHandoff(), make_tracker(ANGRY))
    slots = slots_after(events)
    assert slots["handoff_request"]["conversation_id"] == "test-customer"
    assert events[-1]["event"] == "pause"
    assert not should_hand_off({"handoff": True}, slots["handoff_request"], "action_listen")
