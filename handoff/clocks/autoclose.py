"""Solved tickets close for good when their reopen window ends, on the timer service.

When a ticket becomes solved, its listener schedules ``ticket:<id>:autoclose:<solved_at>`` at ``solved_at`` plus
the reopen window (``tickets.reopen_days`` in policy/skill_groups.yml), ``once``: told again about the same solve
(a note on a solved ticket, a retry), it schedules nothing new. A reopened ticket keeps its timer: when it fires,
the handler re-reads the ticket and applies the checked transition ``close_solved`` only if the ticket is still
solved, by the same solve (``solved_at`` unchanged) and past the window; otherwise it does nothing. A solve
after a reopen has a new ``solved_at``, so a new timer. The close writes the ticket's own ``state`` event and
timeline entry (the ticket store's transition), so the timer's completion records nothing more.

Safety net, a slow scan (``ticket:all:autoclose-scan``, a timer that reschedules itself every
``scan_seconds``, fired by one process at a time): it closes solved tickets already past the window by more
than ``SCAN_GRACE``. It is there for what no listener scheduled: tickets solved before this release (no timer
exists for them) and a process that died between a ticket's change and its listener (the hooks run after the
store's change; the sweep's ``reconcile`` tells only active tickets again, never solved ones). Each process
makes sure the scan timer exists at most once every ``scan_seconds``, on the next ticket change it hears of.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

from handoff.clocks.timers import Fired, Schedule, Timer, TimerRunner
from handoff.store import Conflict, NotFound
from handoff.tickets import transitions as tr
from handoff.tickets.model import Ticket, TicketState

log = logging.getLogger(__name__)

KIND = "ticket_autoclose"
SCAN_KIND = "ticket_autoclose_scan"
SCAN_KEY = "ticket:all:autoclose-scan"
SCAN_GRACE = 60.0  # seconds past the window before the scan steps in for a ticket's own timer
SCAN_LIMIT = 500


def timer_key(t: Ticket) -> str:
    return f"ticket:{t.id}:autoclose:{t.solved_at!r}"


class AutoClose:
    def __init__(self, tickets: Any, runner: TimerRunner, scan_seconds: float = 300.0) -> None:
        self.tickets = tickets  # handoff.tickets.service.TicketService
        self.runner = runner
        self.scan_seconds = scan_seconds
        self._scan_checked = float("-inf")  # monotonic time this process last made sure the scan is scheduled

    async def listen(self, t: Ticket, what: str) -> None:
        """A ticket changed: a solved one gets its auto-close timer (once per solve)."""
        if t.state == TicketState.SOLVED and t.solved_at is not None:
            await self.runner.schedule(timer_key(t), KIND, t.solved_at + self.tickets.reopen_seconds,
                                       {"ticket": t.id, "solved_at": t.solved_at}, once=True)
        await self.ensure_scan()

    async def ensure_scan(self) -> None:
        if time.monotonic() - self._scan_checked < self.scan_seconds:
            return
        self._scan_checked = time.monotonic()
        if await self.runner.store.get_timer(SCAN_KEY) is None:
            await self.runner.schedule(SCAN_KEY, SCAN_KIND, await self.runner.now() + self.scan_seconds)

    async def close_if_due(self, ticket_id: str, now: float, solved_at: Optional[float] = None) -> bool:
        """Close the ticket if it is still solved (by the solve at ``solved_at``, when given) and its reopen
        window has ended at ``now``; True when this closed it. A conflicting change raises (the timer retries)."""
        window = self.tickets.reopen_seconds

        def rule(ts: Any) -> tr.Change:
            t = ts[0]
            if (t.state != TicketState.SOLVED or t.solved_at is None or now < t.solved_at + window
                    or (solved_at is not None and t.solved_at != solved_at)):
                return tr.Change([t], changed=False)
            return tr.close_solved(t, now)

        try:
            change = await self.tickets._apply([ticket_id], rule)
        except NotFound:
            return False
        if change.changed:
            self.tickets.metrics.ticket_changes.labels("auto_closed").inc()
        return change.changed

    async def fire(self, timer: Timer) -> Fired:
        """A ticket's timer (its due time is the end of the window, on the runner's clock)."""
        await self.close_if_due(timer.payload["ticket"], max(await self.runner.now(), timer.due),
                                timer.payload["solved_at"])
        return Fired()

    async def scan(self, timer: Timer) -> Fired:
        """The safety net's round: close what is past the window and grace; then the next round."""
        now = await self.runner.now()
        ids = await self.tickets.store.index("solved", SCAN_LIMIT,
                                             max_score=now - self.tickets.reopen_seconds - SCAN_GRACE)
        closed = 0
        for ticket_id in ids:
            try:
                closed += await self.close_if_due(ticket_id, now)
            except Conflict:
                continue  # changed meanwhile: the next round sees it again
        if closed:
            log.warning("auto-close scan closed %d solved tickets no timer had closed", closed)
        return Fired(schedule=[Schedule(SCAN_KEY, SCAN_KIND, now + self.scan_seconds)])


def register(app: Any) -> AutoClose:
    """Wire auto-close into the app: handlers of both kinds, the ticket listener. The scan runs every
    ``HANDOFF_RECONCILE_SECONDS``."""
    autoclose = AutoClose(app.ctx.tickets, app.ctx.timers, app.ctx.settings.reconcile_seconds)
    app.ctx.timers.register(KIND, autoclose.fire)
    app.ctx.timers.register(SCAN_KIND, autoclose.scan)
    app.ctx.tickets.hooks.on_ticket(autoclose.listen)
    return autoclose
