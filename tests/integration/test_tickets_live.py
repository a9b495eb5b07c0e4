"""Tickets from the customer's side with every process real: the run command (Redis, the handoff service with its
ticket API, the action server, Rasa with the trained model), a customer on REST (pushes to a callback server) or
socket.io, and the team on the service's HTTP API."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Dict, Iterator, List
from zoneinfo import ZoneInfo

import pytest
import requests

from common.routing import SKILL_GROUPS_FILE, SkillGroups
from tests.conftest import free_port
from tests.integration.running import RunCommand, handle, matches, socketio_session
from tests.integration.test_live_handoff import callbacks  # noqa: F401  (the shop's callback server, a fixture)
from tests.integration.test_live_handoff import (ANGRY, Callbacks, agent_offline, agent_online, handoff_url,
                                                 record_of, supervisor)


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory, callbacks: Callbacks) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "REST_CALLBACK_URL": f"http://127.0.0.1:{callbacks.port}/callback",
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_POSITION_SECONDS": "1"})
    run.start()
    yield run
    run.stop()


def ticket_page(stack: RunCommand, label: str) -> Dict:
    r = requests.get(f"{handoff_url(stack)}/v1/tickets/{label}", headers=supervisor(stack), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def reply(stack: RunCommand, label: str, text: str, state: str = "pending") -> None:
    r = requests.post(f"{handoff_url(stack)}/v1/tickets/{label}/replies", json={"text": text, "state": state},
                      headers=supervisor(stack), timeout=10)
    assert r.status_code == 200, r.text


def test_rest_customer_gets_a_ticket_its_answer_and_adds_to_it_then_asks_where_it_stands(stack: RunCommand,
                                                                                        callbacks: Callbacks):
    me = f"ticket-{uuid.uuid4().hex[:8]}"
    said: List[Dict] = []
    for text in ["hi", "I want to talk to a human now"]:  # nobody is online: the handoff becomes a ticket
        said += stack.messages(me, text)
    told = [m for m in said if m.get("ticket")]
    assert len(told) == 1, [(m["text"], m.get("ticket"), m.get("message_id")) for m in said]
    label = told[0]["ticket"]
    when = re.search(r"answer by (\d{4}-\d\d-\d\d \d\d:\d\d) \((\S+) time\)", told[0]["text"])
    assert when and when[2] == "Asia/Shanghai", told[0]["text"]  # business hours of policy/skill_groups.yml
    assert matches(told[0]["text"], "utter_handoff_ticket", ticket_label=label, due_local=when[1], timezone=when[2])
    assert told[0]["handoff"] == "ticket" and told[0]["notice"] is True
    due_at = ticket_page(stack, label)["ticket"]["due_at"]  # the service's due time, in UTC
    due = datetime.fromisoformat(due_at.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
    assert due.strftime("%Y-%m-%d %H:%M") == when[1]

    # The team answers and waits for the customer: a REST shop with a callback gets it at once.
    reply(stack, label, "Could you send us the number on the label under the blender?")
    pushed = callbacks.next_for(handle(me))
    assert pushed["text"] == "Could you send us the number on the label under the blender?"
    assert (pushed["ticket"], pushed["agent_name"]) == (label, "Sam Keller")

    # Their next message goes to the ticket, not to the bot.
    answered = stack.say(me, "It says XR-22, bought in March")
    assert answered == [f"I've added that to your case {label}. Our team will get back to you here."]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        page = ticket_page(stack, label)
        said_by_customer = [e for e in page["timeline"] if e["kind"] == "customer"]
        if said_by_customer:
            break
        time.sleep(0.3)
    assert [(e["text"], e.get("via")) for e in said_by_customer] == [("It says XR-22, bought in March", "chat")]
    assert page["ticket"]["state"] == "open"  # pending -> open: the team has the customer's answer

    # "What's happening with my ticket?": said in the customer's words, from the service's lookup.
    status = stack.say(me, f"what's happening with my ticket {label}?")
    team = SkillGroups.load(SKILL_GROUPS_FILE).name(page["ticket"]["group"])
    assert status == [f"Your case {label} is being worked on by our {team} team."]
    assert stack.say(me, "any news on ticket T-99999999?") == [
        "I couldn't find case T-99999999 for you. Please check the number in our e-mail or chat, or I can help you "
        "right here."]


def test_socketio_customer_leaves_a_message_in_the_queue_and_sees_the_answer_when_back(stack: RunCommand):
    token = agent_online(stack, "ben")  # the chat is offered to Ben, who does not take it yet

    async def scenario() -> tuple:
        client, session_id, inbox = await socketio_session(stack.url)
        for text in ANGRY:
            await client.emit("user_uttered", {"message": text, "session_id": session_id})
            await asyncio.sleep(1.5)
        while not any(m.get("handoff") in ("connecting", "waiting") for m in [await asyncio.wait_for(inbox.get(), 15)]):
            pass
        await client.emit("user_uttered", {"message": "I'll leave a message", "session_id": session_id})
        left: Dict = {}
        while not left.get("ticket"):
            left = await asyncio.wait_for(inbox.get(), 15)
        await client.disconnect()
        await asyncio.sleep(1.0)
        reply(stack, left["ticket"], "We found your parcel; it arrives tomorrow.", "solved")
        await asyncio.sleep(2.0)  # the bridge keeps it: nobody is connected
        client, again, inbox = await socketio_session(stack.url, session_id)
        shown = [await asyncio.wait_for(inbox.get(), 15) for _ in range(2)]
        await client.disconnect()
        return left, shown, again, session_id

    try:
        left, shown, again, session_id = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    label = left["ticket"]
    assert left["text"].startswith(f"No problem: I've turned your request into case {label}"), left["text"]
    assert left["handoff"] == "ticket"
    assert again == session_id
    assert [m["text"] for m in shown] == [f"You have an answer about {label}:",
                                          "We found your parcel; it arrives tomorrow."]
    assert shown[1]["agent_name"] == "Sam Keller" and all(m["ticket"] == label for m in shown)
    page = ticket_page(stack, label)
    assert page["ticket"]["state"] == "solved"
    escalation = page["ticket"]["escalations"][0]
    assert record_of(stack, escalation)["status"] == "ticket"


def test_socketio_customer_online_gets_the_answer_at_once_and_their_reply_goes_to_the_ticket(stack: RunCommand):
    async def next_marked(inbox: "asyncio.Queue[Dict]") -> Dict:
        while True:
            message = await asyncio.wait_for(inbox.get(), 15)
            if message.get("ticket"):
                return message

    async def scenario() -> tuple:
        client, session_id, inbox = await socketio_session(stack.url)
        await client.emit("user_uttered", {"message": "I want to talk to a human now", "session_id": session_id})
        told = await next_marked(inbox)  # nobody is online: a ticket
        reply(stack, told["ticket"], "Which colour is the blender?")
        answer = await next_marked(inbox)  # connected: at once
        acked = await client.call("user_uttered", {"message": "It is the red one", "session_id": session_id,
                                                   "message_id": f"m-{uuid.uuid4().hex[:12]}"}, timeout=15)
        added = await next_marked(inbox)
        await client.disconnect()
        return told, answer, acked, added

    told, answer, acked, added = asyncio.run(scenario())
    label = told["ticket"]
    assert told["text"].startswith(f"Nobody from the team is available right now, so I've opened case {label}")
    assert (answer["text"], answer["ticket"], answer["agent_name"]) == ("Which colour is the blender?", label,
                                                                        "Sam Keller")
    assert acked["status"] == "stored"
    assert added["text"] == f"I've added that to your case {label}. Our team will get back to you here."
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        customer = [e for e in ticket_page(stack, label)["timeline"] if e["kind"] == "customer"]
        if customer:
            break
        time.sleep(0.3)
    assert [(e["text"], e.get("via")) for e in customer] == [("It is the red one", "chat")]
