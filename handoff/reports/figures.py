"""The report's figures, each a pure function over rows (handoff/reports/rows.py) and the bot's counts.

Definitions: the package docstring (handoff/reports/__init__.py) and docs/reports.md. Shares are in [0, 1]
rounded to 4 places, None when there is nothing to divide by; durations in seconds (0.1 s).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence
from zoneinfo import ZoneInfo

from handoff.reports.rows import Row
from handoff.stats import percentile, share

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TARGETS = ("first_response", "next_response", "resolution")
TOP = 10


def chats(rows: Iterable[Row]) -> List[Row]:
    return [r for r in rows if r.kind == "chat"]


def tickets(rows: Iterable[Row]) -> List[Row]:
    return [r for r in rows if r.kind == "ticket"]


def human_contacts(rows: Iterable[Row]) -> List[Row]:
    """Chats, and tickets from other channels (a ticket born from a chat is that chat's follow-up)."""
    return [r for r in rows if r.kind == "chat" or r.source == "api"]


def containment(rows: Sequence[Row], conversations: int, topic_conversations: Mapping[str, int]) -> Dict[str, Any]:
    """Bot containment and handoff rate, overall and per topic (topics the bot counted or people handled)."""
    handoffs = chats(rows)
    per_topic = Counter(r.topic for r in handoffs)
    by_topic = []
    for topic in sorted(set(per_topic) | set(topic_conversations), key=lambda t: (-per_topic.get(t, 0), t)):
        counted = topic_conversations.get(topic)
        by_topic.append({"topic": topic, "conversations": counted, "handoffs": per_topic.get(topic, 0),
                         "handoff_rate": share(per_topic.get(topic, 0), counted or 0),
                         "containment": _contained(counted, per_topic.get(topic, 0))})
    return {"conversations": conversations, "handoffs": len(handoffs),
            "handoff_rate": share(len(handoffs), conversations),
            "containment": _contained(conversations, len(handoffs)), "by_topic": by_topic}


def _contained(conversations: Optional[int], handoffs: int) -> Optional[float]:
    if not conversations:
        return None
    return share(max(0, conversations - handoffs), conversations)


def fcr(rows: Sequence[Row], conversations: int) -> Dict[str, Any]:
    """First-contact resolution across the bot and people (``Row.fcr`` set by rows.mark_fcr)."""
    contacts = human_contacts(rows)
    api_tickets = [r for r in contacts if r.kind == "ticket"]
    bot_contained = max(0, conversations - len(chats(rows)))
    human = sum(1 for r in contacts if r.fcr)
    problems = conversations + len(api_tickets)
    return {"rate": share(bot_contained + human, problems), "problems": problems, "bot_contained": bot_contained,
            "human_contacts": len(contacts), "human_first_contact": human,
            "human_rate": share(human, len(contacts))}


def sla(rows: Sequence[Row]) -> Dict[str, Any]:
    """Attainment per (kind, group, priority band, target) and per target overall."""
    cells: Dict[tuple, List[int]] = defaultdict(lambda: [0, 0])
    overall: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        for target in r.targets:
            breached = int(target in r.breaches)
            for counts in (cells[(r.kind, r.group, r.band, target)], overall[target]):
                counts[0] += 1
                counts[1] += breached
    rows_out = [{"kind": k, "group": g, "band": b, "target": t, "records": n, "breached": x,
                 "attainment": share(n - x, n)} for (k, g, b, t), (n, x) in sorted(cells.items())]
    return {"cells": rows_out,
            "targets": [{"target": t, "records": n, "breached": x, "attainment": share(n - x, n)}
                        for t, (n, x) in sorted(overall.items(), key=lambda kv: TARGETS.index(kv[0])
                                                if kv[0] in TARGETS else 99)]}


def _spread(values: Sequence[Optional[float]]) -> Dict[str, Any]:
    known = [v for v in values if v is not None]
    return {"count": len(known), "p50": percentile(known, 0.5), "p90": percentile(known, 0.9)}


def times(rows: Sequence[Row]) -> Dict[str, Any]:
    """First response and resolution p50/p90 for chats and tickets, and the chats' wait."""
    c, t = chats(rows), tickets(rows)
    return {"chat": {"wait": _spread([r.wait for r in c]), "first_response": _spread([r.first_response for r in c]),
                     "resolution": _spread([r.resolution for r in c])},
            "ticket": {"first_response": _spread([r.first_response for r in t]),
                       "resolution": _spread([r.resolution for r in t])}}


def reopens(rows: Sequence[Row]) -> Dict[str, Any]:
    solved = [r for r in tickets(rows) if r.solved_once]
    reopened = sum(1 for r in solved if r.reopened)
    return {"solved": len(solved), "reopened": reopened, "rate": share(reopened, len(solved))}


def teams(rows: Sequence[Row]) -> Dict[str, Any]:
    """Time per team in ticket flows, and the cross-team part (outside the owner team)."""
    seconds: Dict[str, float] = defaultdict(float)
    count: Counter = Counter()
    for r in tickets(rows):
        for group, s in r.teams.items():
            seconds[group] += s
            count[group] += 1
    moved = [r for r in tickets(rows) if any(g != r.owner_group for g in r.teams)]
    return {"per_team": [{"group": g, "seconds": round(s, 1), "tickets": count[g]}
                         for g, s in sorted(seconds.items(), key=lambda kv: (-kv[1], kv[0]))],
            "tickets": len(tickets(rows)), "tickets_moved": len(moved),
            "cross_team_seconds": round(sum(r.cross_team_seconds for r in moved), 1)}


def _ranked(rows: Sequence[Row], names: Callable[[Row], Iterable[str]], threshold: float) -> List[Dict[str, Any]]:
    seen: Counter = Counter()
    solved: Counter = Counter()
    for r in rows:
        for name in dict.fromkeys(names(r)):
            seen[name] += 1
            solved[name] += int(r.solved)
    out = []
    for name, n in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]:
        rate = share(solved[name], n)
        out.append({"name": name, "count": n, "solved": solved[name], "solve_rate": rate,
                    "flagged": rate is not None and rate < threshold})
    return out


def top_problems(rows: Sequence[Row], threshold: float) -> Dict[str, Any]:
    """The 10 most frequent topics and handoff reasons of human contacts, with solve rates; below ``threshold``
    flagged."""
    contacts = human_contacts(rows)
    return {"threshold": threshold, "topics": _ranked(contacts, lambda r: [r.topic], threshold),
            "reasons": _ranked(contacts, lambda r: r.reasons, threshold)}


def heat_map(rows: Sequence[Row], tz: str) -> Dict[str, Any]:
    """Day-of-week x hour (business time zone): chats created and their median wait."""
    zone = ZoneInfo(tz)
    cells: List[List[List[float]]] = [[[] for _ in range(24)] for _ in range(7)]
    volume = [[0] * 24 for _ in range(7)]
    for r in chats(rows):
        local = datetime.fromtimestamp(r.created_at, zone)
        volume[local.weekday()][local.hour] += 1
        if r.wait is not None:
            cells[local.weekday()][local.hour].append(r.wait)
    return {"timezone": tz, "days": list(DAYS), "volume": volume,
            "wait_p50": [[percentile(c, 0.5) for c in day] for day in cells]}


def satisfaction(rows: Sequence[Row]) -> Dict[str, Any]:
    """Per group and per agent: responses, average rating, resolved share; the "not solved" answers."""
    answered = [r for r in rows if r.survey is not None]

    def per(key: Callable[[Row], Optional[str]]) -> List[Dict[str, Any]]:
        groups: Dict[str, List[Row]] = defaultdict(list)
        for r in answered:
            groups[key(r) or "-"].append(r)
        return [{"name": name, **_survey_figures(rs)} for name, rs in sorted(groups.items())]

    unresolved = [{"kind": r.kind, "id": r.id, "ref": r.ref, "group": r.group, "agent": r.agent,
                   "topic": r.topic, "rating": (r.survey or {}).get("rating"),
                   "comment": (r.survey or {}).get("comment", ""), "at": (r.survey or {}).get("at")}
                  for r in sorted(answered, key=lambda r: r.created_at) if (r.survey or {}).get("resolved") is False]
    return {**_survey_figures(answered), "groups": per(lambda r: r.group), "agents": per(lambda r: r.agent),
            "unresolved": unresolved}


def _survey_figures(rows: Sequence[Row]) -> Dict[str, Any]:
    ratings = [r.survey["rating"] for r in rows if r.survey and r.survey.get("rating") is not None]
    return {"responses": len(rows), "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "resolved_share": share(sum(1 for r in rows if (r.survey or {}).get("resolved")), len(rows))}
