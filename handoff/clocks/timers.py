"""Durable timers: stored in the service's store, fired exactly once by whichever service process claims them.

A timer is a ``key`` (unique per purpose, e.g. ``sla:chat:<id>:first_response:warn``; scheduling a key again
replaces the earlier timer, whatever state it was in), a ``kind`` (which handler fires it), a ``due`` time
(epoch seconds) and a JSON ``payload``.

How "exactly once" holds with several processes and with a process killed at any point:

1. ``claim_timers`` hands each due timer to one process under a **lease** (a fresh random token and a lease
   deadline); a timer whose lease lapsed (its process died or stalled) is due again and the next claim takes
   it over with a new token. One atomic store step: two processes never hold the same live lease.
2. The handler decides what the timer does and returns it as a :class:`Fired` (events for the event stream,
   entries for the clock log of a chat or ticket, follow-up timers). Any change it makes elsewhere in the
   store is a checked, idempotent transition (raise a priority to at least N, re-offer a chat still waiting,
   reopen a ticket still solved), so doing it twice changes nothing the second time.
3. ``complete_timer`` writes the :class:`Fired` and deletes the timer **in one atomic step, only if the
   lease token still matches**. A process that lost its lease (killed, or slower than the lease) writes
   nothing: the events and log entries of a timer exist once.

So a timer's recorded firing (its events and log entries) happens exactly once; its side effects at least
once and idempotent. A handler that raises is retried with backoff (``retry_timer``); after ``MAX_ATTEMPTS``
the timer completes with a ``timer_failed`` event, so a poison timer never blocks the others; so does a timer
claimed more than ``MAX_ATTEMPTS`` times without completing (its handler kills or stalls its process), and a
handler gets at most the lease's time before it counts as failed (a hanging handler never holds a slot).

The clock is one clock: the store's server time (Redis ``TIME``), moved by the service clock's test offset
(``HANDOFF_CLOCK_FILE``, handoff/clocks/offset_clock.py) so a test can play "Monday morning" against real processes.
"""
from __future__ import annotations

import abc
import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE_SECONDS = 30.0
ONCE_DAYS = 40


@dataclass(frozen=True)
class Timer:
    key: str
    kind: str
    due: float
    payload: Dict[str, Any] = field(default_factory=dict)
    attempt: int = 0      # claims so far (1 on the first claim)
    lease: str = ""       # the token of the current claim ("" while scheduled)


@dataclass(frozen=True)
class Schedule:
    """A timer to schedule (or replace) in the same atomic step as a completion."""
    key: str
    kind: str
    due: float
    payload: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Fired:
    """What a timer's firing records, written atomically with the timer's completion.

    ``events``: (to agent id or None for everyone, event dict) appended to the service's event stream, like the
    store's own transitions (so consoles, the dashboard and the bot's bridge see them);
    ``log``: (subject, entry) appended to a clock log: subject ``chat:<escalation id>`` or ``ticket:<ticket id>``;
    the chat's and the ticket's timelines show these entries;
    ``schedule``: timers to schedule with it (e.g. the breach after a warning, a reminder's next round)."""
    events: List[Tuple[Optional[str], Dict[str, Any]]] = field(default_factory=list)
    log: List[Tuple[str, Dict[str, Any]]] = field(default_factory=list)
    schedule: List[Schedule] = field(default_factory=list)


Handler = Callable[[Timer], Awaitable[Fired]]


class TimerStore(abc.ABC):
    """The store's timer methods (a mixin of the Redis store and of the in-memory twin)."""

    @abc.abstractmethod
    async def timer_now(self) -> float:
        """The store's server time in epoch seconds (Redis TIME)."""

    @abc.abstractmethod
    async def schedule_timer(self, key: str, kind: str, due: float, payload: Dict[str, Any],
                             once: bool = False) -> bool:
        """Schedule ``key`` at ``due``, replacing any timer of that key (a claimed one too: its completion then
        writes nothing). ``once``: only if this key was never scheduled with ``once`` before (remembered for
        ``ONCE_DAYS``), so a listener told twice never fires a warning twice. False when ``once`` declined."""

    @abc.abstractmethod
    async def cancel_timer(self, key: str) -> bool:
        """Drop the timer; False when there was none."""

    @abc.abstractmethod
    async def get_timer(self, key: str) -> Optional[Timer]:
        """The timer, scheduled or claimed; None when there is none (never scheduled, fired or cancelled)."""

    @abc.abstractmethod
    async def claim_timers(self, now: float, lease_seconds: float, limit: int) -> List[Timer]:
        """Up to ``limit`` timers due at ``now`` (and timers whose lease lapsed), earliest first, each under a new
        lease until ``now + lease_seconds``, attempt counted."""

    @abc.abstractmethod
    async def complete_timer(self, timer: Timer, fired: Fired) -> bool:
        """If ``timer.lease`` is still the timer's lease: write ``fired`` and delete the timer, at once. False
        (and nothing written) when the lease was lost or the timer replaced or cancelled."""

    @abc.abstractmethod
    async def retry_timer(self, timer: Timer, due: float) -> bool:
        """Give a claimed timer back, due again at ``due`` (attempts kept); False when the lease was lost."""

    @abc.abstractmethod
    async def timer_counts(self, now: float) -> Dict[str, int]:
        """``{"scheduled": n, "due": n, "leased": n}`` (due: scheduled with due <= now)."""

    @abc.abstractmethod
    async def clock_log(self, subject: str) -> List[Dict[str, Any]]:
        """The clock log of ``chat:<id>`` or ``ticket:<id>``, oldest first."""


class TimerRunner:
    """Claims due timers and fires them through the handler registered for their kind. Every service process
    runs one (``run``); ``tick`` is one round, for tests.

    ``offset``: seconds the service's clock is moved by (the test clock); the runner's now is the store's
    server time plus it."""

    def __init__(self, store: TimerStore, offset: Callable[[], float] = lambda: 0.0,
                 lease_seconds: float = LEASE_SECONDS, batch: int = 500, poll_seconds: float = 0.2,
                 concurrency: int = 64, on_fired: Optional[Callable[[Timer, float], None]] = None,
                 on_failed: Optional[Callable[[Timer], None]] = None) -> None:
        self.store = store
        self.offset = offset
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.handlers: Dict[str, Handler] = {}
        self._gate = asyncio.Semaphore(concurrency)
        self.on_fired = on_fired  # (timer, lateness seconds) after a completion that wrote: for metrics
        self.on_failed = on_failed  # (timer) after a timer_failed completion that wrote

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self.handlers:
            raise ValueError(f"timer kind {kind!r} has a handler already")
        self.handlers[kind] = handler

    async def now(self) -> float:
        return await self.store.timer_now() + self.offset()

    async def schedule(self, key: str, kind: str, due: float, payload: Optional[Dict[str, Any]] = None,
                       once: bool = False) -> bool:
        if kind not in self.handlers:
            raise ValueError(f"no handler for timer kind {kind!r}")
        if isinstance(due, bool) or not isinstance(due, (int, float)) or not math.isfinite(due):
            raise ValueError(f"timer {key!r}: due must be a finite epoch time in seconds, not {due!r}")
        return await self.store.schedule_timer(key, kind, due, payload or {}, once)

    async def cancel(self, key: str) -> bool:
        return await self.store.cancel_timer(key)

    async def tick(self) -> int:
        """Claim and fire one batch; the number of timers completed by this process."""
        now = await self.now()
        timers = await self.store.claim_timers(now, self.lease_seconds, self.batch)
        if not timers:
            return 0
        done = await asyncio.gather(*(self._fire(t) for t in timers))
        return sum(done)

    async def _fire(self, timer: Timer) -> bool:
        """Fire one claimed timer. A timer claimed more than MAX_ATTEMPTS times without completing (its handler
        ends or stalls its process every time) fails without running again."""
        async with self._gate:
            failed = timer.attempt > MAX_ATTEMPTS
            if failed:
                log.error("timer %s (%s) claimed %d times without completing, dropped", timer.key, timer.kind,
                          timer.attempt)
                fired = await self._failed(timer, f"claimed {timer.attempt} times without completing")
            else:
                try:
                    fired = await self._handle(timer)
                except Exception as e:  # noqa: BLE001 - one bad timer must not stop the others
                    if timer.attempt < MAX_ATTEMPTS:
                        backoff = min(300.0, 2.0 ** timer.attempt)
                        log.warning("timer %s (%s) failed (attempt %d), again in %.0f s: %s", timer.key, timer.kind,
                                    timer.attempt, backoff, e)
                        await self.store.retry_timer(timer, await self.now() + backoff)
                        return False
                    log.error("timer %s (%s) failed %d times, dropped: %s", timer.key, timer.kind, timer.attempt, e)
                    failed, fired = True, await self._failed(timer, str(e))
            wrote = await self.store.complete_timer(timer, fired)
            if wrote and failed and self.on_failed is not None:
                self.on_failed(timer)
            elif wrote and not failed and self.on_fired is not None:
                self.on_fired(timer, max(0.0, await self.now() - timer.due))
            return wrote

    async def _handle(self, timer: Timer) -> Fired:
        """The handler's Fired. A handler gets the lease's time (past it, its completion could write nothing
        anyway) and then counts as failed, so a hanging handler never keeps its concurrency slot."""
        handler = self.handlers.get(timer.kind)
        if handler is None:
            raise LookupError(f"no handler for timer kind {timer.kind!r}")
        try:
            return await asyncio.wait_for(handler(timer), self.lease_seconds)
        except asyncio.TimeoutError:
            raise RuntimeError(f"the handler ran past the lease ({self.lease_seconds:g} s)") from None

    async def _failed(self, timer: Timer, error: str) -> Fired:
        return Fired(events=[(None, {"type": "timer_failed", "key": timer.key, "kind": timer.kind,
                                     "error": error[:300], "at": await self.now()})])

    async def run(self, unavailable: Tuple[type, ...] = ()) -> None:
        """Fire timers until cancelled: a full batch is followed at once by the next claim."""
        while True:
            try:
                n = await self.tick()
            except unavailable as e:
                log.warning("timers: store unavailable (%s); retrying", e)
                n = 0
            except Exception:  # noqa: BLE001 - keep running
                log.exception("timer round failed")
                n = 0
            if n < self.batch:
                await asyncio.sleep(self.poll_seconds)


def wall_offset(clock: Callable[[], float]) -> Callable[[], float]:
    """The offset of a service clock (handoff/clocks/offset_clock.py) from the wall clock: 0 in production."""
    return lambda: clock() - time.time()
