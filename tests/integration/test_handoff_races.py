"""Handoff races, every process real (the run command): a handoff asked for while the action server
restarts, messages sent while the handoff is being made, and a closed chat followed by the survey."""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import aiohttp
import pytest
import redis as redis_lib

from tests.conftest import free_port
from tests.integration.running import RunCommand, conversation_of, responses_texts, socketio_session, wait_gone
from tests.integration.test_live_handoff import (agent_events, agent_offline, agent_online, handoff_url,
                                                 record_of, tracker_events)


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "HANDOFF_SWEEP_SECONDS": "0.5", "BOT_RESTART_DELAY_SECONDS": "3",
                      "ACTION_RETRY_SECONDS": "60"})  # this busy test machine restarts the action server slowly
    run.start()
    yield run
    run.stop()


def action_server(stack: RunCommand):
    return next(p for p in stack.children() if p.cmdline()[-3:-2] == ["actions"] or
                ("-m" in p.cmdline() and "actions" in p.cmdline()))


def kill_action_server(stack: RunCommand) -> None:
    process = action_server(stack)
    process.kill()
    assert not wait_gone([process], 10)


def created(stack: RunCommand, conversation: str) -> List[str]:
    """The conversation's escalations, as the service stores them (its index by creation time): the event stream
    is no record of them, since the sweeper trims what the bridge acknowledged."""
    r = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
    return [eid for eid in r.zrange("{ho}:created", 0, -1)
            if r.hget("{ho}:esc:" + eid, "conversation_id") == conversation]


def test_a_customer_who_asks_for_a_person_while_the_action_server_restarts_is_handed_off_once(stack):
    me = f"restart-{uuid.uuid4().hex[:8]}"
    kill_action_server(stack)  # the run command starts it again after BOT_RESTART_DELAY_SECONDS
    started = time.monotonic()
    told = stack.say(me, "I want to talk to a human")
    waited = time.monotonic() - started
    assert len(created(stack, me)) == 1, (told, waited)  # old code: no escalation (the action call failed)
    assert [t.startswith("I'm passing your conversation") for t in told].count(True) == 1, told  # told once
    assert [t.startswith("Nobody from the team is available") for t in told].count(True) == 1, told  # a ticket
    events = tracker_events(stack, me)
    assert [e["name"] for e in events if e["event"] == "action"].count("action_request_handoff") == 1


def test_messages_sent_while_the_handoff_is_being_made_reach_the_agent_once_in_order(stack):
    token = agent_online(stack, "ann")
    later = ["my order is 10234568", "it never arrived", "please hurry"]

    async def scenario():
        client, session_id, _inbox = await socketio_session(stack.url)
        me = conversation_of(session_id)
        base = handoff_url(stack)
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            await ws.receive()
            # back to back: the first asks for a person, the others arrive while action_request_handoff runs
            for text in ["I want to talk to a human now", *later]:
                await client.emit("user_uttered", {"message": text, "session_id": session_id})
            offered = await agent_events(ws, "offered", timeout=30)
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/accept", headers=auth):
                pass
            deadline = asyncio.get_running_loop().time() + 20
            record = record_of(stack, offered["escalation"])
            while len([m for m in record["messages"] if m["speaker"] == "customer"]) < len(later) and \
                    asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.5)
                record = record_of(stack, offered["escalation"])
            await asyncio.sleep(1.5)  # a late duplicate would show by now
            record = record_of(stack, offered["escalation"])
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/release", json={"reason": "done"},
                                    headers=auth):
                pass
            await ws.close()
        await client.disconnect()
        return me, record

    try:
        me, record = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    stored = [e["text"] for e in tracker_events(stack, me) if e["event"] == "user"]
    assert stored[:4] == ["I want to talk to a human now", *later]
    # old code: [] (stored in the paused tracker, never forwarded)
    assert [m["text"] for m in record["messages"] if m["speaker"] == "customer"] == later


def test_a_closed_chat_and_its_survey_make_no_second_escalation_even_if_the_action_server_restarts(stack):
    token = agent_online(stack, "ben")

    async def scenario():
        client, session_id, inbox = await socketio_session(stack.url)
        me = conversation_of(session_id)
        base = handoff_url(stack)
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream", headers=auth)
            await ws.receive()
            await client.emit("user_uttered", {"message": "I want to talk to a human now", "session_id": session_id})
            offered = await agent_events(ws, "offered", timeout=30)
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/accept", headers=auth):
                pass
            said: List[Dict] = []
            while not any("has joined" in m["text"] for m in said):
                said.append(await asyncio.wait_for(inbox.get(), 15))
            kill_action_server(stack)  # the close's survey trigger is scored while the action server restarts
            async with session.post(f"{base}/v1/handoffs/{offered['escalation']}/close",
                                    json={"resolved": True, "wrap_up": "answered"}, headers=auth):
                pass
            after: List[Dict] = []
            while not any(m["text"] in responses_texts("utter_ask_survey_resolved") for m in after):
                after.append(await asyncio.wait_for(inbox.get(), 90))
            await client.emit("user_uttered", {"message": "no", "session_id": session_id})
            after.append(await asyncio.wait_for(inbox.get(), 30))
            await client.emit("user_uttered", {"message": "1", "session_id": session_id})
            after.append(await asyncio.wait_for(inbox.get(), 30))
            await asyncio.sleep(2)
            while not inbox.empty():
                after.append(inbox.get_nowait())
            await ws.close()
        await client.disconnect()
        return me, after

    try:
        me, after = asyncio.run(scenario())
    finally:
        agent_offline(stack, token)
    texts = [m["text"] for m in after]
    assert any(t in responses_texts("utter_handoff_closed") for t in texts), texts
    assert not any(t in responses_texts("utter_handoff_connecting") + responses_texts("utter_handoff_queued")
                   for t in texts), texts
    assert len(created(stack, me)) == 1, texts  # old code: a second escalation, offered to another agent
    r = redis_lib.Redis.from_url(stack.redis_url, decode_responses=True)
    assert r.hget("{shop}:handoff:active", me) is None
