"""The action server's delivery of a handoff request, against a real HTTP server standing in for
the handoff service (and a real Redis for what is parked for a person)."""
from __future__ import annotations

import asyncio
import json
import logging

import redis as redis_lib

from actions import delivery
from tests.standin import StandIn

REQUEST = {"schema_version": 1, "conversation_id": "conv-503", "transcript": [{"speaker": "customer", "text": "hi"}]}


def test_a_retry_after_a_503_resends_the_same_request():
    answers = iter([503])

    async def scenario():
        service = await StandIn(lambda path, body: next(answers, None)).start()
        try:
            answer = await delivery.post(service.url, "token", "/v1/handoffs", REQUEST)
        finally:
            await service.stop()
        return answer, service.bodies("/v1/handoffs")

    answer, bodies = asyncio.run(scenario())
    assert answer["status"] == "waiting"
    assert bodies == [REQUEST, REQUEST]  # old code: the retry's body was the 503's error text


def test_a_refused_request_is_parked_for_a_person_with_a_log_line_naming_the_conversation(
        redis_server, monkeypatch, caplog):
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    r.flushdb()

    async def scenario():
        service = await StandIn(lambda path, body: 413).start()
        monkeypatch.setenv("HANDOFF_URL", service.url)
        monkeypatch.setenv("HANDOFF_BOT_TOKEN", "token")
        monkeypatch.setenv("REDIS_URL", redis_server)
        try:
            return await delivery.deliver(REQUEST)
        finally:
            await service.stop()

    with caplog.at_level(logging.ERROR, logger="actions.delivery"):
        outcome = asyncio.run(scenario())
    assert outcome.status == "rejected"
    parked = [json.loads(x) for x in r.lrange("{shop}:handoff:undelivered", 0, -1)]
    assert [(p["kind"], p["conversation_id"], p["status"], p["item"]) for p in parked] == [
        ("handoff", "conv-503", 413, REQUEST)]
    assert any("conv-503" in rec.getMessage() and "undelivered" in rec.getMessage() for rec in caplog.records)


def test_parked_items_are_listed_and_replayed_to_their_outbox(redis_server):
    import subprocess
    import sys

    from common.undelivered import parked
    from tests.conftest import ROOT

    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    r.flushdb()
    survey = {"escalation": "esc-9", "survey": {"resolved": True, "rating": 4}}
    for entry in (parked("handoff", REQUEST, 422, "refused"), parked("handoff", {**REQUEST, "conversation_id": "other"},
                                                                        413, "too long"), parked("survey", survey, 401, "x")):
        r.rpush("{shop}:handoff:undelivered", json.dumps(entry))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot.undelivered", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "REDIS_URL": redis_server,
                                                          "PYTHONPATH": str(ROOT)})

    listed = cli("list")
    assert listed.returncode == 0 and [line.split()[2] for line in listed.stdout.splitlines()] == [
        "conv-503", "other", "esc-9"]
    assert cli("replay", "--conversation", "conv-503").returncode == 0
    assert [json.loads(x) for x in r.lrange("{shop}:handoff:outbox", 0, -1)] == [REQUEST]  # the request as it was
    assert cli("replay").returncode == 0
    assert r.llen("{shop}:handoff:outbox") == 2 and r.llen("{shop}:handoff:undelivered") == 0
    assert [json.loads(x) for x in r.lrange("{shop}:handoff:surveys", 0, -1)] == [survey]


def test_a_parked_ticket_survey_names_its_ticket_for_the_supervisors_list():
    from common.undelivered import describe, parked

    entry = parked("survey", {"ticket": "T-10042", "survey": {"resolved": False, "rating": 2}}, 422, "refused")
    shown = describe(json.dumps(entry))
    assert shown["kind"] == "survey" and shown["ticket"] == "T-10042" and shown.get("escalation") is None
