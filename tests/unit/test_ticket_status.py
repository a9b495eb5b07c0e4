"""Tickets as the customer hears of them: the pure helpers (common/customer_tickets.py) and action_ticket_status
against a real HTTP stand-in of the service's lookup, its answers rendered with the domain's real responses."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import status_message
from actions.delivery import Delivery
from actions.tickets import ActionTicketStatus, asked_number, awaiting_answer, lookup_query
from common.customer_tickets import (newest_first, status_response, ticket_number_in, ticket_response, ticket_values,
                                     told_about)
from tests.conftest import ROOT, free_port, make_tracker, user
from tests.ticket_standin import TICKET, TicketStandIn

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
NLG = TemplatedNaturalLanguageGenerator(DOMAIN.responses)


def rendered(messages: List[Dict[str, Any]]) -> List[str]:
    """What the customer reads: each response the action named, filled by Rasa's NLG with its values."""
    tracker = DialogueStateTracker("c", DOMAIN.slots)

    async def one(m: Dict[str, Any]) -> str:
        values = {k: v for k, v in m.items() if k not in ("response", "template", "text") and v is not None}
        return (await NLG.generate(m["response"], tracker, "rest", **values))["text"]

    return [asyncio.run(one(m)) for m in messages]


@pytest.mark.parametrize("text, number", [
    ("what's happening with T-10042?", 10042), ("any news on t10042", 10042), ("工单 T-10042 处理到哪了", 10042),
    ("工单T-10042", 10042), ("ticket 10042 please", 10042), ("工单10042", 10042), ("case #20311?", 20311),
    ("where is my order 10234567", None), ("my ticket", None), ("AT-1000000000", None), (None, None),
])
def test_a_ticket_number_is_found_however_the_customer_writes_it(text: Optional[str], number: Optional[int]):
    assert ticket_number_in(text) == number


def test_a_ticket_is_told_by_number_and_answer_time_or_by_the_older_services_utc_time():
    new = ticket_values(TICKET)
    assert new == {"ticket_label": "T-10042", "due_local": "2026-12-07 13:00", "timezone": "Asia/Shanghai"}
    assert ticket_response(new) == "utter_handoff_ticket"
    undated = ticket_values({"number": 10043, "due_local": None})
    assert (undated, ticket_response(undated)) == ({"ticket_label": "T-10043"}, "utter_handoff_ticket_undated")
    old = ticket_values({"reply_by": "2026-11-25T10:00:00.000Z", "reply_within_hours": 24})
    assert (old, ticket_response(old)) == ({"reply_by": "2026-11-25 10:00 UTC"}, "utter_handoff_ticket_reply_by")
    assert ticket_values(None) == {} and ticket_response({}) is None


def test_the_action_servers_answer_to_a_ticket_reads_as_the_customer_sees_it():
    said, values, paused = status_message(Delivery("sent", {"status": "ticket", "ticket": TICKET}))
    assert not paused
    text = rendered([{"response": said, **values}])[0]
    assert "T-10042" in text and "2026-12-07 13:00 (Asia/Shanghai time)" in text and "{" not in text
    said, values, _ = status_message(Delivery("sent", {"status": "ticket", "ticket": {"reply_by": "2026-11-25T10:00Z"}}))
    assert "2026-11-25 10:00 UTC" in rendered([{"response": said, **values}])[0]


def test_told_about_looks_at_the_bot_messages_marked_with_the_ticket_but_not_at_the_current_events():
    events = [user("hi", "greet"), {"event": "bot", "text": "x", "metadata": {"ticket_label": "T-1"}},
              {"event": "bot", "text": "y", "metadata": {"ticket": "T-2", "message_id": "17-0/1"}}]
    assert told_about(events, "T-1") and told_about(events, "T-2")
    assert not told_about(events, "T-2", except_ids="17-0/") and not told_about(events, "T-3")


def test_states_in_customer_words_newest_open_first():
    tickets = [{**TICKET, "label": "T-1", "state": "solved", "updated_at": "2026-12-06T09:00:00Z"},
               {**TICKET, "label": "T-2", "state": "pending", "updated_at": "2026-12-05T09:00:00Z"},
               {**TICKET, "label": "T-3", "state": "on_hold", "updated_at": "2026-12-06T08:00:00Z"},
               {**TICKET, "label": "T-4", "state": "closed", "updated_at": "2026-12-01T08:00:00Z"}]
    assert [t["label"] for t in newest_first(tickets)] == ["T-3", "T-2", "T-1"]
    names = {"technical": "Technical support"}
    said = [dict(zip(("response", "values"), status_response(t, names))) for t in newest_first(tickets, 4)]
    texts = rendered([{"response": s["response"], **s["values"]} for s in said])
    assert texts[0] == "Your case T-3 is with our Technical support team; they'll update you as soon as they hear back."
    assert "waiting for your reply" in texts[1] and "T-1 is solved" in texts[2] and texts[3] == "Your case T-4 is closed."
    assert "being worked on by our Technical support team" in rendered(
        [{"response": r, **v} for r, v in [status_response({**TICKET, "state": "new"}, names)]])[0]


def test_the_lookup_names_the_conversation_the_verified_customer_and_the_number():
    assert lookup_query("conv", None, None) == {"conversation_id": "conv"}
    assert lookup_query("conv", "c-1", 10042) == {"conversation_id": "conv", "customer_id": "c-1", "number": "10042"}
    assert asked_number(["T-10042"], "whatever") == 10042 and asked_number([], "工单 T-10057") == 10057
    assert asked_number([], "my ticket?") is None
    assert awaiting_answer([{**TICKET, "state": "pending"}]) == {"id": TICKET["id"], "label": "T-10042"}
    assert awaiting_answer([{**TICKET, "state": "open"}]) is None


def run_status(monkeypatch: pytest.MonkeyPatch, url: str, text: str, entities: Optional[List[Dict]] = None,
               metadata: Optional[Dict] = None) -> List[str]:
    monkeypatch.setenv("HANDOFF_URL", url)
    monkeypatch.setenv("HANDOFF_BOT_TOKEN", "bot-token")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("HANDOFF_REDIS_URL", raising=False)
    event = user(text, "ticket_status", entities=entities)
    if metadata:
        event["metadata"] = metadata
    tracker = make_tracker([event])
    dispatcher = CollectingDispatcher()
    assert asyncio.run(ActionTicketStatus().run(dispatcher, tracker, {})) == []
    return rendered(dispatcher.messages)


def with_standin(work: Any) -> TicketStandIn:
    standin = TicketStandIn()

    async def go() -> None:
        await standin.start()
        try:
            await asyncio.get_event_loop().run_in_executor(None, work, standin)
        finally:
            await standin.stop()

    asyncio.run(go())
    return standin


def test_the_customer_hears_where_their_ticket_stands(monkeypatch: pytest.MonkeyPatch):
    said: Dict[str, List[str]] = {}

    def ask(standin: TicketStandIn) -> None:
        said["texts"] = run_status(monkeypatch, standin.url, "what's happening with T-10042?",
                                   [{"entity": "ticket_number", "value": "T-10042"}],
                                   {"customer": {"id": "c-42", "vip_tier": "none"}})

    standin = with_standin(ask)
    assert said["texts"] == ["Your case T-10042 is being worked on by our Technical support team."]
    (request,) = standin.requests("/v1/tickets/lookup")
    assert request["method"] == "GET" and request["auth"] == "Bearer bot-token"
    assert request["query"] == {"conversation_id": "test-customer", "customer_id": "c-42", "number": "10042"}


def test_no_ticket_found_says_so_with_or_without_a_number(monkeypatch: pytest.MonkeyPatch):
    said: Dict[str, List[str]] = {}

    def ask(standin: TicketStandIn) -> None:
        standin.tickets = []
        said["numbered"] = run_status(monkeypatch, standin.url, "status of t10077")
        said["plain"] = run_status(monkeypatch, standin.url, "any news on my case?")

    standin = with_standin(ask)
    assert said["numbered"] == ["I couldn't find case T-10077 for you. Please check the number in our e-mail or chat, "
                                "or I can help you right here."]
    assert said["plain"][0].startswith("I couldn't find an open case for you")
    assert [r["query"] for r in standin.requests("/lookup")] == [
        {"conversation_id": "test-customer", "number": "10077"}, {"conversation_id": "test-customer"}]


@pytest.mark.parametrize("problem", ["down", "500"])
def test_a_service_that_cannot_answer_gets_an_apology_not_a_crash(monkeypatch: pytest.MonkeyPatch, problem: str):
    said: Dict[str, List[str]] = {}
    if problem == "down":
        said["texts"] = run_status(monkeypatch, f"http://127.0.0.1:{free_port()}", "my ticket?")
    else:
        def ask(standin: TicketStandIn) -> None:
            standin.answers[("GET", "/v1/tickets/lookup")] = (500, {"error": {"code": "x", "message": "y"}})
            said["texts"] = run_status(monkeypatch, standin.url, "my ticket?")
        with_standin(ask)
    assert said["texts"] == ["Sorry, I can't look up your case right now. Please try again in a few minutes; your "
                             "case is safe with our team."]


def test_asking_about_a_ticket_by_number_is_not_read_as_a_technical_fault():
    from actions.scoring import score, tables

    asked = [user("what's happening with my ticket T-10042?", "ticket_status")]
    signals, _, decision = score(asked, tables())
    assert signals.error_codes == [] and "system_error" not in signals.categories
    assert not decision.handoff  # the old code handed off: "A technical fault (“T-10042”)"
    fault = [user("the app shows error APP-1123 when I pay", "faq")]
    assert score(fault, tables())[0].error_codes == ["APP-1123"]
