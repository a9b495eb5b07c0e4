"""The bot's conversations per day and topic (actions/topic_counts.py), counted by action_score_conversation after
every customer message in a real redis-server, for the reports' containment by topic."""
from __future__ import annotations

import asyncio
import time

import pytest
import redis as redis_lib

from actions import topic_counts
from actions.scoring import ActionScoreConversation
from rasa_sdk.executor import CollectingDispatcher
from tests.conftest import bot, free_port, make_tracker, user


def day_key(topic: str) -> str:
    return topic_counts.topic_key(topic, time.time())


def score(events, sender: str) -> None:
    tracker = make_tracker(events)
    tracker.sender_id = sender
    asyncio.run(ActionScoreConversation().run(CollectingDispatcher(), tracker, {}))


def test_each_conversation_counts_once_a_day_under_the_topic_of_its_message(redis_server: str, monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server)
    monkeypatch.delenv("HANDOFF_REDIS_URL", raising=False)
    r = redis_lib.Redis.from_url(redis_server)
    r.delete(day_key("order_status"), day_key("invoice"))
    score([user("where is my order", "order_status")], "conv-a")
    score([user("where is my order", "order_status"), bot("On its way."), user("still?", "order_status")], "conv-a")
    score([user("where is my order", "order_status")], "conv-b")
    score([user("I need an invoice", "faq", faq_key="faq/invoice")], "conv-c")   # the FAQ sub-intent
    score([user("hi", "greet")], "conv-d")                                      # small talk: no topic
    assert r.pfcount(day_key("order_status")) == 2
    assert r.pfcount(day_key("invoice")) == 1
    assert 99 * 86400 < r.ttl(day_key("invoice")) <= 100 * 86400
    assert not r.keys(topic_counts.TOPIC_KEY + "*:greet")


def test_no_redis_or_a_dead_one_never_fails_or_holds_up_the_answer(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("HANDOFF_REDIS_URL", raising=False)
    assert asyncio.run(topic_counts.count_topic("c", "order_status")) is False
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    t0 = time.monotonic()
    for _ in range(3):
        score([user("where is my order", "order_status")], "conv-x")
    assert time.monotonic() - t0 < 3.0
    assert sum("per topic failed" in r.getMessage() for r in caplog.records) == 1  # not once a message
