"""Retried ticket requests against a real service process over real Redis: a request whose answer was lost
(its process killed after the change was written, a dropped connection) is sent again, and the customer sees
what the agent did once."""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List

import redis as redis_lib
import requests

from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer


def customer_events(service: Cluster, conversation: str) -> List[Dict[str, Any]]:
    """What the bot's bridge reads for this conversation (the service's event stream)."""
    r = redis_lib.Redis.from_url(service.redis_url, decode_responses=True)
    said = [json.loads(f["e"]) for _, f in r.xrange("{ho}:events")]
    return [e for e in said if e.get("conversation_id") == conversation]


def test_a_retried_reply_with_its_message_id_reaches_the_customer_once_and_is_answered_200(service: Cluster):
    url, ann = service.urls[0], bearer(service.login("ann"))
    conversation = f"retry-{uuid.uuid4().hex[:6]}"
    made = requests.post(f"{url}/v1/tickets", headers=bearer(BOT_TOKEN), json={
        "subject": "my parcel", "skill_group": "general", "request_key": conversation,
        "requester": {"customer_id": "c-retry", "channel": "socketio", "conversation_id": conversation}})
    assert made.status_code == 201, made.text
    label = made.json()["label"]
    assert requests.post(f"{url}/v1/tickets/{label}/claim", headers=ann).status_code == 200

    answers = []
    for body in ({"text": "It ships tomorrow.", "message_id": "console-r1"},
                 {"text": "It ships tomorrow.", "message_id": "console-r1"},  # the console's retry
                 {"text": "Anything else?"}, {"text": "Anything else?"},  # no message_id: two replies
                 {"text": "It has arrived, closing.", "state": "solved", "message_id": "console-r2"},
                 {"text": "It has arrived, closing.", "state": "solved", "message_id": "console-r2"}):  # again
        answers.append(requests.post(f"{url}/v1/tickets/{label}/replies", json=body, headers=ann))

    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert [a.json()["state"] for a in answers] == ["pending"] * 4 + ["solved"] * 2
    timeline = requests.get(f"{url}/v1/tickets/{label}", headers=ann).json()["timeline"]
    replies = ["It ships tomorrow.", "Anything else?", "Anything else?", "It has arrived, closing."]
    assert [e["text"] for e in timeline if e["kind"] == "reply"] == replies
    assert [(e["from"], e["to"]) for e in timeline if e["kind"] == "state"] == [
        ("new", "open"), ("open", "pending"), ("pending", "solved")]
    told = [e["text"] for e in customer_events(service, conversation) if e["type"] == "ticket_reply"]
    assert told == replies


def test_the_reply_rule_adds_a_message_id_once_in_any_state_and_remembers_the_latest_50():
    from handoff.tickets import transitions as tr
    from handoff.tickets.model import Ticket, TicketState

    t = Ticket(id="t1", number=10001, state=TicketState.OPEN, subject="s", group="general", owner_group="general",
               priority=10, created_at=0.0, updated_at=0.0, assignee="ann")
    first = tr.reply(t, "ann", "done", 1.0, TicketState.SOLVED, "m-1")
    assert first.changed and first.ticket.state == TicketState.SOLVED and first.ticket.reply_ids == ["m-1"]
    again = tr.reply(Ticket.from_json(first.ticket.to_json()), "ann", "done", 2.0, TicketState.SOLVED, "m-1")
    assert not again.changed and again.entries == {} and again.events == []
    later = first.ticket
    later.state = TicketState.OPEN
    for n in range(2, 60):
        later = tr.reply(later, "ann", "x", float(n), TicketState.OPEN, f"m-{n}").ticket
    assert later.reply_ids == [f"m-{n}" for n in range(10, 60)]
    assert tr.reply(later, "ann", "x", 61.0, TicketState.OPEN, "m-1").changed  # forgotten: a new reply


def test_a_retried_merge_is_answered_with_the_kept_ticket_and_merges_nothing_again(service: Cluster):
    url, ann = service.urls[0], bearer(service.login("ann"))
    labels = []
    for n in range(2):
        made = requests.post(f"{url}/v1/tickets", headers=bearer(BOT_TOKEN), json={
            "subject": f"duplicate {n}", "skill_group": "general",
            "requester": {"customer_id": "c-merge", "channel": "api"}})
        assert made.status_code == 201, made.text
        labels.append(made.json()["label"])
    duplicate, kept = labels
    answers = [requests.post(f"{url}/v1/tickets/{duplicate}/merge", json={"into": kept}, headers=ann)
               for _ in range(2)]  # the second: the agent's retry after a lost answer
    assert [(a.status_code, a.json().get("label")) for a in answers] == [(200, kept), (200, kept)], answers[1].text
    timeline = requests.get(f"{url}/v1/tickets/{kept}", headers=ann).json()["timeline"]
    assert [e["from"] for e in timeline if e["kind"] == "merged"] == [duplicate]


def test_a_retried_next_step_with_the_step_it_saw_moves_the_ticket_once(service: Cluster):
    url, ann = service.urls[0], bearer(service.login("ann"))
    made = requests.post(f"{url}/v1/tickets", headers=bearer(BOT_TOKEN), json={
        "subject": "kettle does not heat", "flow": "repair", "request_key": f"step-{uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    label = made.json()["label"]
    assert requests.post(f"{url}/v1/tickets/{label}/claim", headers=ann).status_code == 200
    body = {"next_step": True, "from_step": 0, "note": "E42: firmware?"}
    first = requests.post(f"{url}/v1/tickets/{label}/send", json=body, headers=ann)
    again = requests.post(f"{url}/v1/tickets/{label}/send", json=body, headers=ann)  # the answer was lost
    assert first.status_code == again.status_code == 200, again.text
    assert (again.json()["group"], again.json()["flow"]["step"]) == ("technical", 1)  # not moved on twice
    stale = requests.post(f"{url}/v1/tickets/{label}/send", json={**body, "from_step": 2}, headers=ann)
    assert stale.status_code == 409 and stale.json()["error"]["message"] == \
        f"{label} is at the last step of the flow 'repair': solve it"
    timeline = requests.get(f"{url}/v1/tickets/{label}", headers=ann).json()["timeline"]
    assert [(e["from"], e["to"]) for e in timeline if e["kind"] == "team"] == [("after_sales", "technical")]
