"""Handing off again, over the real stack (the run command: Redis, handoff service, action server, Rasa): a customer
whose handoff became a ticket (nobody online) is handed off again, automatically, when a new problem comes up."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import redis as redis_lib

from tests.conftest import free_port
from tests.integration.running import RunCommand

ANGRY = ["where is my order 10234568?", "this is ridiculous, it is two weeks late and nobody answers",
         "I want to talk to a human now"]
TICKET = "Nobody from the team is available right now"


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    run.start()
    yield run
    run.stop()


def tracker_events(stack: RunCommand, sender: str) -> List[Dict]:
    r = redis_lib.Redis.from_url(stack.redis_url)
    raw = r.get(f"shop:tracker:{sender}")
    return json.loads(raw)["events"] if raw else []


def requests_made(stack: RunCommand, sender: str) -> List[Dict]:
    """The handoff requests recorded in the conversation's tracker, oldest first."""
    return [e["value"] for e in tracker_events(stack, sender)
            if e["event"] == "slot" and e["name"] == "handoff_request" and e["value"]]


def test_after_a_ticket_a_new_problem_is_handed_off_again(stack: RunCommand):
    me = f"again-{uuid.uuid4().hex[:8]}"
    told: List[str] = []
    for text in ANGRY:
        told += stack.say(me, text)
    assert any(t.startswith(TICKET) for t in told), told  # nobody online: a ticket
    calm = stack.say(me, "ok, and how long does shipping take?")
    assert not any(t.startswith(TICKET) for t in calm), calm  # not asked again on every message
    before = requests_made(stack, me)
    new_problem = stack.say(me, "I will take legal action and call my lawyer")
    # old code: the first request stayed pending, so the bot answered as if nothing had happened
    assert any(t.startswith(TICKET) for t in new_problem), new_problem
    after = requests_made(stack, me)
    assert len(after) == len(before) + 1
    assert "legal_threat" in [t["name"] for t in after[-1]["decision"]["triggers"]]  # automatic, not asked
    latest_intent = [e for e in tracker_events(stack, me) if e["event"] == "user"][-1]["parse_data"]["intent"]["name"]
    assert latest_intent != "human_handoff"
