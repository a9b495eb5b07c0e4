"""The supervisor's day in numbers (``GET /v1/stats/today``), computed from escalations.

Pure functions over :class:`Escalation` objects, so they are tested without a store: the service
reads the escalations created in the window (the store's creation-time index), the open ones (the
open index) and the messages of the assigned ones, and hands them here.

Definitions (the README and the OpenAPI document say the same):
- the window is the current UTC hour and the 23 before it (between 23 and 24 hours: the 24 hourly
  buckets cover it exactly);
- wait = creation to the first assignment (from the history); chats never assigned have no wait;
- first-contact resolution = among closed chats, the share resolved (``outcome.resolved``) by the
  one agent who took the chat: no transfer by an agent or supervisor and assigned only once, and not
  contradicted by the customer: a chat whose satisfaction survey says "not solved" (``outcome.survey.
  resolved`` false, which is also what opens its follow-up ticket, or "I need more help") is not resolved
  at first contact (handoff/surveys.py);
- SLA = time to a person's first reply: since creation for a chat waiting or offered; since the
  current agent accepted it, to their first message (or to now while they have not written), for
  an assigned one. At or past the target it is breaching, from 80 % of it near.
"""
from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from handoff.store import Escalation, Status

HOUR = 3600
NEAR = 0.8  # share of the SLA target from which an open chat is "near"
TOP = 10


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def window_start(now: float) -> float:
    """The start of the UTC hour 23 hours before the current one."""
    return math.floor(now / HOUR) * HOUR - 23 * HOUR


def day_keys(prefix: str, now: float) -> List[str]:
    """The bot's conversation HyperLogLogs for the window: today's and yesterday's UTC day (so the count
    covers up to 48 h, a slight over-count of the window's conversations; the rate errs low, never high)."""
    today = datetime.fromtimestamp(now, timezone.utc).date()
    return [f"{prefix}{(today - timedelta(days=1)).isoformat()}", f"{prefix}{today.isoformat()}"]


def facets_of(request: Mapping[str, Any], conversation_id: str) -> Dict[str, Any]:
    """What the statistics and the customer index need from a handoff request."""
    customer_id = (request.get("customer") or {}).get("id")
    return {"customer": f"id:{customer_id}" if customer_id else f"conv:{conversation_id}",
            "triggers": list(dict.fromkeys(t["name"] for t in (request.get("decision") or {}).get("triggers", []))),
            "topics": list(dict.fromkeys((request.get("case_brief") or {}).get("topics", [])))}


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Linear interpolation between closest ranks (numpy's default), to 0.1 s; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    value = ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    return round(value, 1)


def first_assigned(e: Escalation) -> Optional[float]:
    return next((h["at"] for h in e.history if h["status"] == Status.ASSIGNED.value), None)


def last_assigned(e: Escalation) -> Optional[float]:
    return next((h["at"] for h in reversed(e.history) if h["status"] == Status.ASSIGNED.value), None)


def wait(e: Escalation) -> Optional[float]:
    at = first_assigned(e)
    return max(0.0, at - e.created_at) if at is not None else None


def transferred(e: Escalation) -> bool:
    assignments = sum(1 for h in e.history if h["status"] == Status.ASSIGNED.value)
    return assignments > 1 or any(str(h.get("detail") or "").startswith("transfer by ") for h in e.history)


def survey_says_unsolved(e: Escalation) -> bool:
    """The customer answered the survey "not solved" (a follow-up ticket) or "I need more help"."""
    survey = e.outcome.get("survey")
    return isinstance(survey, dict) and survey.get("resolved") is False


def first_contact_resolved(e: Escalation) -> bool:
    """A closed chat the agent resolved, alone, and the customer did not say otherwise."""
    return e.outcome.get("resolved") is True and not transferred(e) and not survey_says_unsolved(e)


def share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def top(counter: Counter) -> List[Dict[str, Any]]:
    return [{"name": name, "count": count}
            for name, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]


def satisfaction(escalations: Iterable[Escalation]) -> Dict[str, Any]:
    surveys = [e.outcome["survey"] for e in escalations if isinstance(e.outcome.get("survey"), dict)]
    ratings = [s["rating"] for s in surveys if s.get("rating") is not None]
    return {"responses": len(surveys),
            "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "resolved_share": share(sum(1 for s in surveys if s.get("resolved")), len(surveys))}


def hourly(escalations: Sequence[Escalation], since: float) -> List[Dict[str, Any]]:
    buckets: List[List[Escalation]] = [[] for _ in range(24)]
    for e in escalations:
        index = int((e.created_at - since) // HOUR)
        if 0 <= index < 24:
            buckets[index].append(e)
    return [{"hour": iso(since + i * HOUR), "handoffs": len(bucket),
             "wait_p50_seconds": percentile([w for w in map(wait, bucket) if w is not None], 0.5)}
            for i, bucket in enumerate(buckets)]


def sla_item(e: Escalation, messages: Sequence[Mapping[str, Any]], now: float) -> Dict[str, Any]:
    """An open chat's SLA clock: waiting_seconds (waiting, offered) or first_response_seconds (assigned)."""
    item = {"id": e.id, "conversation_id": e.conversation_id, "skill_group": e.skill_group,
            "status": e.status.value, "agent_id": e.agent_id, "waiting_seconds": None,
            "first_response_seconds": None}
    if e.status == Status.ASSIGNED:
        since = last_assigned(e) or e.created_at
        reply = next((m["at"] for m in messages
                      if m.get("speaker") == "agent" and m.get("author") == e.agent_id and m["at"] >= since), None)
        item["first_response_seconds"] = round(max(0.0, (reply if reply is not None else now) - since), 1)
    else:
        item["waiting_seconds"] = round(max(0.0, now - e.created_at), 1)
    return item


def sla(open_chats: Sequence[Escalation], messages: Mapping[str, Sequence[Mapping[str, Any]]], now: float,
        target: float) -> Dict[str, Any]:
    breaching, near = [], []
    for e in open_chats:
        if e.status not in (Status.WAITING, Status.OFFERED, Status.ASSIGNED):
            continue  # it ended between reading the index and reading the chat
        item = sla_item(e, messages.get(e.id, ()), now)
        clock = item["first_response_seconds"] if item["waiting_seconds"] is None else item["waiting_seconds"]
        if clock >= target:
            breaching.append((clock, item))
        elif clock >= NEAR * target:
            near.append((clock, item))
    longest = lambda pair: (-pair[0], pair[1]["id"])  # noqa: E731
    return {"first_response_target_seconds": target,
            "breaching": [item for _, item in sorted(breaching, key=longest)],
            "near": [item for _, item in sorted(near, key=longest)]}


def today(escalations: Sequence[Escalation], open_chats: Sequence[Escalation],
          messages: Mapping[str, Sequence[Mapping[str, Any]]], conversations: int, now: float,
          target: float) -> Dict[str, Any]:
    """The body of GET /v1/stats/today. ``escalations``: those created since ``window_start(now)``, each
    with its facets (see facets_of)."""
    since = window_start(now)
    recent = [e for e in escalations if e.created_at >= since]
    waits = [w for w in map(wait, recent) if w is not None]
    closed = [e for e in recent if e.status == Status.CLOSED]
    first_contact = sum(1 for e in closed if first_contact_resolved(e))
    outcomes = Counter(e.status.value for e in recent)
    return {
        "since": iso(since),
        "handoffs": len(recent),
        "conversations": conversations,
        "handoff_rate": share(len(recent), conversations),
        "wait_p50_seconds": percentile(waits, 0.5),
        "wait_p90_seconds": percentile(waits, 0.9),
        "first_contact_resolution": share(first_contact, len(closed)),
        "satisfaction": satisfaction(recent),
        "top_reasons": top(Counter(t for e in recent for t in e.facets.get("triggers", []))),
        "top_topics": top(Counter(t for e in recent for t in e.facets.get("topics", []))),
        "hourly": hourly(recent, since),
        "outcomes": {s.value: outcomes.get(s.value, 0) for s in Status},
        "sla": sla(open_chats, messages, now, target),
    }
