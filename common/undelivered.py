"""What could not be delivered to the handoff service and waits for a person: one Redis list,
``shop:handoff:undelivered``, shared by the action server (a request the service refused at once) and the Rasa
server's bridge (an outbox item the service refused later). Each entry is a JSON object:

``{"kind": "handoff"|"survey", "conversation_id"?, "escalation"?, "status": HTTP status or null, "error": text,
"attempts": n, "at": ISO time, "item": the request or survey item exactly as it was to be sent}``

``python -m bot.undelivered list|replay`` shows them and moves them back to their outbox after a fix; the
handoff service shows them to supervisors (``GET /v1/undelivered``). Pure helpers; no I/O here.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, Optional

UNDELIVERED = "shop:handoff:undelivered"
OUTBOXES = {"handoff": "shop:handoff:outbox", "survey": "shop:handoff:surveys"}  # where a replay puts each kind


def parked(kind: str, item: Dict[str, Any], status: Optional[int], error: str, attempts: int = 1,
           now: Optional[float] = None) -> Dict[str, Any]:
    """The dead-letter entry for `item` (a handoff request or a survey outbox item)."""
    if kind not in OUTBOXES:
        raise ValueError(f"unknown kind of undelivered item: {kind!r}")
    moment = datetime.fromtimestamp(now, timezone.utc) if now is not None else datetime.now(timezone.utc)
    entry: Dict[str, Any] = {"kind": kind, "status": status, "error": error[:500], "attempts": attempts,
                             "at": moment.isoformat(timespec="seconds").replace("+00:00", "Z"), "item": item}
    if kind == "handoff":
        entry["conversation_id"] = item.get("conversation_id")
    else:
        entry["escalation"] = item.get("escalation")
    return entry


def describe(raw: str) -> Dict[str, Any]:
    """An entry as stored, without its item (what a supervisor's list shows); a broken entry says so."""
    try:
        entry = json.loads(raw)
        return {k: v for k, v in entry.items() if k != "item"}
    except (ValueError, AttributeError):
        return {"kind": "unreadable", "error": raw[:200]}
