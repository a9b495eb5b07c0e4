"""Rasa's core fallback (RulePolicy, `core_fallback_action_name: action_default_fallback`) must say something.

When the NLU is sure of an intent no rule or story expects there (for instance `inform` with an order
number as the very first message), Rasa runs `action_default_fallback`, which utters `utter_default`
and silently sends nothing when the domain lacks it: the customer was left without a reply.
"""
from __future__ import annotations

import asyncio

from rasa.core.actions.action import ActionDefaultFallback
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUtteranceReverted
from rasa.shared.core.trackers import DialogueStateTracker

from tests.conftest import ROOT


def test_the_core_fallback_asks_the_customer_to_rephrase():
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker("someone", domain.slots)
    events = asyncio.run(ActionDefaultFallback().run(
        CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses), tracker, domain))
    said = [e.text for e in events if isinstance(e, BotUttered)]
    english = [r["text"] for r in domain.responses["utter_ask_rephrase"] if not r.get("condition")]
    assert said == english  # no language slot yet: the English variation
    assert any(isinstance(e, UserUtteranceReverted) for e in events)
