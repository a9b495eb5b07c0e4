"""The customer's wait message during a surge (docs/surge.md): the busy wording is chosen when the service says
the group surges, it is a queue notice marked ``surge`` for the web chat, and its text (domain.yml) says so."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from actions.delivery import Delivery
from actions.handoff import status_message
from bot.bridge.notices import notice_fields

ROOT = Path(__file__).resolve().parents[2]


def waiting(**extra):
    return Delivery("sent", {"status": "waiting", "queue_position": 3, "estimated_wait_seconds": 600, **extra})


def test_the_first_queue_message_says_busy_only_while_the_group_surges():
    assert status_message(waiting(surge=True)) == ("utter_handoff_queued_surge", {"position": 3, "wait_minutes": 10},
                                                   True)
    assert status_message(waiting(surge=False))[0] == "utter_handoff_queued"
    assert status_message(waiting())[0] == "utter_handoff_queued"  # an older service says nothing of surges


@pytest.mark.parametrize("response", ["utter_handoff_queued_surge", "utter_handoff_position_update_surge"])
def test_the_busy_wait_notices_are_queue_notices_marked_surge(response):
    assert notice_fields({"utter_action": response, "position": 2, "wait_minutes": 4}) == \
        {"notice": True, "handoff": "waiting", "queue_position": 2, "surge": True}
    plain = response.replace("_surge", "")
    assert "surge" not in notice_fields({"utter_action": plain, "position": 2})


@pytest.fixture(scope="module")
def nlg():
    domain = Domain.load(str(ROOT / "domain.yml"))
    return domain, TemplatedNaturalLanguageGenerator(domain.responses)


@pytest.mark.parametrize("response", ["utter_handoff_queued_surge", "utter_handoff_position_update_surge"])
def test_the_customer_reads_that_it_is_busy_and_colleagues_are_joining(nlg, response):
    domain, generator = nlg
    tracker = DialogueStateTracker("c1", domain.slots)
    said = asyncio.run(generator.generate(response, tracker, "rest", position=2, wait_minutes=4))["text"]
    assert "number 2 in the queue" in said and "4 min" in said
    assert "busy" in said and "more colleagues are joining" in said
    plain = asyncio.run(generator.generate(response.replace("_surge", ""), tracker, "rest", position=2,
                                           wait_minutes=4))["text"]
    assert "busy" not in plain
