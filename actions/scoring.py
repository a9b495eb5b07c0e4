"""action_score_conversation: sentiment, complexity and the handoff decision, on every user turn.

Wired as the `custom` slot mapping of the score slots in domain.yml, so Rasa's action_extract_slots
runs it after each customer message, before the next prediction, without an ActionExecuted event:
stories and rules never see it. bot/policies/handoff.py follows the `handoff_decision` slot.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from common.policy import Complexity, Decision, Signals
from common.tables import Tables, load_tables

from actions.context import customer_events
from actions.signals import current_session, customer_tags, signals_from_events, text_facts, topic_of
from actions.topic_counts import count_topic


@lru_cache(maxsize=1)
def tables() -> Tables:
    """The policy tables (POLICY_DIR overrides policy/), loaded once; bad YAML fails at server start."""
    return load_tables(os.environ.get("POLICY_DIR") or None)


def low_confidence_threshold(t: Tables) -> float:
    return float(t.policy.complexity_cfg["factors"].get("low_confidence", {}).get("threshold", 0.5))


def score(events: List[Dict[str, Any]], t: Tables) -> "tuple[Signals, Complexity, Decision]":
    """Signals, complexity and decision for the conversation so far (pure)."""
    signals = signals_from_events(events, t.categories, low_confidence_threshold(t), t.policy.fallback_intents)
    complexity = t.policy.complexity(signals)
    return signals, complexity, t.policy.decide(signals, complexity)


def sentiment_summary(signals: Signals, events: List[Dict[str, Any]], trend_weight: float,
                      per_turn: bool = True) -> Dict[str, Any]:
    """Latest score, label, trend, complaint probability (and every turn's score, for the request only:
    in the slot it would make each event longer than the last)."""
    latest: Dict[str, Any] = {}
    for event in current_session(events):
        if event.get("event") == "user":
            latest = (event.get("parse_data") or {}).get("sentiment") or {}
    summary = {
        "latest": signals.sentiments[-1] if signals.sentiments else None,
        "label": latest.get("label"),
        "trend": signals.trend(trend_weight),
        "per_turn": signals.sentiments,
        "complaint": round(signals.complaint, 3),
        "model": latest.get("model"),
    }
    if not per_turn:
        del summary["per_turn"]
    return summary


def handoff_pending(tracker: Tracker) -> bool:
    """A request was already made in this conversation and not yet handed back."""
    return tracker.get_slot("handoff_request") is not None


class ActionScoreConversation(Action):
    """Sets slots sentiment, complexity, handoff_decision and customer_tags."""

    def name(self) -> Text:
        return "action_score_conversation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        t = tables()
        events = customer_events(tracker.applied_events())
        signals, complexity, decision = score(events, t)
        if handoff_pending(tracker):
            decision = Decision(False, ())
        values = {
            "sentiment": sentiment_summary(signals, events, t.policy.trend_weight, per_turn=False),
            "complexity": complexity.as_dict(),
            "handoff_decision": decision.as_dict(),
            "customer_tags": customer_tags(current_session(events)),
        }
        latest = next((e for e in reversed(events) if e.get("event") == "user"), None)
        if latest is not None:  # the reports' containment by topic (actions/topic_counts.py); best effort
            await count_topic(tracker.sender_id, topic_of(latest))
        # Only what changed: every event makes the tracker (and each later prediction) longer.
        return [SlotSet(name, value) for name, value in values.items() if tracker.get_slot(name) != value]


def warm_up() -> None:
    """Load and check the YAML and build the spaCy pipelines when the action server starts:
    a bad table fails the start, not a conversation, and the first customer does not wait."""
    t = tables()
    text_facts("warm-up: order 10234567, error PMT-4031, 4111 1111 1111 1111", t.categories)


warm_up()
