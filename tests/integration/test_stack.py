"""The real stack, started by the run command: Redis, the action server and Rasa as processes."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from bot.channels.socketio import notice
from tests.conftest import ROOT, free_port
from tests.integration.running import (RunCommand, conversation_of, handle, matches, responses_texts,
                                       socketio_session, wait_gone)


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    """The run command as a user starts it: it starts its own Redis (data in a temporary folder)."""
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    seconds = run.start()
    print(f"\nrun command ready in {seconds:.1f} s")
    yield run
    run.stop()


def new_sender() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


def test_multi_turn_conversation_over_rest(stack: RunCommand):
    me = new_sender()
    assert any(matches(t, "utter_greet") for t in stack.say(me, "hello"))
    assert stack.say(me, "where is my order?")[-1] in responses_texts("utter_ask_order_number")
    replies = stack.say(me, "1234")
    assert matches(replies[0], "utter_invalid_order_number")
    assert replies[-1] in responses_texts("utter_ask_order_number")
    replies = stack.say(me, "it's 10234568")
    assert not any("JD014600003LB" in t for t in replies), replies  # a guest proves the order first
    assert matches(replies[-1], "utter_ask_order_verification", order_number="10234568"), replies
    replies = stack.say(me, "ben.keller@example.com")
    assert any("JD014600003LB" in t and "DHL" in t for t in replies), replies
    assert any(matches(t, "utter_faq/change_address") for t in stack.say(me, "how can I change my delivery address?"))
    replies = stack.say(me, "how long until the change takes effect?")
    assert any(matches(t, "utter_followup_change_address_how_long") for t in replies), replies


def test_faq_in_the_middle_of_a_form_is_answered_and_the_form_resumes(stack: RunCommand):
    me = new_sender()
    assert stack.say(me, "I want to return something")[-1] in responses_texts("utter_ask_order_number")
    replies = stack.say(me, "how long does a refund take?")
    assert any(matches(t, "utter_faq/refund_time") for t in replies), replies
    assert replies[-1] in responses_texts("utter_ask_order_number")
    assert matches(stack.say(me, "10234569")[-1], "utter_ask_order_verification", order_number="10234569")
    assert stack.say(me, "00184")[-1] in responses_texts("utter_ask_return_reason")
    replies = stack.say(me, "It arrived damaged")
    assert any(matches(t, "utter_return_created", order_number="10234569", return_id="R-10234569")
               for t in replies), replies


def test_stop_leaves_a_form(stack: RunCommand):
    me = new_sender()
    stack.say(me, "please change the delivery address of my order")
    assert any(matches(t, "utter_form_stopped") for t in stack.say(me, "stop"))
    assert any(matches(t, "utter_faq/invoice") for t in stack.say(me, "how do I get an invoice?"))


@pytest.mark.parametrize("body, status", [
    (b"", 400),
    (b"this is not json", 400),
    (b'{"sender": "x", "message": "caf\xe9 \xff"}', 400),
    (json.dumps({"message": "hello"}).encode(), 400),
    (json.dumps({"sender": "x", "message": ""}).encode(), 400),
    (json.dumps({"sender": "x", "message": "a" * 100_000}).encode(), 413),
    (json.dumps({"sender": "x", "message": ["a"]}).encode(), 400),
])
def test_bad_input_gets_a_clear_4xx_and_the_service_keeps_serving(stack: RunCommand, body: bytes, status: int):
    reply = stack.post_raw(body)
    assert reply.status_code == status
    error = reply.json()
    assert set(error) == {"error", "message"} and "Traceback" not in reply.text
    assert any(matches(t, "utter_greet") for t in stack.say(new_sender(), "hi"))


def test_bad_input_next_to_good_conversations(stack: RunCommand):
    async def mixed() -> list:
        loop = asyncio.get_running_loop()
        bad = [loop.run_in_executor(None, stack.post_raw, b"{" * 10_000) for _ in range(5)]
        good = [loop.run_in_executor(None, stack.say, new_sender(), "hi") for _ in range(5)]
        return [r.status_code for r in await asyncio.gather(*bad)], await asyncio.gather(*good)

    bad_codes, good_replies = asyncio.run(mixed())
    assert set(bad_codes) == {400}
    assert all(any(matches(t, "utter_greet") for t in replies) for replies in good_replies)


def test_socketio_channel_speaks_the_webchat_protocol(stack: RunCommand):
    async def talk() -> tuple:
        client, session_id, received = await socketio_session(stack.url)
        await client.emit("user_uttered", {"message": "hi there", "session_id": session_id})
        greeting = await asyncio.wait_for(received.get(), 30)
        await client.emit("user_uttered", {"message": "   ", "session_id": session_id})
        notice_ = await asyncio.wait_for(received.get(), 10)
        await client.emit("user_uttered", {"message": "x" * 100_000, "session_id": session_id})
        too_long = await asyncio.wait_for(received.get(), 10)
        await client.emit("user_uttered", "not an object")
        garbage = await asyncio.wait_for(received.get(), 10)
        await client.disconnect()
        return greeting, notice_, too_long, garbage

    greeting, notice_, too_long, garbage = asyncio.run(talk())
    assert matches(greeting["text"], "utter_greet")
    assert notice_["text"] == notice("empty_message")
    assert too_long["text"] == notice("message_too_long")
    assert garbage["text"] == notice("invalid_event")


def test_nobody_can_write_to_or_read_another_customers_conversation(stack: RunCommand):
    import redis as redis_lib
    import requests

    # REST: a bare or forged sender is refused and changes nothing; a handle from the channel works.
    victim = new_sender()
    assert stack.say(victim, "where is my order")[-1] in responses_texts("utter_ask_order_number")
    r = redis_lib.Redis.from_url(stack.redis_url)
    before = r.get(f"shop:tracker:{victim}")
    forged = handle(victim)[:-4] + ("AAAA" if not handle(victim).endswith("AAAA") else "BBBB")
    for sender in (victim, forged, handle(victim + "x")[: -1], f"{victim}.{'A' * 22}"):
        reply = requests.post(f"{stack.url}/webhooks/rest/webhook", json={"sender": sender, "message": "10234567"},
                              timeout=30)
        assert reply.status_code == 403 and reply.json()["error"] == "unknown_sender", (sender, reply.text)
    assert r.get(f"shop:tracker:{victim}") == before
    issued = requests.post(f"{stack.url}/webhooks/rest/conversations", timeout=30)
    assert issued.status_code == 201
    reply = requests.post(f"{stack.url}/webhooks/rest/webhook", json={"sender": issued.json()["sender"],
                                                                       "message": "hi"}, timeout=30)
    assert reply.status_code == 200 and any(matches(m["text"], "utter_greet") for m in reply.json())

    # socket.io: asking for another customer's session (bare id or forged handle) gives a new conversation;
    # writing to a session this socket was not confirmed for is refused; the victim's replies stay theirs.
    async def attack() -> tuple:
        owner, owner_handle, owner_inbox = await socketio_session(stack.url)
        await owner.emit("user_uttered", {"message": "where is my order", "session_id": owner_handle})
        asked = await asyncio.wait_for(owner_inbox.get(), 30)
        bare = conversation_of(owner_handle)
        intruder, got_for_bare, intruder_inbox = await socketio_session(stack.url, bare)
        _, got_for_forged, _ = await socketio_session(stack.url, owner_handle[:-2] + "zz")
        await intruder.emit("user_uttered", {"message": "10234567", "session_id": owner_handle})
        refused = await asyncio.wait_for(intruder_inbox.get(), 30)
        await owner.emit("user_uttered", {"message": "10234567", "session_id": owner_handle})
        answered = await asyncio.wait_for(owner_inbox.get(), 30)
        await asyncio.sleep(1.0)
        leaked = [intruder_inbox.get_nowait() for _ in range(intruder_inbox.qsize())]
        # the owner, reconnecting with their handle (a page reload), continues their conversation
        again, again_handle, _ = await socketio_session(stack.url, owner_handle)
        for c in (owner, intruder, again):
            await c.disconnect()
        return owner_handle, bare, asked, got_for_bare, got_for_forged, refused, answered, leaked, again_handle

    owner_handle, bare, asked, got_for_bare, got_for_forged, refused, answered, leaked, again = asyncio.run(attack())
    assert asked["text"] in responses_texts("utter_ask_order_number")
    assert conversation_of(got_for_bare) != bare and conversation_of(got_for_forged) != bare
    assert refused["text"] == notice("invalid_session")
    assert matches(answered["text"], "utter_order_status_processing", order_number="10234567") or \
        "10234567" in answered["text"], answered
    assert leaked == []
    assert again == owner_handle
    users = [e["text"] for e in json.loads(r.get(f"shop:tracker:{bare}"))["events"] if e["event"] == "user"]
    assert users == ["where is my order", "10234567"]  # the intruder's message is not in it


def test_a_second_start_says_it_is_already_running(stack: RunCommand):
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=stack.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "already running" in result.stderr and "Traceback" not in result.stderr


def test_conversation_survives_a_restart_and_ctrl_c_stops_everything(stack: RunCommand):
    me = new_sender()
    assert stack.say(me, "where is my order")[-1] in responses_texts("utter_ask_order_number")
    children = stack.children()
    assert len(children) >= 3  # Redis, the action server and Rasa
    assert stack.interrupt() == 0
    assert wait_gone(children) == []
    assert "Stopped." in "".join(stack.output)

    stack.start()  # Redis reloads its append-only file: the tracker with the open form is still there
    assert matches(stack.say(me, "10234567")[-1], "utter_ask_order_verification", order_number="10234567")
    replies = stack.say(me, "1017 GC")
    assert any(matches(t, "utter_order_status_processing", order_number="10234567") for t in replies), replies


def test_the_run_command_starts_the_handoff_service_with_the_demo_team(stack: RunCommand):
    import requests

    base = f"http://127.0.0.1:{stack.handoff_port}"
    assert requests.get(base + "/health", timeout=5).json() == {"status": "ok", "redis": "ok"}
    printed = "".join(stack.output)
    assert f"Handoff service (API):   http://localhost:{stack.handoff_port}/v1" in printed
    password = printed.split("(supervisor); password ", 1)[1].split()[0]
    login = requests.post(base + "/v1/agents/login", json={"agent_id": "sam", "password": password}, timeout=10)
    assert login.status_code == 200 and login.json()["agent"]["role"] == "supervisor"
    queues = requests.get(base + "/v1/queues", headers={"Authorization": f"Bearer {login.json()['token']}"}).json()
    assert [q["skill_group"] for q in queues["queues"]] == ["general", "after_sales", "technical", "billing", "vip"]


def test_the_customer_chat_page_is_served_by_the_rasa_server(stack: RunCommand):
    import http.client

    import requests

    printed = "".join(stack.output)
    assert f"Customer chat page:      http://localhost:{stack.rasa_port}/chat/" in printed
    assert f"Agent console:           http://localhost:{stack.handoff_port}/console/" in printed
    assert f"http://localhost:{stack.handoff_port}/dashboard/" in printed
    page = requests.get(f"{stack.url}/chat/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
    for path, kind in [("widget.js", "text/javascript"), ("chat.css", "text/css"),
                       ("vendor/socket.io.min.js", "text/javascript")]:
        asset = requests.get(f"{stack.url}/chat/{path}", timeout=10)
        assert asset.status_code == 200 and asset.headers["Content-Type"].startswith(kind), path
    conn = http.client.HTTPConnection("127.0.0.1", stack.rasa_port, timeout=10)
    conn.request("GET", "/chat/../credentials.yml")  # sent as is: http.client does not normalise the path
    assert conn.getresponse().status == 404
    conn.close()
    # the page's socket.io connection: its own origin may connect, another origin may not (CHAT_ALLOWED_ORIGINS)
    handshake = f"{stack.url}/socket.io/?EIO=4&transport=polling"
    own = requests.get(handshake, headers={"Origin": stack.url}, timeout=10)
    assert own.status_code == 200 and own.text.startswith("0{")
    assert requests.get(handshake, headers={"Origin": "https://elsewhere.example"}, timeout=10).status_code == 400


def test_conversations_are_counted_per_day_for_the_dashboard(stack: RunCommand):
    import time

    import redis as redis_lib

    r = redis_lib.Redis.from_url(stack.redis_url)
    key = "{shop}:stats:conversations:" + time.strftime("%Y-%m-%d", time.gmtime())
    before = r.pfcount(key)
    senders = [new_sender() for _ in range(3)]
    for me in senders:  # REST: two messages each, one conversation each
        assert any(matches(t, "utter_greet") for t in stack.say(me, "hi"))
        stack.say(me, "how long does shipping take?")

    async def web_chat() -> str:  # socket.io: one more conversation
        client, session_id, received = await socketio_session(stack.url)
        for text in ("hello", "what is your return policy?"):
            await client.emit("user_uttered", {"message": text, "session_id": session_id})
            await asyncio.wait_for(received.get(), 30)
        await client.disconnect()
        return conversation_of(session_id)

    counted = senders + [asyncio.run(web_chat())]
    after = r.pfcount(key)
    # A HyperLogLog estimates; at a few dozen conversations it is exact unless two land in one register.
    assert after - before in (3, 4), (before, after)
    assert all(r.pfadd(key, c) == 0 for c in counted)  # each is in it already: nothing changes
    assert 0 < r.ttl(key) <= 100 * 86400  # kept for the reports (handoff/reports/ cover up to 92 days)


def test_the_demo_password_is_in_no_file_others_can_read(stack: RunCommand):
    """The demo password is printed once and kept in the owner-only secrets file, nowhere else."""
    import os
    import stat

    password = "".join(stack.output).split("(supervisor); password ", 1)[1].split()[0]
    readable = []
    for folder in {Path(stack.env["BOT_RUN_DIR"]), Path(stack.env["BOT_DATA_DIR"])}:
        for path in folder.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                holds = password.encode() in path.read_bytes()
            except OSError:
                continue
            if holds and os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                readable.append(str(path.relative_to(folder)))
    assert readable == []


def test_doctor_on_a_fresh_clone_says_every_service_is_healthy(stack: RunCommand, trained_model: Path,
                                                               tmp_path: Path):
    """./run doctor after set-up, on this module's stack (tests/integration/test_doctor_fresh_clone.py)."""
    from tests.integration.test_doctor_fresh_clone import doctor_after_set_up

    doctor_after_set_up(stack, trained_model, tmp_path)
