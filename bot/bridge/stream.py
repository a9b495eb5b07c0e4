"""Following the handoff service's event stream (``{ho}:events``) through a Redis Streams consumer group.

The leader bridge (bot/bridge/bridge.py) reads the stream as the consumer group ``bridge``:

- An event is acknowledged (XACK) only once it was fully handled: stored in the tracker and pushed to the
  customer. Until then it stays in the group's pending list, and the service never trims it
  (handoff/event_retention.py), however long the bridge is away.
- A failed event is tried again with backoff (HANDOFF_EVENT_RETRY_SECONDS, doubling, at most a minute),
  and the events of its conversation behind it wait: a later event never overtakes an earlier one of the
  same conversation. Other conversations go on meanwhile. After HANDOFF_EVENT_TRIES tries it is parked:
  logged as an error, copied to the list ``{shop}:handoff:dead_events`` (JSON {"id", "event", "error",
  "tries", "at"}) and acknowledged, and its conversation goes on. Supervisors see it (``GET /v1/undelivered``);
  ``python -m bot.undelivered replay`` writes it to the stream again with its first id in the field
  ``replay_of``, which it is then handled (and parked again) under, so its message ids do not change.
- A new leader (the last one died or lost the lock) first claims every pending entry of the group
  (XAUTOCLAIM, whoever held it), handles them in order, then reads new events. Events a leader was handling
  when it died are therefore handled again: delivery is at least once, and every message pushed to a
  customer carries a stable ``message_id`` by which the web chat (and a REST shop) drops a repeat.
- Each leadership term reads as a consumer of its own (host, process, random suffix); consumers left with
  nothing pending are removed when a new leader starts.

Migration from the single position kept before (``{shop}:handoff:last_event``): the first leader with this
code creates the group at that position (MKSTREAM), so nothing after it is skipped, and deletes the key.
Without it the group starts at the newest event ("$"), as the bridge did on its very first start.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Tuple

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from common.redis_slots import one_slot
from common.undelivered import DEAD_EVENTS, REPLAY_OF

logger = logging.getLogger(__name__)

GROUP = "bridge"
LAST_EVENT = "{shop}:handoff:last_event"  # the position kept before the consumer group: read once, then deleted
MAX_IN_FLIGHT = 2000  # events read but not handled yet; reading pauses beyond this
RETRY_MAX_SECONDS = 60.0
UNAVAILABLE = (aioredis.ConnectionError, aioredis.TimeoutError, OSError)

Handler = Callable[[str, Dict[str, Any]], Awaitable[None]]


class EventFollower:
    """Reads ``stream`` as the group ``bridge`` and calls ``handle(event_id, event)`` for each event: the events
    of one conversation strictly in order, conversations side by side."""

    def __init__(self, redis: aioredis.Redis, stream: str, handle: Handler, tries: int = 10,
                 retry_seconds: float = 1.0, group: str = GROUP) -> None:
        self.redis = redis
        self.stream = stream
        self.handle = handle
        self.tries = max(1, tries)
        self.retry_seconds = retry_seconds
        self.group = group
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.last_seen: Optional[str] = None
        self._open: Set[asyncio.Task] = set()

    async def run(self) -> None:
        await self._until_done(self._join)
        await self._until_done(self._take_over)
        try:
            await self._follow()
        finally:  # the leader lock is lost: what is still being handled stays pending for the next leader
            for task in list(self._open):
                task.cancel()

    async def _follow(self) -> None:
        chains: Dict[str, asyncio.Task] = {}
        position = "0"  # first this consumer's own pending entries (the ones just claimed), then new ones
        while True:
            if len(self._open) >= MAX_IN_FLIGHT:
                await asyncio.sleep(0.05)
                continue
            try:
                reply = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: position}, count=200,
                                                    block=2000 if position == ">" else None)
            except UNAVAILABLE as e:
                logger.warning("handoff events: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(0.5)
                continue
            except ResponseError as e:
                if "NOGROUP" in str(e):
                    logger.warning("handoff events: the consumer group is gone (Redis lost its data?); joining again")
                    await self._until_done(lambda: self._join(self.last_seen or "0"))
                    position = "0"
                    continue
                logger.exception("handoff events: reading %s failed", self.stream)
                await asyncio.sleep(1.0)
                continue
            except Exception:  # noqa: BLE001 - never stop following while holding the lead
                logger.exception("handoff events: reading %s failed", self.stream)
                await asyncio.sleep(1.0)
                position = ">"  # an unreadable pending entry (deleted by hand) must not stall the new ones
                continue
            entries: List[Tuple[str, Any]] = reply[0][1] if reply else []
            if position != ">":
                if not entries:
                    position = ">"
                    continue
                position = entries[-1][0]
            for event_id, fields in entries:
                self.last_seen = event_id
                event = self._parse(fields)
                key = str((event or {}).get("conversation_id") or "")
                origin = (fields.get(REPLAY_OF) if isinstance(fields, dict) else None) or event_id
                task = asyncio.ensure_future(self._in_turn(chains.get(key), event_id, event, origin))
                chains[key] = task
                self._open.add(task)
                task.add_done_callback(self._open.discard)
            for key in [k for k, task in chains.items() if task.done()]:
                del chains[key]

    async def _join(self, start: Optional[str] = None) -> None:
        """Create the group (and the stream) unless it exists: at ``start``, the old position, or the end."""
        if start is None:
            start = await self.redis.get(LAST_EVENT) or "$"
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=start, mkstream=True)
            logger.info("handoff events: consumer group %r created on %s at %s", self.group, self.stream, start)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        await self.redis.delete(LAST_EVENT)

    async def _take_over(self) -> None:
        """Claim every entry another consumer (an earlier leader) left pending, then forget idle consumers."""
        start, claimed = "0-0", 0
        while True:
            reply = await self.redis.xautoclaim(self.stream, self.group, self.consumer, min_idle_time=0,
                                                start_id=start, count=500)
            start, claimed = reply[0], claimed + len(reply[1])
            if start in ("0-0", b"0-0"):
                break
        if claimed:
            logger.info("handoff events: took over %d events the last leader had not finished", claimed)
        for consumer in await self.redis.xinfo_consumers(self.stream, self.group):
            if consumer["name"] != self.consumer and not consumer["pending"]:
                await self.redis.xgroup_delconsumer(self.stream, self.group, consumer["name"])

    @staticmethod
    def _parse(fields: Any) -> Optional[Dict[str, Any]]:
        try:
            event = json.loads(fields["e"])
            return event if isinstance(event, dict) else None
        except (TypeError, KeyError, ValueError):
            return None

    async def _in_turn(self, previous: Optional[asyncio.Task], event_id: str,
                       event: Optional[Dict[str, Any]], origin: Optional[str] = None) -> None:
        """Handle the entry ``event_id`` (under ``origin``, the id it was first written under: a replayed
        event's message ids are those of its first try), then acknowledge it, or park it."""
        origin = origin or event_id
        if previous is not None:
            await asyncio.wait([previous])
        if event is None:
            logger.error("handoff event %s is not a JSON object: parked", event_id)
            await self._until_done(lambda: self._park(event_id, origin, None, "not a JSON object", 0))
            return
        delay = self.retry_seconds
        for attempt in range(1, self.tries + 1):
            try:
                await self.handle(origin, event)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - whatever failed, the event is tried again, then parked
                error = repr(e)
                if attempt == self.tries:
                    logger.exception("handoff event %s (%s of conversation %s) failed %d times: parked in %s",
                                     event_id, event.get("type"), event.get("conversation_id"), attempt, DEAD_EVENTS)
                    await self._until_done(lambda: self._park(event_id, origin, event, error, attempt))
                    return
                logger.warning("handoff event %s (%s of conversation %s) failed (try %d of %d): %r; again in %.1f s",
                               event_id, event.get("type"), event.get("conversation_id"), attempt, self.tries, e,
                               delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        await self._until_done(lambda: self.redis.xack(self.stream, self.group, event_id))

    async def _park(self, event_id: str, origin: str, event: Optional[Dict[str, Any]], error: str,
                    tries: int) -> None:
        record = json.dumps({"id": origin, "event": event, "error": error, "tries": tries, "at": time.time()})
        if not one_slot(self.redis, DEAD_EVENTS, self.stream):
            # A Redis Cluster: the bot's list and the service's stream are on two slots, so no MULTI over both.
            # Parked first, acknowledged after: a crash in between leaves it parked and pending, never lost.
            await self.redis.rpush(DEAD_EVENTS, record)
            await self.redis.xack(self.stream, self.group, event_id)
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(DEAD_EVENTS, record).xack(self.stream, self.group, event_id).execute()

    @staticmethod
    async def _until_done(step: Callable[[], Awaitable[Any]]) -> Any:
        """Run a Redis step again until Redis answers (it may be restarting)."""
        while True:
            try:
                return await step()
            except UNAVAILABLE as e:
                logger.warning("handoff events: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(0.5)
