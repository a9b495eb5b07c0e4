"""Customer text is only text: a typed ``/intent{...}`` forces nothing; a button the bot offered still works.

Rasa reads a message that starts with ``/`` as ``/intent{"entity": value}`` and takes that intent at
confidence 1.0 with those entities (its RegexMessageHandler), any intent included: internal ones
(``EXTERNAL_handoff_closed``) and ones whose entities a customer must not set. A channel therefore lets a
message starting with ``/`` through unchanged only when it is exactly the payload of a button the bot sent
since the customer's previous message (the survey's Yes/No/Skip, "Talk to a person"), read from the
conversation's tracker. Anything else gets a WORD JOINER (U+2060, invisible, not whitespace, so Rasa's
``strip()`` keeps it) in front: Rasa's check for ``/`` at the start fails and the NLU model reads the
message as the text it is; the tracker, the agent and the transcript show the same characters.

The handoff bridge's own triggers (``EXTERNAL_*`` intents) go straight to Rasa's processor, not through a
channel, and are not affected.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Optional, Set

from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.events import BotUttered, UserUttered

logger = logging.getLogger(__name__)
NEUTRALISER = "\u2060"  # WORD JOINER
EXTERNAL_PREFIX = "EXTERNAL: "  # the text of a user event Rasa records for an intent triggered from outside


def offered_payloads(events: Iterable[Any]) -> Set[str]:
    """Payloads of the buttons in the bot's messages since the customer's latest message (Rasa events)."""
    offered: Set[str] = set()
    for event in reversed(list(events)):
        if isinstance(event, UserUttered) and not (event.text or "").startswith(EXTERNAL_PREFIX):
            break
        if isinstance(event, BotUttered):
            for button in (event.data or {}).get("buttons") or []:
                payload = button.get("payload") if isinstance(button, dict) else None
                if isinstance(payload, str):
                    offered.add(payload)
    return offered


def as_customer_text(text: str, offered: Set[str]) -> str:
    """`text` as Rasa must read it: unchanged unless it would be taken as an intent the bot did not offer."""
    if not text.lstrip().startswith(INTENT_MESSAGE_PREFIX) or text.strip() in offered:
        return text
    return NEUTRALISER + text


async def checked_text(app: Any, conversation: str, text: str) -> str:
    """What the channel passes on for `text` in `conversation`, checked against the conversation's tracker
    (only read for a message that starts with ``/``)."""
    if not text.lstrip().startswith(INTENT_MESSAGE_PREFIX):
        return text
    offered: Set[str] = set()
    agent: Optional[Any] = getattr(getattr(app, "ctx", None), "agent", None) if app is not None else None
    store = getattr(agent, "tracker_store", None)
    if store is not None:
        tracker = await store.retrieve(conversation)
        if tracker is not None:
            offered = offered_payloads(tracker.events)
    checked = as_customer_text(text, offered)
    if checked != text:
        logger.info("typed intent syntax in %s read as text", conversation)
    return checked
