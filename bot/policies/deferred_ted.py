"""TEDPolicy's prediction computed only when it could win: same chosen action, a quarter less work.

Why: in a py-spy profile of the Rasa server at 50 concurrent conversations (2026-12-06), TEDPolicy's
``predict_action_probabilities`` was 27 % of the process's samples, the largest single item. Rasa runs
every policy for every prediction (two or three per message) and then lets the ensemble pick one, yet on
most of them RulePolicy, MemoizationPolicy or our HandoffPolicy already predicts with confidence 1.0 at a
higher priority, and then TED's numbers are thrown away unread.

How: TED's graph node returns a ``DeferredPrediction`` (a ``PolicyPrediction`` that computes itself on
first use), and the ensemble first decides, from the other policies' predictions alone, whether TED could
change the outcome of Rasa's own ``_pick_best_policy``:

- a "no user" prediction (an active loop's happy path) exists: TED's never is one, so it is filtered out;
- otherwise: some other prediction has confidence >= 1.0 (after Rasa's zeroing of a rejected action) at a
  priority above TED's: TED's confidence is at most 1.0 (softmax, or renormalised top-k), and ties go to
  the higher priority, so TED cannot be picked.

TED's prediction carries no mandatory ``events`` (only ``optional_events``, applied when it wins), so
leaving it out changes neither the picked prediction nor the events applied. Only a TEDPolicy that cannot
make end-to-end predictions (trained without user text, as ours) is deferred: an end-to-end prediction
would overrule the others. In every other case TED is computed exactly as before. Equivalence on the
trained model: tests/unit/test_deferred_ted.py.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Text

from rasa.core.policies.ensemble import DefaultPolicyPredictionEnsemble
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

ORIGINAL_PREDICT = TEDPolicy.__dict__["predict_action_probabilities"]
ORIGINAL_COMBINE = DefaultPolicyPredictionEnsemble.__dict__["combine_predictions"]


class DeferredPrediction(PolicyPrediction):
    """A PolicyPrediction whose fields are computed on first access (by ``compute``)."""

    def __init__(self, compute: Callable[[], PolicyPrediction], policy_name: Text, policy_priority: int) -> None:
        # only these three are set: any other attribute goes through __getattr__, which computes
        self.__dict__.update(_compute=compute, policy_name=policy_name, policy_priority=policy_priority)

    def resolve(self) -> PolicyPrediction:
        """The real prediction (computed once)."""
        real = self.__dict__.get("_real")
        if real is None:
            real = self.__dict__["_real"] = self.__dict__["_compute"]()
            self.__dict__.update({k: v for k, v in real.__dict__.items()})
        return real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_real", "_compute"):
            raise AttributeError(name)
        self.resolve()
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None


def can_be_end_to_end(policy: TEDPolicy) -> bool:
    """TED predicts from the user's text (and may overrule every other policy) only if trained on text."""
    return TEXT in policy.fake_features


def deferred_predict(self: TEDPolicy, tracker: DialogueStateTracker, domain: Domain,
                     rule_only_data: Optional[dict] = None, precomputations: Any = None,
                     **kwargs: Any) -> PolicyPrediction:
    """TEDPolicy.predict_action_probabilities, deferred when it cannot make an end-to-end prediction."""
    if type(self) is not TEDPolicy or self.model is None or can_be_end_to_end(self):
        return ORIGINAL_PREDICT(self, tracker, domain, rule_only_data=rule_only_data,
                                precomputations=precomputations, **kwargs)

    def compute() -> PolicyPrediction:
        return ORIGINAL_PREDICT(self, tracker, domain, rule_only_data=rule_only_data,
                                precomputations=precomputations, **kwargs)

    return DeferredPrediction(compute, self.__class__.__name__, self.priority)


def _rejected_index(tracker: DialogueStateTracker, domain: Domain) -> Optional[int]:
    """The action whose confidence Rasa's ensemble sets to 0.0 (as ``_best_policy_prediction``)."""
    last = next((e for e in reversed(tracker.events) if isinstance(e, (ActionExecutionRejected, ActionExecuted))),
                None)
    if isinstance(last, ActionExecutionRejected) and last.action_name:
        return domain.index_for_action(last.action_name)
    return None


def _confidence(prediction: PolicyPrediction, rejected: Optional[int]) -> float:
    probabilities = list(prediction.probabilities)
    if rejected is not None and rejected < len(probabilities):
        probabilities[rejected] = 0.0
    return max(probabilities, default=0.0)


def deferred_cannot_win(eager: List[PolicyPrediction], deferred: List[DeferredPrediction],
                        tracker: DialogueStateTracker, domain: Domain) -> bool:
    """True when Rasa's ``_pick_best_policy`` would pick among ``eager`` whatever the deferred ones hold.

    Deferred predictions are TED's: never "no user", never end-to-end (see ``deferred_predict``), no
    mandatory events, confidence <= 1.0.
    """
    if not deferred:
        return True
    if any(p.is_no_user_prediction for p in eager):
        return True
    if any(p.is_end_to_end_prediction for p in eager):
        return True
    if not eager:
        return False
    rejected = _rejected_index(tracker, domain)
    best = max((_confidence(p, rejected), p.policy_priority) for p in eager)
    return best[0] >= 1.0 and all(best[1] > d.policy_priority for d in deferred)


def combine_predictions(self: DefaultPolicyPredictionEnsemble, predictions: List[PolicyPrediction],
                        tracker: DialogueStateTracker, domain: Domain) -> PolicyPrediction:
    """Rasa's combine_predictions, leaving out deferred predictions that cannot win (else computing them)."""
    deferred = [p for p in predictions if isinstance(p, DeferredPrediction) and "_real" not in p.__dict__]
    if deferred:
        eager = [p for p in predictions if not any(p is d for d in deferred)]
        if deferred_cannot_win(eager, deferred, tracker, domain):
            predictions = eager
        else:
            predictions = [p.resolve() if isinstance(p, DeferredPrediction) else p for p in predictions]
    return ORIGINAL_COMBINE(self, predictions, tracker, domain)


def apply() -> None:
    """Install (idempotent)."""
    TEDPolicy.predict_action_probabilities = deferred_predict  # type: ignore[assignment]
    DefaultPolicyPredictionEnsemble.combine_predictions = combine_predictions  # type: ignore[assignment]


def undo() -> None:
    """Rasa's own behaviour again (for the equivalence test)."""
    TEDPolicy.predict_action_probabilities = ORIGINAL_PREDICT  # type: ignore[assignment]
    DefaultPolicyPredictionEnsemble.combine_predictions = ORIGINAL_COMBINE  # type: ignore[assignment]
