"""Reading a range's records for the reports: the only I/O of handoff/reports/.

What it reads, all through the store's interfaces (no key scans): escalations by the creation-time index
(``created_since``), tickets by the ``all`` index (scored by creation time), each record's clock log
(``clock_log``), each chat's messages (its first agent message), each ticket's timeline, and the bot's
HyperLogLog counts per day (``<conversations_key><YYYY-MM-DD>``) and per day and topic
(``<topic_key><YYYY-MM-DD>:<topic>``, written by the bot's channel next to the daily count).

Records created up to 7 days after the range are read too (not reported): they decide whether a contact in
the range had a follow-up on the same topic (first-contact resolution).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

from handoff.reports.rows import FOLLOW_UP_SECONDS, Row, chat_row, mark_fcr, ticket_row
from handoff.reports.summary import Range

TOPIC_KEY = "{shop}:stats:topic:"  # + YYYY-MM-DD:<topic>: the bot's per-topic conversation HyperLogLogs
CHUNK = 500
MAX_TICKETS = 200_000


@dataclass
class Records:
    rows: List[Row]  # the range's chats and tickets, fcr marked
    conversations: Dict[str, int]  # the bot's count per date of the range
    topic_conversations: Dict[str, int]  # per topic, summed over the range's dates
    topics_counted: bool  # whether the bot counted topics at all in the range


async def _escalations(store: Any, start: float, until: float) -> List[Any]:
    ids = await store.created_since(start)
    out: List[Any] = []
    for i in range(0, len(ids), CHUNK):
        out += [e for e in await store.get_many(ids[i:i + CHUNK]) if start <= e.created_at < until]
    return out


async def _tickets(store: Any, start: float, until: float) -> List[Any]:
    ids = await store.index("all", MAX_TICKETS, min_score=start, max_score=until)
    out: List[Any] = []
    for i in range(0, len(ids), CHUNK):
        out += [t for t in await store.tickets(ids[i:i + CHUNK]) if start <= t.created_at < until]
    return out


async def rows_of(store: Any, start: float, end: float, now: float) -> List[Row]:
    """Rows of the chats and tickets created in [start, end), with fcr marked (looking 7 days past ``end``)."""
    until = end + FOLLOW_UP_SECONDS
    escalations = await _escalations(store, start, until)
    tickets = await _tickets(store, start, until)
    chat_tickets: Dict[str, List[str]] = {}
    for t in tickets:
        for eid in t.escalations:
            chat_tickets.setdefault(eid, []).append(t.id)
    rows: List[Row] = []
    later: List[Row] = []
    for e in escalations:
        inside = e.created_at < end
        row = chat_row(e, await store.messages(e.id) if inside else [],
                       await store.clock_log(f"chat:{e.id}") if inside else [], chat_tickets.get(e.id, ()))
        (rows if inside else later).append(row)
    for t in tickets:
        inside = t.created_at < end
        row = ticket_row(t, await store.timeline(t.id) if inside else [],
                         await store.clock_log(f"ticket:{t.id}") if inside else [], now)
        (rows if inside else later).append(row)
    mark_fcr(rows, later)
    return rows


async def bot_counts(store: Any, rng: Range, conversations_key: str, topics: Sequence[str],
                     topic_key: str = TOPIC_KEY) -> tuple:
    """(count per date, count per topic over the range, whether any topic was counted)."""
    per_day = {d.isoformat(): await store.count_conversations([f"{conversations_key}{d.isoformat()}"])
               for d in rng.dates}
    per_topic: Dict[str, int] = {}
    for topic in topics:
        per_topic[topic] = sum([await store.count_conversations([f"{topic_key}{d.isoformat()}:{topic}"])
                                for d in rng.dates])
    return per_day, per_topic, any(per_topic.values())


async def read(store: Any, rng: Range, conversations_key: str, now: float, topic_key: str = TOPIC_KEY) -> Records:
    rows = await rows_of(store, rng.start, rng.end, now)
    topics = sorted({r.topic for r in rows if r.kind == "chat"})
    per_day, per_topic, counted = await bot_counts(store, rng, conversations_key, topics, topic_key)
    return Records(rows, per_day, per_topic, counted)
