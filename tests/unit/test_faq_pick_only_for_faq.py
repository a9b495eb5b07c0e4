"""The response selector picks an FAQ answer only for FAQ messages (bot/rasa_speedups.py, fix 5).

Every customer message of the test stories (English and Chinese) and of the latency benchmark is parsed by
the trained model with Rasa's own ResponseSelector and with ours: the intent, its ranking and the entities
are the same for all, an FAQ message gets the very same answer, and any other message no FAQ pick
(FallbackClassifier runs after the selector: a low-confidence FAQ message still gets its pick).
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import yaml
from rasa.nlu.selectors.response_selector import ResponseSelector

from bench.latency import SCRIPT
from bot import rasa_speedups
from tests.conftest import ROOT


def customer_texts() -> List[str]:
    texts = list(SCRIPT)
    for name in ("test_stories.yml", "test_stories_zh.yml"):
        for story in yaml.safe_load((ROOT / "tests" / name).read_text())["stories"]:
            texts += [s["user"] for s in story["steps"] if "user" in s and not s["user"].startswith("/")]
    return list(dict.fromkeys(texts))


def test_faq_answers_unchanged_and_no_pick_for_other_intents(trained_model):
    from rasa.core.agent import Agent

    texts = customer_texts()
    assert len(texts) > 100

    def parse_all(process: Any) -> List[Dict[str, Any]]:
        # the model's graph binds each component's method when it loads: patch, then load
        ResponseSelector.process = process  # type: ignore[assignment]
        try:
            agent = Agent.load(str(trained_model))
        finally:
            ResponseSelector.process = rasa_speedups.ORIGINAL_SELECT  # type: ignore[assignment]

        async def parse() -> List[Dict[str, Any]]:
            return [await agent.parse_message(t) for t in texts]
        return asyncio.run(parse())

    theirs = parse_all(rasa_speedups.ORIGINAL_SELECT)
    ours = parse_all(rasa_speedups.select_for_retrieval_intent_only)

    faq = 0
    for text, old, new in zip(texts, theirs, ours):
        same = ("intent", "intent_ranking", "entities")
        assert {k: new.get(k) for k in same} == {k: old.get(k) for k in same}, text
        # the intent the selector saw: the classifier's, before FallbackClassifier put nlu_fallback first
        seen = next(r["name"] for r in old["intent_ranking"] if r["name"] != "nlu_fallback")
        if seen == "faq":
            faq += 1
            assert new == old, text
        else:
            assert "faq" in old["response_selector"]  # Rasa's: a pick nobody reads
            assert new["response_selector"] == {"all_retrieval_intents": ["faq"]}, text
    assert 20 < faq < len(texts) - 20  # both kinds were tried


def test_one_blas_thread_parses_bit_for_bit_as_the_default(trained_model):
    """rasa_speedups fix 6 (threadpool_limits(1)) changes where the matrix products run, not their results."""
    from rasa.core.agent import Agent
    from threadpoolctl import threadpool_limits

    agent = Agent.load(str(trained_model))
    texts = customer_texts()

    async def parse() -> List[Dict[str, Any]]:
        return [await agent.parse_message(t) for t in texts]

    with threadpool_limits(limits=2):
        default = asyncio.run(parse())
    with threadpool_limits(limits=1):
        one = asyncio.run(parse())
    assert one == default
