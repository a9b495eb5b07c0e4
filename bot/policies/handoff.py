"""HandoffPolicy: hand the conversation to a person when the handoff policy's decision says so.

The decision itself is made by the action server (action_score_conversation evaluates
policy/handoff_policy.yml on every customer message and stores the result in the
`handoff_decision` slot). This policy only follows it, so the decision can never be overruled
by a story or a rule: right after a customer message whose decision is "hand off", it predicts
`action_request_handoff` with confidence 1 at a priority above RulePolicy's, then `action_listen`.
It never fires again while a request is pending (slot `handoff_request` set), nor on an intent triggered
from outside (the bridge's EXTERNAL_handoff_closed is not the customer asking); every hand-back clears the
decision (bot/bridge/delivery.py hand_back_events, actions/handoff.py), so it starts afresh.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction, confidence_scores_for
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME, EXTERNAL_MESSAGE_PREFIX
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker


def should_hand_off(decision: Any, pending: Any, latest_action: Optional[str], external: bool = False) -> bool:
    """Pure rule: a fresh customer message (not an intent triggered from outside, such as the bridge's
    EXTERNAL_handoff_closed), a decision to hand off, no request pending."""
    return (latest_action == ACTION_LISTEN_NAME and pending is None and not external
            and isinstance(decision, dict) and bool(decision.get("handoff")))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True)
class HandoffPolicy(Policy):
    """Follows the `handoff_decision` slot (see module docstring). Nothing to train."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "priority": 7,  # above RulePolicy (6): a hand-off wins over an active form or a rule
            "action": "action_request_handoff",
            "decision_slot": "handoff_decision",
            "pending_slot": "handoff_request",
        }

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        action = self.config["action"]
        latest = tracker.latest_action_name
        if latest == action:
            return self._prediction(confidence_scores_for(ACTION_LISTEN_NAME, 1.0, domain))
        message = tracker.latest_message
        external = bool(message and (message.text or "").startswith(EXTERNAL_MESSAGE_PREFIX))
        if should_hand_off(tracker.get_slot(self.config["decision_slot"]),
                           tracker.get_slot(self.config["pending_slot"]), latest, external):
            return self._prediction(confidence_scores_for(action, 1.0, domain))
        return self._prediction(self._default_predictions(domain))
