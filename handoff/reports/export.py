"""The rows as CSV (GET /v1/reports/export.csv): one line per chat or per ticket, the columns of docs/reports.md.

Safe to open in a spreadsheet: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
(a formula to Excel, LibreOffice and Google Sheets) gets a leading apostrophe, so customer text is never run
as a formula; negative numbers never occur (durations are clipped at 0).
"""
from __future__ import annotations

import csv
import io
from typing import Any, Callable, Dict, List, Sequence, Tuple

from handoff.reports.rows import Row
from handoff.stats import iso

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe(value: Any) -> str:
    """The cell's text, with an apostrophe before a formula-like start."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def _survey(r: Row, key: str) -> Any:
    if r.survey is None:
        return ""
    value = r.survey.get(key)
    return _flag(value) if isinstance(value, bool) else value


COMMON: List[Tuple[str, Callable[[Row], Any]]] = [
    ("created_at", lambda r: iso(r.created_at)), ("group", lambda r: r.group), ("priority", lambda r: r.priority),
    ("priority_band", lambda r: r.band), ("status", lambda r: r.status), ("agent", lambda r: r.agent or ""),
    ("topic", lambda r: r.topic), ("reasons", lambda r: ";".join(r.reasons)),
    ("first_response_seconds", lambda r: r.first_response), ("resolution_seconds", lambda r: r.resolution),
    ("solved", lambda r: _flag(r.solved)), ("first_contact_resolution", lambda r: _flag(r.fcr)),
    ("sla_breaches", lambda r: ";".join(r.breaches)), ("sla_warnings", lambda r: ";".join(r.warnings)),
    ("survey_resolved", lambda r: _survey(r, "resolved")), ("survey_rating", lambda r: _survey(r, "rating")),
    ("survey_comment", lambda r: _survey(r, "comment") or ""),
]
COLUMNS: Dict[str, List[Tuple[str, Callable[[Row], Any]]]] = {
    "chats": [("id", lambda r: r.id), ("conversation_id", lambda r: r.ref), *COMMON[:6],
              ("wait_seconds", lambda r: r.wait), *COMMON[6:], ("tickets", lambda r: ";".join(r.linked))],
    "tickets": [("id", lambda r: r.id), ("label", lambda r: r.ref), ("source", lambda r: r.source),
                ("owner_group", lambda r: r.owner_group), *COMMON, ("reopened", lambda r: r.reopened),
                ("team_seconds", lambda r: ";".join(f"{g}={s}" for g, s in sorted(r.teams.items()))),
                ("cross_team_seconds", lambda r: r.cross_team_seconds), ("chats", lambda r: ";".join(r.linked))],
}
KINDS = {"chats": "chat", "tickets": "ticket"}


def to_csv(rows: Sequence[Row], kind: str) -> str:
    """``kind`` "chats" or "tickets": a header line, then the rows of that kind oldest first."""
    columns = COLUMNS[kind]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in columns])
    for r in sorted((r for r in rows if r.kind == KINDS[kind]), key=lambda r: (r.created_at, r.id)):
        writer.writerow([safe(get(r)) for _, get in columns])
    return out.getvalue()
