"""Deferring TEDPolicy's prediction (bot/policies/deferred_ted.py) never changes the predicted action.

The first tests pin the rule on small made-up predictions; the last one replays every story of the training
data and of the test stories through the trained model, once with Rasa's own code and once with the deferral,
and compares each predicted action, the policy that predicted it and its confidence.
"""
from __future__ import annotations

import asyncio
from typing import List

import pytest
from rasa.core.policies.ensemble import DefaultPolicyPredictionEnsemble
from rasa.core.policies.policy import PolicyPrediction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies import deferred_ted
from bot.policies.deferred_ted import DeferredPrediction
from tests.conftest import ROOT

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet]
responses:
  utter_a: [{text: a}]
  utter_b: [{text: b}]
""")


def probs(action: str, confidence: float) -> List[float]:
    out = [0.0] * DOMAIN.num_actions
    out[DOMAIN.index_for_action(action)] = confidence
    return out


def ted(action: str, confidence: float, computed: List[int]) -> DeferredPrediction:
    def compute() -> PolicyPrediction:
        computed.append(1)
        return PolicyPrediction(probs(action, confidence), "TEDPolicy", 1)
    return DeferredPrediction(compute, "TEDPolicy", 1)


def pick(predictions: List[PolicyPrediction], events=()) -> PolicyPrediction:
    tracker = DialogueStateTracker.from_events("t", [ActionExecuted("action_listen"), UserUttered("hi"), *events])
    return deferred_ted.combine_predictions(DefaultPolicyPredictionEnsemble(), predictions, tracker, DOMAIN)


def test_a_rule_at_confidence_one_wins_without_computing_ted():
    computed: List[int] = []
    best = pick([PolicyPrediction(probs("utter_a", 1.0), "RulePolicy", 6), ted("utter_b", 1.0, computed)])
    assert (best.policy_name, DOMAIN.action_names_or_texts[best.probabilities.index(1.0)]) == ("RulePolicy", "utter_a")
    assert computed == []


def test_without_a_certain_prediction_ted_is_computed_and_can_win():
    computed: List[int] = []
    best = pick([PolicyPrediction(probs("utter_a", 0.3), "RulePolicy", 6), ted("utter_b", 0.9, computed)])
    assert best.policy_name == "TEDPolicy" and computed == [1]


def test_a_rejected_rule_action_brings_ted_back():
    computed: List[int] = []
    best = pick([PolicyPrediction(probs("utter_a", 1.0), "RulePolicy", 6), ted("utter_b", 0.8, computed)],
                events=[ActionExecutionRejected("utter_a")])
    assert best.policy_name == "TEDPolicy" and computed == [1]


def test_a_no_user_prediction_wins_without_ted():
    computed: List[int] = []
    loop = PolicyPrediction(probs("utter_a", 0.5), "RulePolicy", 6, is_no_user_prediction=True)
    best = pick([loop, ted("utter_b", 1.0, computed)])
    assert best.policy_name == "RulePolicy" and computed == []


def test_deferred_prediction_reads_like_the_real_one():
    computed: List[int] = []
    deferred = ted("utter_b", 0.7, computed)
    assert deferred.policy_priority == 1 and computed == []
    assert deferred.max_confidence == pytest.approx(0.7) and deferred.events == [] and computed == [1]
    assert deferred.is_end_to_end_prediction is False and computed == [1]


def test_same_predictions_as_rasa_on_every_story_with_the_trained_model(trained_model):
    from rasa.core.agent import Agent
    from rasa.core.test import _create_data_generator, _predict_tracker_actions

    trackers: list = []

    def replay(deferred: bool) -> list:
        # the model's graph binds each policy's method when it loads: patch, then load
        (deferred_ted.apply if deferred else deferred_ted.undo)()
        try:
            agent = Agent.load(str(trained_model))
            if not trackers:  # the same trackers for both (the generator's order is not fixed)
                for resource, tests in ((str(ROOT / "data"), False), (str(ROOT / "tests" / "test_stories.yml"), True),
                                        (str(ROOT / "tests" / "test_stories_zh.yml"), True)):
                    trackers.extend(_create_data_generator(resource, agent, None, tests).generate_story_trackers())
            assert len(trackers) > 100

            async def run() -> list:
                return [(await _predict_tracker_actions(t, agent))[2] for t in trackers]
            return asyncio.run(run())
        finally:
            deferred_ted.undo()

    computed: List[int] = []
    deferred: List[int] = []
    original, original_deferred = deferred_ted.ORIGINAL_PREDICT, deferred_ted.deferred_predict

    def counting(*args, **kwargs):
        computed.append(1)
        return original(*args, **kwargs)

    def counting_deferred(*args, **kwargs):
        prediction = original_deferred(*args, **kwargs)
        deferred.append(isinstance(prediction, DeferredPrediction))
        return prediction

    theirs = replay(deferred=False)
    deferred_ted.ORIGINAL_PREDICT, deferred_ted.deferred_predict = counting, counting_deferred
    try:
        ours = replay(deferred=True)
    finally:
        deferred_ted.ORIGINAL_PREDICT, deferred_ted.deferred_predict = original, original_deferred
    predictions = sum(len(a) for a in theirs)
    assert predictions > 500
    assert ours == theirs
    # TED's node ran for every prediction, deferred; it was computed for (almost) none of them
    assert len(deferred) >= predictions and all(deferred)
    assert len(computed) < predictions / 10, (len(computed), predictions)
