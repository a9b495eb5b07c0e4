# Over 400 lines: every test shares one running stack (about a minute to start) and the callback server.
"""A live handoff with every process real: the run command (Redis, handoff service, action server,
Rasa), a customer on REST (pushes to a callback server) or socket.io, and an agent on the handoff
API and its WebSocket."""
from __future__ import annotations

import asyncio
import json
import re
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Dict, Iterator, List

import aiohttp
import pytest
import redis as redis_lib
import requests

from tests.conftest import free_port
from tests.integration.running import (RunCommand, conversation_of, handle, matches, responses_texts,
                                       socketio_session)

FAQS = ["how long does shipping take?", "what is your return policy?"]
ANGRY = ["where is my order 10234568?", "this is ridiculous, it is two weeks late and nobody answers",
         "I want to talk to a human now"]


class Callbacks:
    """An HTTP server standing in for the shop's REST callback endpoint."""

    def __init__(self) -> None:
        self.received: "queue.Queue[Dict]" = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                received.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_for(self, recipient: str, timeout: float = 15) -> Dict:
        while True:
            message = self.received.get(timeout=timeout)
            if message["recipient_id"] == recipient:
                return message


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Callbacks]:
    c = Callbacks()
    yield c
    c.server.shutdown()


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory, callbacks: Callbacks) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "REST_CALLBACK_URL": f"http://127.0.0.1:{callbacks.port}/callback",
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_CUSTOMER_GRACE_SECONDS": "2",
                      "HANDOFF_POSITION_SECONDS": "1",
                      "BOT_RESTART_DELAY_SECONDS": "4"})
    run.start()
    yield run
    run.stop()


def handoff_url(stack: RunCommand) -> str:
    return f"http://127.0.0.1:{stack.handoff_port}"


def demo_password(stack: RunCommand) -> str:
    return "".join(stack.output).split("(supervisor); password ", 1)[1].split()[0]


def agent_online(stack: RunCommand, agent_id: str) -> str:
    base = handoff_url(stack)
    token = requests.post(base + "/v1/agents/login", json={"agent_id": agent_id, "password": demo_password(stack)},
                          timeout=10).json()["token"]
    assert requests.put(base + "/v1/agents/me/status", json={"status": "online"},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    return token


def supervisor(stack: RunCommand) -> Dict[str, str]:
    token = requests.post(handoff_url(stack) + "/v1/agents/login",
                          json={"agent_id": "sam", "password": demo_password(stack)}, timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def record_of(stack: RunCommand, escalation: str) -> Dict:
    return requests.get(f"{handoff_url(stack)}/v1/handoffs/{escalation}", headers=supervisor(stack), timeout=10).json()


def agent_offline(stack: RunCommand, token: str) -> None:
    requests.put(handoff_url(stack) + "/v1/agents/me/status", json={"status": "offline"},
                 headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def agent_events(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 20) -> Dict:
    while True:
        event = json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)
        if event["type"] == kind:
            return event


def tracker_events(stack: RunCommand, sender: str) -> List[Dict]:
    """The conversation as the Redis tracker store holds it."""
    r = redis_lib.Redis.from_url(stack.redis_url)
    raw = r.get(f"shop:tracker:{sender}")
    return json.loads(raw)["events"] if raw else []


def test_rest_customer_and_agent_talk_through_the_bot_and_the_bot_takes_back(stack: RunCommand, callbacks):
    me = f"live-{uuid.uuid4().hex[:8]}"
    token = agent_online(stack, "ann")  # general + after_sales
    auth = {"Authorization": f"Bearer {token}"}
    base = handoff_url(stack)
    faq_answers: List[List[str]] = []

    async def scenario():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            assert json.loads((await ws.receive()).data)["type"] == "snapshot"
            loop = asyncio.get_running_loop()
            told: List[Dict] = []
            for text in FAQS:
                faq_answers.append(await loop.run_in_executor(None, stack.say, me, text))
            for text in ANGRY:
                told += await loop.run_in_executor(None, stack.messages, me, text)
                if any(m["text"] in responses_texts("utter_handoff_connecting") for m in told):
                    break
            offered = await agent_events(ws, "offered")
            assert offered["conversation_id"] == me
            eid = offered["escalation"]
            record = await (await session.get(f"{base}/v1/handoffs/{eid}", headers=auth)).json()
            async with session.post(f"{base}/v1/handoffs/{eid}/accept", headers=auth) as r:
                assert r.status == 200
            joined = await loop.run_in_executor(None, callbacks.next_for, handle(me))
            # three messages each way, each delivered once and in order; the bot says nothing meanwhile
            customer_lines = ["it is order 10234568", "it was supposed to arrive on Monday", "can you resend it?"]
            agent_lines = ["Hi, I'm Ann, I see order 10234568.", "It is stuck at the depot.", "I'll resend it today."]
            bot_replies, got_by_agent, got_by_customer = [], [], []
            for mine, theirs in zip(customer_lines, agent_lines):
                bot_replies += await loop.run_in_executor(None, stack.say, me, mine)
                event = await agent_events(ws, "message")
                while event["message"]["speaker"] != "customer":  # the agent's own lines come back too
                    event = await agent_events(ws, "message")
                got_by_agent.append(event["message"]["text"])
                async with session.post(f"{base}/v1/handoffs/{eid}/messages", json={"text": theirs},
                                        headers=auth) as r:
                    assert r.status == 201
                got_by_customer.append(await loop.run_in_executor(None, callbacks.next_for, handle(me)))
            async with session.post(f"{base}/v1/handoffs/{eid}/release", json={"reason": "resent"},
                                    headers=auth) as r:
                assert r.status == 200
            released = await loop.run_in_executor(None, callbacks.next_for, handle(me))
            await ws.close()
            return told, record, joined, bot_replies, got_by_agent, got_by_customer, released, customer_lines, \
                agent_lines

    try:
        (told, record, joined, bot_replies, got_by_agent, got_by_customer, released, customer_lines,
         agent_lines) = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert any(matches(t, "utter_faq/shipping_time") for t in faq_answers[0]), faq_answers
    assert any(matches(t, "utter_faq/return_policy") for t in faq_answers[1]), faq_answers
    requested = next(m for m in told if matches(m["text"], "utter_handoff_requested", group_name="After-sales"))
    assert "notice" not in requested  # the assistant's own words
    connecting = next(m for m in told if m["text"] in responses_texts("utter_handoff_connecting"))
    assert connecting["notice"] is True and connecting["handoff"] == "connecting"  # the action server's notice
    assert [line["text"] for line in record["transcript"] if line["speaker"] == "customer"][:3] == FAQS + ANGRY[:1]
    assert record["case_brief"]["summary"] and record["skill_group"] == "after_sales"
    assert joined["text"] == "Ann Baker from After-sales has joined the chat."
    assert (joined["notice"], joined["handoff"], joined["agent_name"]) == (True, "joined", "Ann Baker")
    assert bot_replies == []                                         # the bot stays quiet
    assert got_by_agent == customer_lines
    assert [m["text"] for m in got_by_customer] == agent_lines
    assert [(m["agent"], m["agent_name"], m.get("notice")) for m in got_by_customer] == [("ann", "Ann Baker", None)] * 3
    assert released["text"] in responses_texts("utter_handoff_released")
    assert released["notice"] is True and released["handoff"] == "released"
    r = redis_lib.Redis.from_url(stack.redis_url)
    assert r.hget("{shop}:handoff:agent_names", me) is None  # forgotten when the chat ended
    # the bot is back: it answers the next question normally
    replies = stack.say(me, "how long does a refund take?")
    assert any(matches(t, "utter_faq/refund_time") for t in replies), (replies, [
        (e["event"], e.get("name") or e.get("text")) for e in tracker_events(stack, me)[-5:]])
    # one conversation, one transcript: the agent's messages are in the tracker, marked as the agent's
    events = tracker_events(stack, me)
    agent_said = [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("agent") == "ann"]
    assert [e["text"] for e in agent_said] == agent_lines
    assert {e["metadata"]["agent_name"] for e in agent_said} == {"Ann Baker"}
    customer_said = [e["text"] for e in events if e["event"] == "user"]
    assert all(line in customer_said for line in customer_lines)
    assert [e["event"] for e in events].count("pause") == 1 and [e["event"] for e in events].count("resume") == 1


def test_socketio_customer_gets_the_agent_and_the_ticket_when_nobody_is_online(stack: RunCommand):
    token = agent_online(stack, "ben")  # after_sales + general

    async def scenario():
        client, session_id, inbox = await socketio_session(stack.url)
        base = handoff_url(stack)
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            await ws.receive()
            for text in ANGRY:
                await client.emit("user_uttered", {"message": text, "session_id": session_id})
                await asyncio.sleep(1.5)
            offered = await agent_events(ws, "offered")
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/accept", headers=auth):
                pass
            await client.emit("user_uttered", {"message": "hello? is anyone there", "session_id": session_id})
            heard = ""
            while heard != "hello? is anyone there":  # earlier angry lines may reach the agent first
                event = await agent_events(ws, "message")
                heard = event["message"]["text"] if event["message"]["speaker"] == "customer" else ""
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/messages",
                                    json={"text": "Yes, Ben here."}, headers=auth):
                pass
            said: List[Dict] = []
            while not any(m.get("agent") == "ben" for m in said):
                said.append(await asyncio.wait_for(inbox.get(), 15))
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/close",
                                    json={"resolved": True, "wrap_up": "answered"}, headers=auth):
                pass
            closed = await asyncio.wait_for(inbox.get(), 15)
            # the satisfaction survey, answered with the buttons as the widget sends them
            survey = [await asyncio.wait_for(inbox.get(), 15)]
            await client.emit("user_uttered", {"message": survey[0]["quick_replies"][0]["payload"],
                                               "session_id": session_id})  # "Yes"
            survey.append(await asyncio.wait_for(inbox.get(), 15))
            await client.emit("user_uttered", {"message": "4", "session_id": session_id})
            survey.append(await asyncio.wait_for(inbox.get(), 15))
            await ws.close()
        await client.disconnect()
        return session_id, heard, said, closed, survey, offered["escalation"]

    try:
        session_id, heard, said, closed, survey, escalation = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    texts = [m["text"] for m in said]
    assert heard == "hello? is anyone there"
    assert "Ben Ortiz from After-sales has joined the chat." in texts
    assert "Yes, Ben here." in texts
    # who is talking, for the widget: the agent by name; notices marked, from the bridge and the action server
    ben = said[texts.index("Yes, Ben here.")]
    assert (ben["agent"], ben["agent_name"], ben.get("notice")) == ("ben", "Ben Ortiz", None)
    joined = said[texts.index("Ben Ortiz from After-sales has joined the chat.")]
    assert (joined["notice"], joined["handoff"], joined["agent_name"]) == (True, "joined", "Ben Ortiz")
    connecting = [m for m in said if m["text"] in responses_texts("utter_handoff_connecting")]
    assert connecting and all(m["notice"] is True and m["handoff"] == "connecting" for m in connecting)
    assert all("notice" not in m for m in said if matches(m["text"], "utter_handoff_requested",
                                                          group_name="After-sales"))
    assert closed["text"] in responses_texts("utter_handoff_closed")
    assert closed["notice"] is True and closed["handoff"] == "closed"
    assert [m.get("notice") for m in survey] == [True, True, True]  # the survey is the team's, not the bot's
    assert survey[0]["text"] in responses_texts("utter_ask_survey_resolved")
    assert [b["title"] for b in survey[0]["quick_replies"]] == ["Yes", "No", "I need more help"]
    assert survey[1]["text"] in responses_texts("utter_ask_survey_rating")
    assert [b["title"] for b in survey[1]["quick_replies"]] == ["1", "2", "3", "4", "5", "Skip"]
    assert survey[2]["text"] in responses_texts("utter_survey_thanks")
    stored = record_of(stack, escalation)
    assert stored["status"] == "closed" and stored["outcome"]["wrap_up"] == "answered"
    assert {k: stored["outcome"]["survey"][k] for k in ("resolved", "rating")} == {"resolved": True, "rating": 4}
    events = tracker_events(stack, conversation_of(session_id))
    assert [e["name"] for e in events if e["event"] == "action"][-2:] == ["action_submit_survey", "action_listen"]

    # Nobody online now: the next handoff becomes a ticket and the customer is told when to expect an answer.
    me = f"ticket-{uuid.uuid4().hex[:8]}"
    told: List[str] = []
    for text in ANGRY:
        told += stack.say(me, text)
    assert any(t.startswith("Nobody from the team is available right now") for t in told), told
    r = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
    # The bridge follows the service's events on its own: "created" then "ticket" may be handled just after the
    # reply reached the customer.
    deadline = time.monotonic() + 5
    while r.hget("{shop}:handoff:active", me) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.hget("{shop}:handoff:active", me) is None


def handoff_process(stack: RunCommand):
    return next(p for p in stack.children() if "handoff" in p.cmdline() and "-m" in p.cmdline()
                and "handoff.accounts" not in p.cmdline())


async def agent_stream(session: aiohttp.ClientSession, stack: RunCommand, auth: Dict[str, str],
                       timeout: float = 30) -> tuple:
    """The agent's WebSocket and its first message (the snapshot), reconnecting until the service answers
    (it may be restarting)."""
    url = handoff_url(stack).replace("http", "ws") + "/v1/agents/me/stream"
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            ws = await session.ws_connect(url, headers=auth)
            snapshot = json.loads((await ws.receive()).data)
            assert snapshot["type"] == "snapshot"
            return ws, snapshot
        except (aiohttp.ClientError, AssertionError, TypeError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


def test_handoff_service_killed_while_the_customer_waits_loses_nothing(stack: RunCommand, callbacks):
    """SIGKILL the handoff service as the customer is handed off (the request goes to the outbox), and
    again while the agent has the chat: the customer still gets the agent, and every message arrives."""
    me = f"kill-{uuid.uuid4().hex[:8]}"
    token = agent_online(stack, "ann")
    auth = {"Authorization": f"Bearer {token}"}
    base = handoff_url(stack)

    async def scenario():
        loop = asyncio.get_running_loop()
        handoff_process(stack).kill()
        told: List[str] = []
        for text in ANGRY:
            told += await loop.run_in_executor(None, stack.say, me, text)
            if any(t in responses_texts("utter_handoff_delayed") for t in told):
                break
        meanwhile = await loop.run_in_executor(None, stack.say, me, "are you still there?")
        async with aiohttp.ClientSession() as session:
            ws, snapshot = await agent_stream(session, stack, auth)  # the run command restarted the service
            mine = [h for h in snapshot["handoffs"] if h["conversation_id"] == me]
            offered = {"conversation_id": me, "escalation": mine[0]["id"]} if mine else \
                await agent_events(ws, "offered", timeout=30)
            eid = offered["escalation"]
            async with session.post(f"{base}/v1/handoffs/{eid}/accept", headers=auth) as r:
                assert r.status == 200
            pushed = [await loop.run_in_executor(None, callbacks.next_for, handle(me), 30)]
            while "has joined" not in pushed[-1]["text"]:
                pushed.append(await loop.run_in_executor(None, callbacks.next_for, handle(me), 30))
            joined = pushed[-1]
            await ws.close()
            handoff_process(stack).kill()  # again, now that the agent has the chat
            during = await loop.run_in_executor(None, stack.say, me, "my order is 10234568")
            ws, _ = await agent_stream(session, stack, auth)
            async with session.post(f"{base}/v1/handoffs/{eid}/messages", json={"text": "Got it, checking."},
                                    headers=auth) as r:
                assert r.status == 201
            reply = await loop.run_in_executor(None, callbacks.next_for, handle(me), 30)
            deadline = loop.time() + 20
            record = record_of(stack, eid)
            while "my order is 10234568" not in [m["text"] for m in record["messages"]] and loop.time() < deadline:
                await asyncio.sleep(0.5)
                record = record_of(stack, eid)
            async with session.post(f"{base}/v1/handoffs/{eid}/release", json={"reason": "done"}, headers=auth):
                pass
            await ws.close()
        return told, meanwhile, offered, pushed, joined, during, reply, record

    try:
        told, meanwhile, offered, pushed, joined, during, reply, record = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert any(t in responses_texts("utter_handoff_delayed") for t in told), told  # told honestly
    assert meanwhile == [] and during == []  # the bot stays quiet while a person is coming or has the chat
    assert offered["conversation_id"] == me
    # once the request reached the team the customer heard where it stands, then who joined; when the agent was
    # quicker than the outbox's answer, only who joined (never "connecting" after "joined": the reply below is next)
    before_joined = [m["text"] for m in pushed[:-1]]  # (responses_texts: every language's variation)
    assert len(before_joined) <= 1 and all(t in responses_texts("utter_handoff_connecting") for t in before_joined), \
        pushed
    assert joined["text"] == "Ann Baker from After-sales has joined the chat."
    assert reply["text"] == "Got it, checking." and reply["agent"] == "ann"
    customer_lines = [m["text"] for m in record["messages"] if m["speaker"] == "customer"]
    assert customer_lines == ["are you still there?", "my order is 10234568"]  # each once, in order
    assert [h["status"] for h in record["history"]][:3] == ["waiting", "offered", "assigned"]
    assert "".join(stack.output).count("handoff stopped unexpectedly (exit code -9); restarting it") >= 2


def test_a_web_chat_customer_who_leaves_while_waiting_is_marked_abandoned(stack: RunCommand):
    token = agent_online(stack, "ben")  # gets the offer but does not accept it

    async def scenario():
        client, session_id, inbox = await socketio_session(stack.url)
        async with aiohttp.ClientSession() as session:
            ws, _ = await agent_stream(session, stack, {"Authorization": f"Bearer {token}"})
            for text in ANGRY:
                await client.emit("user_uttered", {"message": text, "session_id": session_id})
                await asyncio.sleep(1.5)
            offered = await agent_events(ws, "offered")
            await client.disconnect()  # the customer closes the tab
            abandoned = await agent_events(ws, "abandoned", timeout=20)
            await ws.close()
        return session_id, offered, abandoned

    try:
        session_id, offered, abandoned = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert abandoned["escalation"] == offered["escalation"]
    record = record_of(stack, offered["escalation"])
    assert record["status"] == "abandoned"
    assert any(h["status"] == "abandoned" for h in record["history"])
    events = tracker_events(stack, conversation_of(session_id))
    assert [e["event"] for e in events].count("resume") == 1  # the bot has the conversation again


def minutes(text: str) -> str:
    found = re.search(r"about (\d+) min", text)
    return found.group(1) if found else "?"


def test_a_waiting_customer_is_told_when_their_place_in_the_queue_improves(stack: RunCommand, callbacks):
    token = agent_online(stack, "ann")  # 3 chats at most; nobody else in after-sales is online
    auth = {"Authorization": f"Bearer {token}"}
    base = handoff_url(stack)
    customers = [f"queue{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    try:
        told: Dict[str, List[str]] = {}
        said: Dict[str, List[Dict]] = {}
        for me in customers:
            told[me], said[me] = [], []
            for text in ANGRY:
                said[me] += stack.messages(me, text)
                told[me] = [m["text"] for m in said[me]]
                if any("in the queue" in t or t in responses_texts("utter_handoff_connecting") for t in told[me]):
                    break
        mine = requests.get(base + "/v1/agents/me/handoffs", headers=auth, timeout=10).json()["handoffs"]
        assert sorted(h["conversation_id"] for h in mine) == sorted(customers[:3])
        for h in mine:
            assert requests.post(f"{base}/v1/handoffs/{h['id']}/accept", headers=auth, timeout=10).status_code == 200
        last = customers[4]
        assert any(matches(t, "utter_handoff_queued", position="2", wait_minutes=minutes(t))
                   for t in told[last]), told[last]
        queued = next(m for m in said[last] if "in the queue" in m["text"])
        assert (queued["notice"], queued["handoff"], queued["queue_position"]) == (True, "waiting", 2)
        first = next(h for h in mine if h["conversation_id"] == customers[0])
        assert requests.post(f"{base}/v1/handoffs/{first['id']}/release", json={"reason": "done"}, headers=auth,
                             timeout=10).status_code == 200
        update = callbacks.next_for(handle(last), timeout=20)
    finally:
        agent_offline(stack, token)
    assert update["text"].startswith("You're now number 1 in the queue"), update
    assert (update["notice"], update["handoff"], update["queue_position"]) == (True, "waiting", 1)
    assert matches(update["text"], "utter_handoff_position_update", position="1", wait_minutes=minutes(update["text"]))


def test_a_web_chat_customer_gone_at_the_close_gets_the_survey_when_they_come_back(stack: RunCommand):
    """The survey comes due while the customer's widget is closed: it is kept, and asked when they open the chat
    again (bot/bridge/surveys.py); answering "not solved" tells them the follow-up case with the same agent."""
    token = agent_online(stack, "ben")

    async def scenario():
        client, session_id, inbox = await socketio_session(stack.url)
        base = handoff_url(stack)
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            await ws.receive()
            for text in ANGRY:
                await client.emit("user_uttered", {"message": text, "session_id": session_id})
                await asyncio.sleep(1.5)
            offered = await agent_events(ws, "offered")
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/accept", headers=auth):
                pass
            await client.disconnect()  # the customer closes the tab while the agent works
            await asyncio.sleep(1.0)
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/close",
                                    json={"resolved": True, "wrap_up": "answered"}, headers=auth):
                pass
            record: Dict = {}
            while not any(h.get("detail") == "answered" for h in record.get("history", [])):
                record = await (await session.get(f"{base}/v1/handoffs/{offered['escalation']}",
                                                  headers=auth)).json()
            await asyncio.sleep(3.0)  # the survey (delay 0 in the tests' policy) came due meanwhile, and was kept
            r = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
            kept = r.get("{shop}:survey:pending:" + conversation_of(session_id))
            client, _, inbox = await socketio_session(stack.url, session_id)  # back: the survey is asked
            asked = await asyncio.wait_for(inbox.get(), 20)
            await client.emit("user_uttered", {"message": "/deny", "session_id": session_id})  # "No"
            rating = await asyncio.wait_for(inbox.get(), 20)
            await client.emit("user_uttered", {"message": "2", "session_id": session_id})
            follow_up = await asyncio.wait_for(inbox.get(), 20)
            await ws.close()
        await client.disconnect()
        return kept, asked, rating, follow_up, offered["escalation"]

    try:
        kept, asked, rating, follow_up, escalation = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert kept and json.loads(kept) == {"slot": "survey_escalation", "value": escalation}
    assert asked["text"] in responses_texts("utter_ask_survey_resolved"), asked
    assert [b["title"] for b in asked["quick_replies"]] == ["Yes", "No", "I need more help"]
    assert rating["text"] in responses_texts("utter_ask_survey_rating"), rating
    record = record_of(stack, escalation)
    (ticket,) = record["tickets"]
    assert follow_up["text"].startswith(f"I'm sorry it isn't solved yet. I've opened case {ticket['label']} with "
                                        "Ben Ortiz; they will answer by "), follow_up
    assert {k: record["outcome"]["survey"][k] for k in ("resolved", "rating")} == {"resolved": False, "rating": 2}


def test_i_need_more_help_in_the_survey_puts_the_customer_back_in_the_queue(stack: RunCommand):
    """The survey's third answer stores "not solved, needs more help" and hands the customer to the team again: a
    new escalation, offered to the agent online; no follow-up case."""
    token = agent_online(stack, "ben")

    async def scenario():
        client, session_id, inbox = await socketio_session(stack.url)
        base = handoff_url(stack)
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            await ws.receive()
            for text in ANGRY:
                await client.emit("user_uttered", {"message": text, "session_id": session_id})
                await asyncio.sleep(1.5)
            first = await agent_events(ws, "offered")
            async with session.post(f"{base}/v1/handoffs/{first['escalation']}/accept", headers=auth):
                pass
            async with session.post(f"{base}/v1/handoffs/{first['escalation']}/close",
                                    json={"resolved": True, "wrap_up": "answered"}, headers=auth):
                pass
            said: List[Dict] = []
            while not any(m["text"] in responses_texts("utter_ask_survey_resolved") for m in said):
                said.append(await asyncio.wait_for(inbox.get(), 20))
            more = said[-1]["quick_replies"][2]
            await client.emit("user_uttered", {"message": more["payload"], "session_id": session_id})
            again = await agent_events(ws, "offered", timeout=30)
            await ws.close()
        await client.disconnect()
        return more, first["escalation"], again

    try:
        more, first, again = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert more["title"] == "I need more help"
    assert again["escalation"] != first  # back in the queue: a new handoff, offered to the agent online
    record = record_of(stack, first)
    assert record["outcome"]["survey"]["more_help"] is True and record["outcome"]["survey"]["resolved"] is False
    assert record["tickets"] == []  # no follow-up case: a person takes it now
