"""What could not be delivered to the handoff service and waits for a person: one Redis list,
``{shop}:handoff:undelivered``, shared by the action server (a request the service refused at once) and the Rasa
server's bridge (an outbox item the service refused later). Each entry is a JSON object:

``{"kind": "handoff"|"survey"|"ticket_message", "conversation_id"?, "escalation"?, "status": HTTP status or null, "error": text,
"attempts": n, "at": ISO time, "item": the request or survey item exactly as it was to be sent}``

The bridge parks an event of the service's stream it failed HANDOFF_EVENT_TRIES times to handle (an agent's
message whose push kept failing...) in a second list, ``{shop}:handoff:dead_events`` (bot/bridge/stream.py):
``{"id": its stream id, "event": the event, "error", "tries", "at": Unix time}``.

``python -m bot.undelivered list|replay`` shows both and, after a fix, moves a request back to its outbox and an
event back to the stream (``replayed``); the handoff service shows both to supervisors (``GET /v1/undelivered``,
``describe`` / ``describe_dead``: never a request body or a message's text). Pure helpers; no I/O here.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, Optional

UNDELIVERED = "{shop}:handoff:undelivered"
OUTBOXES = {"handoff": "{shop}:handoff:outbox", "survey": "{shop}:handoff:surveys",
            "ticket_message": "{shop}:tickets:outbox"}  # where a replay puts each kind
DEAD_EVENTS = "{shop}:handoff:dead_events"  # events the bridge gave up on (bot/bridge/stream.py)
REPLAY_OF = "replay_of"  # stream field of a replayed event: its first id, which its message ids are made of


def parked(kind: str, item: Dict[str, Any], status: Optional[int], error: str, attempts: int = 1,
           now: Optional[float] = None) -> Dict[str, Any]:
    """The dead-letter entry for `item` (a handoff request or a survey outbox item)."""
    if kind not in OUTBOXES:
        raise ValueError(f"unknown kind of undelivered item: {kind!r}")
    moment = datetime.fromtimestamp(now, timezone.utc) if now is not None else datetime.now(timezone.utc)
    entry: Dict[str, Any] = {"kind": kind, "status": status, "error": error[:500], "attempts": attempts,
                             "at": moment.isoformat(timespec="seconds").replace("+00:00", "Z"), "item": item}
    if kind in ("handoff", "ticket_message"):
        entry["conversation_id"] = item.get("conversation_id")
    elif item.get("ticket"):  # a ticket's survey
        entry["ticket"] = item["ticket"]
    else:
        entry["escalation"] = item.get("escalation")
    return entry


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def describe(raw: str) -> Dict[str, Any]:
    """An entry as stored, without its item (what a supervisor's list shows); a broken entry says so."""
    try:
        entry = json.loads(raw)
        return {k: v for k, v in entry.items() if k != "item"}
    except (ValueError, AttributeError):
        return {"kind": "unreadable", "error": raw[:200]}


def describe_dead(raw: str) -> Dict[str, Any]:
    """A parked event as a supervisor's list shows it (kind "event"): which event of which conversation, why and
    when, never its content (an agent's text); a broken record says so."""
    try:
        record = json.loads(raw)
        event = record.get("event") if isinstance(record.get("event"), dict) else {}
        at = record.get("at")
        out: Dict[str, Any] = {"kind": "event", "id": str(record["id"]), "event": event.get("type"),
                               "conversation_id": event.get("conversation_id"), "escalation": event.get("escalation"),
                               "error": str(record.get("error") or "")[:500], "attempts": int(record.get("tries") or 0)}
        if isinstance(at, (int, float)) and not isinstance(at, bool):
            out["at"] = iso(float(at))
        return out
    except (ValueError, AttributeError, KeyError, TypeError, OverflowError, OSError):
        return {"kind": "unreadable", "error": raw[:200]}


def replayed(record: Dict[str, Any]) -> Dict[str, str]:
    """The stream fields that hand a parked event to the bridge again: the event, addressed to no agent (the team
    saw it already), with the id it was first written under (``REPLAY_OF``), so that its message ids stay the
    same and a customer who got it after all drops the repeat. ValueError for a record with no event in it."""
    if not isinstance(record.get("event"), dict) or not record.get("id"):
        raise ValueError("a parked event with no event in it (not a JSON object) cannot be replayed")
    return {"to": "", "e": json.dumps(record["event"]), REPLAY_OF: str(record["id"])}
