"""The Redis ticket store: a mixin for handoff.redis_store.RedisStore (its connection ``r`` and prefix ``p``).

Keys, all under the service's hash-tagged prefix (one Redis Cluster slot, so one MULTI may touch them all):
``t:<id>`` the ticket (JSON), ``t:<id>:tl`` its timeline (a list of JSON entries), ``t:numbers`` (hash number
-> id), ``t:count`` (the last number given, INCR), ``t:key:<request key>`` (the ticket a request made, kept
30 days), ``t:ix:<name>`` the indexes (sorted sets, handoff/tickets/store.py). Events go to the service's
stream ``events`` in the same transaction as the change they report.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Sequence, Tuple

from redis.exceptions import WatchError

from handoff.store import NotFound
from handoff.tickets.model import FIRST_NUMBER, Ticket
from handoff.tickets.store import TicketStore, Transition, index_entries
from handoff.tickets.transitions import Change

REQUEST_KEY_SECONDS = 30 * 86400


class RedisTickets(TicketStore):
    r: Any
    p: str

    def _tk(self, ticket_id: str) -> str:
        return f"{self.p}t:{ticket_id}"

    def _queue_write(self, pipe: Any, before: List[Ticket], change: Change) -> None:
        old = {t.id: index_entries(t) for t in before}
        for t in change.tickets:
            pipe.set(self._tk(t.id), json.dumps(t.to_json()))
            pipe.hset(f"{self.p}t:numbers", str(t.number), t.id)
            was, now = old.get(t.id, {}), index_entries(t)
            for name in set(was) - set(now):
                pipe.zrem(f"{self.p}t:ix:{name}", t.id)
            for name, score in now.items():
                if was.get(name) != score:
                    pipe.zadd(f"{self.p}t:ix:{name}", {t.id: score})
        for ticket_id, entries in change.entries.items():
            if entries:
                pipe.rpush(f"{self._tk(ticket_id)}:tl", *(json.dumps(e) for e in entries))
        for to, data in change.events:
            pipe.xadd(f"{self.p}events", {"to": ",".join(to), "e": json.dumps(data)})

    async def create_ticket(self, make: Callable[[int], Change], request_key: str = "") -> Tuple[Ticket, bool]:
        key = f"{self.p}t:key:{request_key}"
        if request_key:
            known = await self.r.get(key)
            if known:
                return await self.ticket(known), False
        number = FIRST_NUMBER - 1 + int(await self.r.incr(f"{self.p}t:count"))
        change = make(number)
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if request_key:
                        await pipe.watch(key)
                        known = await pipe.get(key)
                        if known:
                            await pipe.reset()
                            return await self.ticket(known), False
                    pipe.multi()
                    self._queue_write(pipe, [], change)
                    if request_key:
                        pipe.set(key, change.ticket.id, ex=REQUEST_KEY_SECONDS)
                    await pipe.execute()
                    return change.ticket, True
                except WatchError:
                    continue

    async def change(self, ticket_ids: Sequence[str], transition: Transition) -> Change:
        keys = [self._tk(i) for i in ticket_ids]
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*keys)
                    raws = await pipe.mget(keys)
                    missing = [i for i, raw in zip(ticket_ids, raws) if raw is None]
                    if missing:
                        raise NotFound(missing[0])
                    before = [Ticket.from_json(json.loads(raw)) for raw in raws]
                    change = transition(before)
                    if not change.changed:
                        await pipe.reset()
                        return change
                    pipe.multi()
                    self._queue_write(pipe, before, change)
                    await pipe.execute()
                    return change
                except WatchError:
                    continue  # another process changed one of them first: decide again on what is there now

    async def ticket(self, ticket_id: str) -> Ticket:
        raw = await self.r.get(self._tk(ticket_id))
        if raw is None:
            raise NotFound(ticket_id)
        return Ticket.from_json(json.loads(raw))

    async def ticket_by_number(self, number: int) -> Ticket:
        ticket_id = await self.r.hget(f"{self.p}t:numbers", str(number))
        if not ticket_id:
            raise NotFound(f"T-{number}")
        return await self.ticket(ticket_id)

    async def tickets(self, ticket_ids: Sequence[str]) -> List[Ticket]:
        if not ticket_ids:
            return []
        raws = await self.r.mget([self._tk(i) for i in ticket_ids])
        return [Ticket.from_json(json.loads(raw)) for raw in raws if raw]

    async def timeline(self, ticket_id: str) -> List[Dict[str, Any]]:
        raws = await self.r.lrange(f"{self._tk(ticket_id)}:tl", 0, -1)
        return [{"seq": n, **json.loads(raw)} for n, raw in enumerate(raws, 1)]

    async def ticket_with_timeline(self, ticket_id: str) -> Tuple[Ticket, List[Dict[str, Any]]]:
        async with self.r.pipeline(transaction=True) as pipe:  # MULTI/EXEC: both read between two writes
            raw, raws = await pipe.get(self._tk(ticket_id)).lrange(f"{self._tk(ticket_id)}:tl", 0, -1).execute()
        if raw is None:
            raise NotFound(ticket_id)
        return Ticket.from_json(json.loads(raw)), [{"seq": n, **json.loads(r)} for n, r in enumerate(raws, 1)]

    async def index(self, name: str, limit: int, min_score: float = float("-inf"),
                    max_score: float = float("inf"), reverse: bool = False, offset: int = 0) -> List[str]:
        key = f"{self.p}t:ix:{name}"
        lo = "-inf" if min_score == float("-inf") else repr(min_score)
        hi = "+inf" if max_score == float("inf") else repr(max_score)
        if reverse:
            return await self.r.zrevrangebyscore(key, hi, lo, start=offset, num=limit)
        return await self.r.zrangebyscore(key, lo, hi, start=offset, num=limit)

    async def index_size(self, name: str) -> int:
        return int(await self.r.zcard(f"{self.p}t:ix:{name}"))
