"""The in-memory twin of the Redis ticket store (tests, and one-process demos): the same steps under one lock."""
from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, Callable, Dict, List, Sequence, Tuple

from handoff.store import Event, NotFound
from handoff.tickets.model import Ticket
from handoff.tickets.store import TicketStore, Transition, index_entries
from handoff.tickets.transitions import Change


class MemoryTickets(TicketStore):
    """A mixin for handoff.memory_store.MemoryStore (its ``_events`` and ``_new_event``)."""

    def _ticket_state(self) -> Dict[str, Any]:
        if not hasattr(self, "_t"):
            self._t: Dict[str, Any] = {"tickets": {}, "timeline": {}, "numbers": {}, "keys": {}, "ix": {},
                                       "next": 10000, "lock": asyncio.Lock()}
        return self._t

    def _write(self, before: List[Ticket], change: Change) -> None:
        s = self._ticket_state()
        old = {t.id: index_entries(t) for t in before}
        for t in change.tickets:
            s["tickets"][t.id] = json.dumps(t.to_json())  # stored as text, as Redis does: no shared references
            s["numbers"][t.number] = t.id
            was, now = old.get(t.id, {}), index_entries(t)
            for name in set(was) - set(now):
                s["ix"].get(name, {}).pop(t.id, None)
            for name, score in now.items():
                s["ix"].setdefault(name, {})[t.id] = score
        for ticket_id, entries in change.entries.items():
            s["timeline"].setdefault(ticket_id, []).extend(json.dumps(e) for e in entries)
        for to, data in change.events:
            self._events.append(Event(f"{len(self._events) + 1}-0", list(to), copy.deepcopy(data)))  # type: ignore
        if change.events and self._new_event is not None:  # type: ignore[attr-defined]
            self._new_event.set()  # type: ignore[attr-defined]

    async def create_ticket(self, make: Callable[[int], Change], request_key: str = "") -> Tuple[Ticket, bool]:
        s = self._ticket_state()
        async with s["lock"]:
            if request_key and request_key in s["keys"]:
                return await self.ticket(s["keys"][request_key]), False
            s["next"] += 1
            change = make(s["next"])
            self._write([], change)
            if request_key:
                s["keys"][request_key] = change.ticket.id
            return change.ticket, True

    async def change(self, ticket_ids: Sequence[str], transition: Transition) -> Change:
        s = self._ticket_state()
        async with s["lock"]:
            before = [await self.ticket(i) for i in ticket_ids]
            change = transition(before)
            if change.changed:
                self._write(before, change)
            return change

    async def ticket(self, ticket_id: str) -> Ticket:
        raw = self._ticket_state()["tickets"].get(ticket_id)
        if raw is None:
            raise NotFound(ticket_id)
        return Ticket.from_json(json.loads(raw))

    async def ticket_by_number(self, number: int) -> Ticket:
        ticket_id = self._ticket_state()["numbers"].get(number)
        if ticket_id is None:
            raise NotFound(f"T-{number}")
        return await self.ticket(ticket_id)

    async def tickets(self, ticket_ids: Sequence[str]) -> List[Ticket]:
        raw = self._ticket_state()["tickets"]
        return [Ticket.from_json(json.loads(raw[i])) for i in ticket_ids if i in raw]

    async def timeline(self, ticket_id: str) -> List[Dict[str, Any]]:
        entries = self._ticket_state()["timeline"].get(ticket_id, [])
        return [{"seq": n, **json.loads(e)} for n, e in enumerate(entries, 1)]

    async def ticket_with_timeline(self, ticket_id: str) -> Tuple[Ticket, List[Dict[str, Any]]]:
        return await self.ticket(ticket_id), await self.timeline(ticket_id)  # no await yields between the two

    async def index(self, name: str, limit: int, min_score: float = float("-inf"),
                    max_score: float = float("inf"), reverse: bool = False, offset: int = 0) -> List[str]:
        members = self._ticket_state()["ix"].get(name, {})
        ranked = sorted(((score, i) for i, score in members.items() if min_score <= score <= max_score),
                        reverse=reverse)
        return [i for _, i in ranked[offset:offset + limit]]

    async def index_size(self, name: str) -> int:
        return len(self._ticket_state()["ix"].get(name, {}))
