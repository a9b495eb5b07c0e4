"""Reading the conversation so far: pure functions over the tracker's events (plain dicts)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

FOLLOWUP_INTENTS = frozenset({"ask_how_long", "ask_if_delayed", "ask_who_pays", "ask_after_shipped", "ask_cost"})
FAQ_INTENT = "faq"


EXTERNAL_PREFIX = "EXTERNAL: "  # Rasa's text for an intent triggered from outside (rasa.shared.core.events)


def is_external(event: Dict[str, Any]) -> bool:
    """A "user" event the customer did not write: an intent triggered by the handoff bridge (a chat closed)."""
    return event.get("event") == "user" and str(event.get("text") or "").startswith(EXTERNAL_PREFIX)


def customer_events(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The events without the externally triggered intents: they are neither messages nor scored."""
    return [e for e in events if not is_external(e)]


def user_events(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [e for e in events if e.get("event") == "user"]


def intent_of(event: Dict[str, Any]) -> Optional[str]:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")


def faq_topic_of(event: Dict[str, Any]) -> Optional[str]:
    """The FAQ topic a user event asked about ("change_address"), from the response selector's choice."""
    parse = event.get("parse_data") or {}
    intent = intent_of(event) or ""
    if intent.startswith(FAQ_INTENT + "/"):
        return intent.split("/", 1)[1]
    if intent != FAQ_INTENT:
        return None
    selected = ((parse.get("response_selector") or {}).get(FAQ_INTENT) or {}).get("response") or {}
    key = selected.get("intent_response_key") or ""
    return key.split("/", 1)[1] if "/" in key else None


def topic_in_context(events: Iterable[Dict[str, Any]]) -> Optional[str]:
    """The FAQ topic a follow-up question refers to.

    Looks back from the latest user message over earlier follow-ups ("how long?" then "and if it
    shipped?") to the first other message; that message's FAQ topic, or None if it was not an FAQ.
    """
    earlier = user_events(events)[:-1]
    for event in reversed(earlier):
        if intent_of(event) in FOLLOWUP_INTENTS:
            continue
        return faq_topic_of(event)
    return None


def followup_response(topic: Optional[str], followup_intent: Optional[str], responses: Iterable[str]) -> str:
    """`utter_followup_<topic>_<kind>` when the domain has it, else `utter_followup_unknown`."""
    if topic and followup_intent in FOLLOWUP_INTENTS:
        name = f"utter_followup_{topic}_{followup_intent[len('ask_'):]}"
        if name in set(responses):
            return name
    return "utter_followup_unknown"


def consecutive_fallbacks(events: Iterable[Dict[str, Any]]) -> int:
    """How many of the latest user messages in a row NLU could not understand (nlu_fallback)."""
    count = 0
    for event in reversed(user_events(events)):
        if intent_of(event) != "nlu_fallback":
            break
        count += 1
    return count
