"""Two Rasa servers behind HAProxy, started by the real run command (RASA_SERVERS=2): REST and socket.io through
HAProxy, one conversation over both servers, an agent's message to a customer on either server, a killed server.

About 3-4 minutes on 2 busy cores: two Rasa servers load at once, and one is killed and loads again."""
from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import aiohttp
import pytest
import requests

from bot.load_balancer import admin_command, stats_socket_path
from tests.conftest import free_port
from tests.integration.running import (RunCommand, conversation_of, handle, matches, responses_texts,
                                       socketio_session)
from tests.integration.test_live_handoff import ANGRY, agent_events, agent_offline, agent_online, handoff_url


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"RASA_SERVERS": "2", "REDIS_PORT": str(free_port()),
                      "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_POSITION_SECONDS": "1",
                      "HANDOFF_CUSTOMER_GRACE_SECONDS": "2"})
    seconds = run.start(timeout=600)
    print(f"\nrun command with two Rasa servers ready in {seconds:.1f} s")
    yield run
    run.stop()


def say_at(port: int, sender: str, text: str) -> List[str]:
    """What the Rasa server on `port` (one server, not HAProxy) answers."""
    reply = requests.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                          json={"sender": handle(sender), "message": text}, timeout=60)
    reply.raise_for_status()
    return [m.get("text", "") for m in reply.json()]


def test_the_banner_says_two_servers_and_haproxy_has_both_up(stack: RunCommand):
    printed = "".join(stack.output)
    assert f"Rasa servers:            2, behind HAProxy on port {stack.rasa_port}" in printed
    assert f"Customer chat page:      http://localhost:{stack.rasa_port}/chat/" in printed  # the URLs do not change
    ports = stack.rasa_ports()
    assert len(ports) == 2 and stack.rasa_port not in ports
    assert {name: row["status"] for name, row in stack.haproxy_servers().items()} == {"rasa-1": "UP", "rasa-2": "UP"}
    assert all(stack.rasa_process(port).is_running() for port in ports)


def test_a_conversation_whose_messages_land_on_both_servers_keeps_its_tracker(stack: RunCommand):
    one, two = stack.rasa_ports()
    me = f"both-{uuid.uuid4().hex[:8]}"
    assert say_at(one, me, "where is my order?")[-1] in responses_texts("utter_ask_order_number")
    replies = say_at(two, me, "it's 10234568")  # the other server goes on with the form the first one opened
    assert matches(replies[-1], "utter_ask_order_verification", order_number="10234568"), replies
    replies = say_at(one, me, "ben.keller@example.com")
    assert any("JD014600003LB" in t and "DHL" in t for t in replies), replies
    # and through HAProxy: many conversations, shared between the two servers
    before = {name: int(row["stot"]) for name, row in stack.haproxy_servers().items()}
    for _ in range(12):
        assert any(matches(t, "utter_greet") for t in stack.say(f"lb-{uuid.uuid4().hex[:8]}", "hello"))
    after = {name: int(row["stot"]) for name, row in stack.haproxy_servers().items()}
    assert all(after[name] > before[name] for name in ("rasa-1", "rasa-2")), (before, after)


def test_socketio_long_polling_through_haproxy_stays_with_its_server(stack: RunCommand):
    """Each long-polling session is many HTTP requests; every one must reach the server holding the session."""
    async def customer(i: int) -> List[str]:
        client, session_id, received = await socketio_session(stack.url, transports=["polling"])
        texts = []
        for text in ("hi there", "what is your return policy?"):
            await client.emit("user_uttered", {"message": text, "session_id": session_id})
            texts.append((await asyncio.wait_for(received.get(), 60))["text"])
        await client.disconnect()
        return texts

    async def all_of_them() -> List[List[str]]:
        return await asyncio.gather(*[customer(i) for i in range(6)])

    for texts in asyncio.run(all_of_them()):
        assert matches(texts[0], "utter_greet") and matches(texts[1], "utter_faq/return_policy"), texts
    sessions = admin_command(stats_socket_path(stack.run_dir), "show table eio_sessions")
    assert "gpt0=1" in sessions and "gpt0=2" in sessions, sessions  # sessions were made on both servers


def test_an_agent_message_reaches_a_socketio_customer_on_either_server(stack: RunCommand):
    """One bridge (the leader) pushes the agents' messages; python-socketio's Redis manager takes each one to
    the server the customer's socket is on. One customer per server: one of them is not on the leader's."""
    token = agent_online(stack, "ann")
    base, auth = handoff_url(stack), {"Authorization": f"Bearer {token}"}

    async def customer_on(port: int, line: str) -> List[Dict]:
        client, session_id, inbox = await socketio_session(f"http://127.0.0.1:{port}")
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            await ws.receive()
            for text in ANGRY:
                await client.emit("user_uttered", {"message": text, "session_id": session_id})
                await asyncio.sleep(1.5)
            offered = await agent_events(ws, "offered", timeout=60)
            assert offered["conversation_id"] == conversation_of(session_id)
            eid = offered["escalation"]
            async with session.post(f"{base}/v1/handoffs/{eid}/accept", headers=auth) as r:
                assert r.status == 200
            async with session.post(f"{base}/v1/handoffs/{eid}/messages", json={"text": line}, headers=auth) as r:
                assert r.status == 201
            said: List[Dict] = []
            while not any(m.get("text") == line for m in said):
                said.append(await asyncio.wait_for(inbox.get(), 20))
            async with session.post(f"{base}/v1/handoffs/{eid}/release", json={"reason": "done"}, headers=auth):
                pass
            await ws.close()
        await client.disconnect()
        return said

    try:
        for port, line in zip(stack.rasa_ports(), ("Ann here, on your first server.", "Ann here, on the second.")):
            said = asyncio.run(customer_on(port, line))
            mine = [m for m in said if m.get("text") == line]
            assert len(mine) == 1 and (mine[0]["agent"], mine[0]["agent_name"]) == ("ann", "Ann Baker"), said
    finally:
        agent_offline(stack, token)


@pytest.mark.parametrize("second_tab", ["same server", "other server"])  # presence is in Redis: bot/bridge/presence.py
def test_a_waiting_customer_who_closes_one_of_two_tabs_is_not_taken_for_gone(stack: RunCommand, second_tab: str):
    token = agent_online(stack, "ben")  # gets the offer and leaves it open: the customer keeps waiting
    one, two = stack.rasa_ports()

    async def scenario() -> tuple:
        tab1, session_id, _ = await socketio_session(f"http://127.0.0.1:{one}")
        tab2, again, _ = await socketio_session(f"http://127.0.0.1:{one if second_tab == 'same server' else two}",
                                                session_id)
        assert again == session_id  # one conversation, two tabs
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(handoff_url(stack).replace("http", "ws") + "/v1/agents/me/stream",
                                          headers={"Authorization": f"Bearer {token}"})
            await ws.receive()
            for text in ANGRY:
                await tab1.emit("user_uttered", {"message": text, "session_id": session_id})
                await asyncio.sleep(1.5)
            offered = await agent_events(ws, "offered", timeout=60)
            await tab1.disconnect()  # the other tab stays open
            try:
                async def this_chat_abandoned() -> Dict:  # (not the previous test's chat, closed for good)
                    while True:
                        event = await agent_events(ws, "abandoned")
                        if event.get("conversation_id") == offered.get("conversation_id"):
                            return event
                abandoned = await asyncio.wait_for(this_chat_abandoned(), 8)  # grace: 2 s
            except asyncio.TimeoutError:
                abandoned = None
            await ws.close()
        await tab2.disconnect()
        return offered, abandoned

    try:
        offered, abandoned = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    assert abandoned is None, f"escalation {offered['escalation']} marked abandoned with a tab still open"


def test_a_killed_rasa_server_is_restarted_and_haproxy_routes_around_it(stack: RunCommand):
    one, _ = stack.rasa_ports()
    me = f"kill-{uuid.uuid4().hex[:8]}"
    assert say_at(one, me, "where is my order?")[-1] in responses_texts("utter_ask_order_number")
    victim = stack.rasa_process(one)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    # at once and while it loads again: every message through HAProxy is answered, by the other server
    replies = stack.say(me, "it's 10234568")
    assert matches(replies[-1], "utter_ask_order_verification", order_number="10234568"), replies
    for _ in range(5):
        assert any(matches(t, "utter_greet") for t in stack.say(f"kill-{uuid.uuid4().hex[:8]}", "hi"))
    deadline = time.monotonic() + 10
    while "rasa-1 stopped unexpectedly (exit code -9); restarting it" not in "".join(stack.output):
        assert time.monotonic() < deadline, "".join(stack.output[-20:])
        time.sleep(0.2)
    deadline = time.monotonic() + 300
    while stack.haproxy_servers().get("rasa-1", {}).get("status") != "UP":
        assert stack.proc is not None and stack.proc.poll() is None, "".join(stack.output[-30:])
        assert time.monotonic() < deadline, "rasa-1 not back in HAProxy within 300 s"
        assert any(matches(t, "utter_greet") for t in stack.say(f"kill-{uuid.uuid4().hex[:8]}", "hi"))
        time.sleep(2)
    assert stack.rasa_process(one).pid != victim.pid
    replies = say_at(one, me, "ben.keller@example.com")  # the new server has the conversation too
    assert any("JD014600003LB" in t for t in replies), replies
