"""An editor adds an intent with a single example: the assistant must keep answering.

Before, one intent with one example left LinearIntentClassifier uncalibrated: every
confidence fell to ~1/n_intents, under the FallbackClassifier threshold, and every
message was answered with "I can't help with that".

Trains the project's NLU (data/nlu + domain.yml, the pipeline of the shipped config.yml
up to its FallbackClassifier, same settings) plus one new intent with one example, in
a temporary copy of the data. ResponseSelector (which picks the FAQ answer *after* the
intent is known) and the sentiment scorer are left out: they do not decide whether a
message falls back, and leaving them out keeps this test to about a minute.
"""
from __future__ import annotations

import os
import shutil
from typing import Dict, List

import pytest
import yaml

from tests.conftest import ROOT

NEW_INTENT = """version: "3.1"
nlu:
- intent: ask_gift_registry
  examples: |
    - do you have a wedding gift registry?
"""

# Ordinary customer questions about the shop's FAQ topics, written for this test.
FAQ_QUESTIONS = [
    "how do I reset my password?",
    "how long does shipping take?",
    "what payment methods do you accept?",
    "how can I return an item?",
    "do you offer gift wrapping?",
    "can I cancel my order?",
    "how much does delivery cost?",
    "do you ship internationally?",
    "when will I get my refund?",
    "how do I unsubscribe from the newsletter?",
]
NONSENSE = ["wugga wugga plonk", "blorf zindle quap"]


@pytest.fixture(scope="module")
def parse(tmp_path_factory: pytest.TempPathFactory):
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE
    from rasa.model_training import train_nlu

    tmp = tmp_path_factory.mktemp("one-example")
    data = tmp / "nlu"
    shutil.copytree(ROOT / "data" / "nlu", data)
    (data / "zz_new_intent.yml").write_text(NEW_INTENT)
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline = config["pipeline"]
    last = next(i for i, c in enumerate(pipeline) if c["name"] == "FallbackClassifier")
    config["pipeline"] = [c for c in pipeline[: last + 1] if c["name"] != "ResponseSelector"]
    config.pop("policies", None)
    (tmp / "config.yml").write_text(yaml.safe_dump(config))
    # no training cache: Rasa's cache keys ignore the components' code, a cached model would
    # test the classifier as it was when the cache was filled
    saved = os.environ.get("RASA_MAX_CACHE_SIZE")
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    try:
        model = train_nlu(str(tmp / "config.yml"), str(data), str(tmp / "models"),
                          domain=str(ROOT / "domain.yml"), fixed_model_name="one-example")
    finally:
        if saved is None:
            os.environ.pop("RASA_MAX_CACHE_SIZE")
        else:
            os.environ["RASA_MAX_CACHE_SIZE"] = saved
    assert model, "training failed"
    agent = Agent.load(model)
    runner, target = agent.processor.graph_runner, agent.processor.model_metadata.nlu_target

    def run(texts: List[str]) -> List[Dict]:
        out = runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(t) for t in texts]}, targets=[target])
        return [m.get("intent") for m in out[target]]

    return run


def test_ordinary_faq_questions_are_still_answered(parse):
    intents = parse(FAQ_QUESTIONS)
    wrong = [(q, i) for q, i in zip(FAQ_QUESTIONS, intents) if i["name"] != "faq"]
    assert not wrong, wrong


def test_nonsense_still_falls_back(parse):
    intents = parse(NONSENSE)
    assert [i["name"] for i in intents] == ["nlu_fallback"] * len(NONSENSE), intents


def test_the_new_intent_is_recognised_from_its_one_example(parse):
    [own, paraphrase] = parse(["do you have a wedding gift registry?", "is there a gift registry for weddings?"])
    assert own["name"] == "ask_gift_registry", own
    # With English alone the paraphrase was recognised too; since the Chinese examples doubled the faq intent
    # it falls back ("can't help, rephrase?"), which is acceptable; answering it with another intent is not.
    assert paraphrase["name"] in ("ask_gift_registry", "nlu_fallback"), paraphrase
