"""From the tracker's events (plain dicts) to the Signals the handoff policy reads. Pure."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from common.categories import CategoryMatcher, money_amounts
from common.customer_tickets import is_ticket_label
from common.pii import find_entities
from common.policy import Signals

from actions.context import FOLLOWUP_INTENTS, faq_topic_of, intent_of

FALLBACK_INTENT = "nlu_fallback"
# Intents that carry no request of their own: not topics, not "repeated".
SMALL_TALK = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "inform", "bot_challenge", "stop",
                        "human_handoff", "out_of_scope", FALLBACK_INTENT}) | FOLLOWUP_INTENTS
TIERS = ("none", "silver", "gold", "platinum")


def current_session(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The events since the latest session start, restart or hand-back from a person (``resume``): what
    the scores are about. A person dealt with what came before; the bot starts counting afresh."""
    events = list(events)
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") in ("session_started", "restart", "resume"):
            return events[i + 1:]
    return events


def customer_tags(events: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """The latest customer tags from message metadata (``metadata.customer``).

    Only the channel writes that key, after checking the shop's signature (bot/channels/customer.py);
    entities and text the customer types never reach it. Unknown tiers count as "none".
    """
    tags: Dict[str, Any] = {}
    for event in events:
        if event.get("event") != "user":
            continue
        customer = (event.get("metadata") or {}).get("customer")
        if isinstance(customer, Mapping):
            tags = dict(customer)
    tier = str(tags.get("vip_tier") or "none").lower()
    tags["vip_tier"] = tier if tier in TIERS else "none"
    return tags


@dataclass(frozen=True)
class TextFacts:
    """What one customer message says, independent of the conversation (cached per text)."""

    order_numbers: Tuple[str, ...]
    error_codes: Tuple[str, ...]
    categories: Tuple[Tuple[str, str], ...]
    amounts: Tuple[float, ...]


@lru_cache(maxsize=8192)
def text_facts(text: str, matcher: CategoryMatcher) -> TextFacts:
    """Entities, categories and amounts of a text. Each turn rescans the conversation, so this is cached. A ticket
    number ("T-10042") is not an error code, whatever its shape."""
    found = [e for e in find_entities(text) if not (e.label == "ERROR_CODE" and is_ticket_label(e.text))]
    return TextFacts(
        order_numbers=tuple(e.text.lstrip("#") for e in found if e.label == "ORDER_NUMBER"),
        error_codes=tuple(e.text for e in found if e.label == "ERROR_CODE"),
        categories=tuple((m.category, m.matched) for m in matcher.match(text, [(e.label, e.text) for e in found])),
        amounts=tuple(money_amounts(text)),
    )


# An FAQ topic the response selector is less sure of than this routes a chat only when no sure topic
# does: an angry "worst shop I have ever used" scored 0.24 for payment_declined must not send a chat
# about an order to billing, yet a lone unsure topic is still better than none (bench-handoff).
TOPIC_CONFIDENCE_AT_LEAST = 0.3


def topic_of(event: Dict[str, Any]) -> Optional[str]:
    """What a customer message asks about: the FAQ topic, or the intent of a task (order_status...)."""
    intent = intent_of(event)
    if not intent or intent in SMALL_TALK:
        return None
    return faq_topic_of(event) or (None if intent.startswith("faq") else intent)


def topic_is_sure(event: Dict[str, Any]) -> bool:
    """False for an FAQ topic whose response-selector confidence is below TOPIC_CONFIDENCE_AT_LEAST."""
    intent = intent_of(event) or ""
    if intent.startswith("faq/") or not intent.startswith("faq"):
        return True
    selected = (((event.get("parse_data") or {}).get("response_selector") or {}).get("faq") or {}).get("response") or {}
    return float(selected.get("confidence") or 0.0) >= TOPIC_CONFIDENCE_AT_LEAST


def answered_by_core_fallback(session: List[Dict[str, Any]]) -> set:
    """ids of the user events that Rasa's core fallback (action_default_fallback) answered: understood as an
    intent nothing expected there, so the customer was asked to rephrase, as after an nlu_fallback."""
    answered, last_user = set(), None
    for event in session:
        if event.get("event") == "user":
            last_user = event
        elif event.get("event") == "action" and event.get("name") == "action_default_fallback" and last_user:
            answered.add(id(last_user))
    return answered


def signals_from_events(events: Iterable[Dict[str, Any]], matcher: CategoryMatcher,
                        low_confidence_below: float = 0.5,
                        fallback_intents: Iterable[str] = (FALLBACK_INTENT,)) -> Signals:
    """Signals for the policy from the current session's applied events."""
    session = current_session(events)
    s = Signals()
    users = [e for e in session if e.get("event") == "user"]
    s.turns = len(users)
    s.vip_tier = customer_tags(session)["vip_tier"]
    seen_topics: List[str] = []
    sure_topics: set = set()
    fallbacks = set(fallback_intents)
    core_fallback = answered_by_core_fallback(session)
    for event in users:
        parse = event.get("parse_data") or {}
        intent = intent_of(event)
        confidence = float((parse.get("intent") or {}).get("confidence") or 0.0)
        s.latest_intent = intent
        if intent in fallbacks or id(event) in core_fallback:
            s.fallbacks += 1
            s.consecutive_fallbacks += 1
        else:
            s.consecutive_fallbacks = 0
            if confidence < low_confidence_below:
                s.low_confidence += 1
        topic = topic_of(event)
        if topic:
            if topic in seen_topics:
                s.repeated_intent += 1
            else:
                seen_topics.append(topic)
            if topic_is_sure(event):
                sure_topics.add(topic)
        facts = text_facts(event.get("text") or "", matcher)
        s.order_numbers.extend(facts.order_numbers)
        s.error_codes.extend(facts.error_codes)
        for entity in parse.get("entities") or []:
            if entity.get("entity") == "order_number" and entity.get("value"):
                s.order_numbers.append(str(entity["value"]))
        for category, matched in facts.categories:
            s.categories.setdefault(category, matched)
        s.amounts.extend(facts.amounts)
        sentiment = parse.get("sentiment")
        if isinstance(sentiment, Mapping) and "score" in sentiment:
            s.sentiments.append(float(sentiment["score"]))
            s.complaint = float(sentiment.get("complaint") or 0.0)
    s.topics = seen_topics
    s.unsure_topics = [t for t in seen_topics if t not in sure_topics]
    s.order_numbers = list(dict.fromkeys(s.order_numbers))
    s.error_codes = list(dict.fromkeys(s.error_codes))
    s.form_failures = sum(
        1 for e in session
        if e.get("event") == "bot" and str((e.get("metadata") or {}).get("utter_action", "")).startswith("utter_invalid_")
    )
    return s
