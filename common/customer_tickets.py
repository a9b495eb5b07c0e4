"""Tickets as the customer hears of them: pure helpers shared by the action server (actions/tickets.py,
actions/handoff.py) and the Rasa server's bridge (bot/bridge/tickets.py). No I/O, no wording: these pick the
domain's responses and the values they are filled with.

- ``ticket_values`` reads a ticket as the handoff service sends it (``label``, ``due_local``, ``timezone``; an older
  service only ``reply_by``, an ISO time in UTC) and ``ticket_response`` names the response that fits what it has.
- ``ticket_number_in`` finds a ticket number in what the customer wrote ("T-10042", "t10042", "工单 T-10042",
  "ticket 10042"); ``label`` writes one the way the service does ("T-10042").
- ``status_response`` maps a ticket's state to the response that says it in the customer's words.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

# "T-10042", "t10042", "T 10042" (not inside a word or a longer number); Chinese text has no spaces, so no \b.
TICKET_NUMBER = re.compile(r"(?<![A-Za-z0-9])[Tt][- ]?(\d{4,9})(?!\d)")
# "ticket 10042", "case #10042", "工单10042", "工单号：10042": a bare number only after a word that says ticket.
NAMED_NUMBER = re.compile(r"(?:ticket|case|工单号?|单号)\s*(?:no\.?|number|#|：|:)?\s*#?(\d{4,9})(?!\d)", re.IGNORECASE)

TICKET_RESPONSE = "utter_handoff_ticket"  # with {ticket_label}, {due_local}, {timezone}
TICKET_UNDATED_RESPONSE = "utter_handoff_ticket_undated"  # with {ticket_label}: the ticket has no answer time
TICKET_REPLY_BY_RESPONSE = "utter_handoff_ticket_reply_by"  # an older service: {reply_by} only
STATE_RESPONSES = {"new": "utter_ticket_status_open", "open": "utter_ticket_status_open",
                   "pending": "utter_ticket_status_pending", "on_hold": "utter_ticket_status_on_hold",
                   "solved": "utter_ticket_status_solved", "closed": "utter_ticket_status_closed"}
UNKNOWN_STATE_RESPONSE = "utter_ticket_status_open"  # a state added later is still "being worked on"
MAX_TOLD = 3  # the customer hears of at most this many tickets at once (newest first)


def label(number: int) -> str:
    """The ticket's number as the customer sees it: 10042 -> "T-10042"."""
    return f"T-{number}"


def ticket_number_in(text: Any) -> Optional[int]:
    """The first ticket number in a message or an entity value (None: none). "T-10042", "t10042", "工单 T-10042",
    "ticket 10042" and "工单10042" all give 10042; an order number such as "10234567" alone gives None."""
    if not isinstance(text, str):
        return None
    found = TICKET_NUMBER.search(text) or NAMED_NUMBER.search(text)
    return int(found.group(1)) if found else None


def is_ticket_label(text: str) -> bool:
    """Whether a token is one of our ticket numbers ("T-10042", "t10042"), not a device's error code: the scores
    must not read "what's happening with T-10042?" as a technical fault."""
    return bool(TICKET_NUMBER.fullmatch(text.strip()))


def reply_by_text(reply_by: Any) -> str:
    """An older service's ``reply_by`` ("2026-11-25T10:00:00.000Z") as "2026-11-25 10:00 UTC"."""
    return str(reply_by or "")[:16].replace("T", " ") + " UTC"


def ticket_values(ticket: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """The values a ticket response is filled with: ``ticket_label`` (and ``due_local`` and ``timezone`` when the
    ticket has an answer time), or, from an older service that sends neither label nor local time, ``reply_by``.
    Never raises; {} for no ticket at all."""
    ticket = ticket if isinstance(ticket, Mapping) else {}
    values: Dict[str, str] = {}
    name = ticket.get("label") or (label(ticket["number"]) if isinstance(ticket.get("number"), int) else None)
    if name:
        values["ticket_label"] = str(name)
        if ticket.get("due_local"):
            values["due_local"] = str(ticket["due_local"])
            values["timezone"] = str(ticket.get("timezone") or "UTC")
    if not values.get("due_local") and ticket.get("reply_by"):
        values["reply_by"] = reply_by_text(ticket["reply_by"])
    return values


def ticket_response(values: Mapping[str, str]) -> Optional[str]:
    """The response that tells the customer about their new ticket with these values (ticket_values): the number
    and the answer time, the number alone, or the older service's answer time; None when there is nothing to say."""
    if values.get("ticket_label") and values.get("due_local"):
        return TICKET_RESPONSE
    if values.get("ticket_label"):
        return TICKET_UNDATED_RESPONSE
    if values.get("reply_by"):
        return TICKET_REPLY_BY_RESPONSE
    return None


def told_about(events: Iterable[Any], ticket_label: str, except_ids: str = "") -> bool:
    """Whether the conversation's bot messages (Rasa events or their dicts) told the customer about the ticket
    `ticket_label` already: one of them is marked with it (``ticket`` by the channels and the bridge,
    ``ticket_label`` by the action server's response values). Messages whose id starts with `except_ids` (what
    the event being handled said on an earlier try) do not count."""
    for event in events:
        if isinstance(event, Mapping):
            kind, metadata = event.get("event"), event.get("metadata")
        else:
            kind, metadata = getattr(event, "type_name", None), getattr(event, "metadata", None)
        if kind != "bot" or not isinstance(metadata, Mapping):
            continue
        if except_ids and str(metadata.get("message_id") or "").startswith(except_ids):
            continue
        if ticket_label in (metadata.get("ticket"), metadata.get("ticket_label")):
            return True
    return False


def status_response(ticket: Mapping[str, Any], group_names: Mapping[str, str]) -> Tuple[str, Dict[str, str]]:
    """(response, values) saying where one ticket stands, from the service's short view of it: ``ticket_label``
    always, ``group_name`` (the team that has it: the service's name for it, else its name in policy/skill_groups.yml,
    else its id) and the
    answer time (``due_local``, ``timezone``) when known."""
    number = ticket.get("number")
    values: Dict[str, str] = {"ticket_label": str(ticket.get("label") or (label(number) if isinstance(number, int)
                                                                           else "?"))}
    group = str(ticket.get("group") or "")
    values["group_name"] = str(ticket.get("group_name") or group_names.get(group, group))
    if ticket.get("due_local"):
        values["due_local"] = str(ticket["due_local"])
        values["timezone"] = str(ticket.get("timezone") or "UTC")
    return STATE_RESPONSES.get(str(ticket.get("state") or ""), UNKNOWN_STATE_RESPONSE), values


def newest_first(tickets: Iterable[Mapping[str, Any]], limit: int = MAX_TOLD) -> List[Mapping[str, Any]]:
    """The tickets worth telling the customer about, most recently updated first: open ones before solved and
    closed ones, at most `limit`."""
    done = ("solved", "closed")
    ordered = sorted((t for t in tickets if isinstance(t, Mapping)),
                     key=lambda t: str(t.get("updated_at") or t.get("created_at") or ""), reverse=True)
    ordered.sort(key=lambda t: t.get("state") in done)  # stable: open ones first, each part newest first
    return ordered[:limit]
