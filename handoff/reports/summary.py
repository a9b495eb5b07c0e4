"""The body of GET /v1/reports/summary and of the weekly report (pure): the range's figures, its trends per day
and per week, and a week against the one before.

Ranges are whole days in the business time zone; ``parse_range`` and ``parse_week`` turn the query's text into
one, or raise ReportInvalid (HTTP 422) saying what is wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence
from zoneinfo import ZoneInfo

from handoff.reports import figures as fig
from handoff.reports.rows import Row
from handoff.errors import Invalid
from handoff.stats import iso, percentile, share

MAX_DAYS = 92
WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.ASCII)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
YEARS = (2000, 2100)  # what a report can cover (and what every time zone's arithmetic handles)


class ReportInvalid(Invalid):
    """A report query that cannot be answered as asked (HTTP 422, like every Invalid)."""


@dataclass(frozen=True)
class Range:
    first: date
    last: date  # inclusive
    tz: str

    @property
    def start(self) -> float:
        return datetime.combine(self.first, time(), ZoneInfo(self.tz)).timestamp()

    @property
    def end(self) -> float:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.tz)).timestamp()

    @property
    def dates(self) -> List[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def local_date(self, epoch: float) -> date:
        return datetime.fromtimestamp(epoch, ZoneInfo(self.tz)).date()


def _day(name: str, text: Optional[str]) -> date:
    if not text or not DAY.match(text):
        raise ReportInvalid(f"{name}: a date YYYY-MM-DD, not {text!r}")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ReportInvalid(f"{name}: {text!r} is not a calendar date") from None
    _check_year(name, day)
    return day


def _check_year(name: str, day: date) -> None:
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ReportInvalid(f"{name}: a date from {YEARS[0]} to {YEARS[1]}, not {day.isoformat()}")


def parse_range(first: Optional[str], last: Optional[str], tz: str) -> Range:
    """``from``..``to`` (inclusive, both required), at most MAX_DAYS days."""
    a, b = _day("from", first), _day("to", last)
    if b < a:
        raise ReportInvalid(f"to ({b}) is before from ({a})")
    if (b - a).days + 1 > MAX_DAYS:
        raise ReportInvalid(f"the range has {(b - a).days + 1} days; at most {MAX_DAYS}")
    return Range(a, b, tz)


def parse_week(text: Optional[str], tz: str) -> Range:
    """An ISO week ``YYYY-Www`` (Monday to Sunday)."""
    m = WEEK.match(text or "")
    if not m:
        raise ReportInvalid(f"week: an ISO week YYYY-Www (e.g. 2026-W48), not {text!r}")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ReportInvalid(f"week: {text!r} is not a week of that year") from None
    _check_year("week", monday)
    return Range(monday, monday + timedelta(days=6), tz)


def previous_week(r: Range) -> Range:
    return Range(r.first - timedelta(days=7), r.last - timedelta(days=7), r.tz)


def week_name(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def _period(rows: Sequence[Row], conversations: int) -> Dict[str, Any]:
    contained = fig.containment(rows, conversations, {})
    f = fig.fcr(rows, conversations)
    waits = [r.wait for r in fig.chats(rows) if r.wait is not None]
    return {"conversations": conversations, "handoffs": contained["handoffs"], "tickets": len(fig.tickets(rows)),
            "containment": contained["containment"], "fcr": f["rate"],
            "wait_p50": percentile(waits, 0.5), "breaches": sum(len(r.breaches) for r in rows),
            "unresolved_surveys": sum(1 for r in rows if (r.survey or {}).get("resolved") is False)}


def trends(rows: Sequence[Row], conversations: Mapping[str, int], rng: Range) -> Dict[str, Any]:
    """Per day and per ISO week of the range (business time zone)."""
    by_day: Dict[date, List[Row]] = {d: [] for d in rng.dates}
    for r in rows:
        by_day.setdefault(rng.local_date(r.created_at), []).append(r)
    days = [{"date": d.isoformat(), **_period(by_day[d], conversations.get(d.isoformat(), 0))} for d in rng.dates]
    weeks: Dict[str, List[date]] = {}
    for d in rng.dates:
        weeks.setdefault(week_name(d), []).append(d)
    out_weeks = [{"week": name, "days": len(ds),
                  **_period([r for d in ds for r in by_day[d]], sum(conversations.get(d.isoformat(), 0) for d in ds))}
                 for name, ds in weeks.items()]
    return {"days": days, "weeks": out_weeks}


def summary(rows: Sequence[Row], conversations: Mapping[str, int], topic_conversations: Mapping[str, int],
            rng: Range, threshold: float, topic_counts_known: bool) -> Dict[str, Any]:
    """The whole report of ``rng``. ``rows``: the range's chats and tickets with ``fcr`` marked;
    ``conversations``: the bot's count per date; ``topic_conversations``: per topic over the range."""
    total = sum(conversations.get(d.isoformat(), 0) for d in rng.dates)
    contained = fig.containment(rows, total, topic_conversations if topic_counts_known else {})
    contained["by_topic_counted"] = topic_counts_known
    return {"from": rng.first.isoformat(), "to": rng.last.isoformat(), "timezone": rng.tz,
            "since": iso(rng.start), "until": iso(rng.end),
            "containment": contained, "fcr": fig.fcr(rows, total), "sla": fig.sla(rows),
            "times": fig.times(rows), "reopens": fig.reopens(rows), "teams": fig.teams(rows),
            "top": fig.top_problems(rows, threshold), "heat_map": fig.heat_map(rows, rng.tz),
            "trends": trends(rows, conversations, rng), "satisfaction": fig.satisfaction(rows)}


HEADLINES = (("conversations", ("containment", "conversations")), ("handoffs", ("containment", "handoffs")),
             ("containment", ("containment", "containment")), ("handoff_rate", ("containment", "handoff_rate")),
             ("fcr", ("fcr", "rate")), ("first_response_p50", ("times", "chat", "first_response", "p50")),
             ("first_response_p90", ("times", "chat", "first_response", "p90")),
             ("resolution_p50", ("times", "chat", "resolution", "p50")),
             ("ticket_resolution_p50", ("times", "ticket", "resolution", "p50")),
             ("reopen_rate", ("reopens", "rate")), ("cross_team_seconds", ("teams", "cross_team_seconds")),
             ("satisfaction", ("satisfaction", "average_rating")),
             ("resolved_share", ("satisfaction", "resolved_share")))


def _pick(doc: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = doc
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def compare(this: Mapping[str, Any], before: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The headline figures of two reports and their change (None when either is unknown)."""
    out = []
    for name, path in HEADLINES:
        a, b = _pick(this, path), _pick(before, path)
        change = round(a - b, 4) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        out.append({"name": name, "value": a, "before": b, "change": change})
    return out


def sla_attainment(doc: Mapping[str, Any]) -> Optional[float]:
    cells = doc["sla"]["targets"]
    n = sum(c["records"] for c in cells)
    return share(n - sum(c["breached"] for c in cells), n)
