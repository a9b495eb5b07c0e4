"""The two background tasks of every service process (started by handoff/app.py): the sweeper (offers, overflow,
tickets, surges, the presence of the agents whose WebSocket this process holds: see handoff/routing/presence.py)
and the event reader that pushes the store's event stream to this process's WebSocket clients (handoff/hub.py)."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

from sanic import Sanic

from handoff.api.helpers import UNAVAILABLE
from handoff.hub import Hub
from handoff.settings import Settings

log = logging.getLogger("handoff")


async def sweeper(app: Sanic, settings: Settings, hub: Hub) -> None:
    """Every ``sweep_seconds``: presence, offers, overflow, surges, tickets, now and then the clocks again, and the
    event stream's trim. Redis down or one bad chat skips a sweep, never stops them."""
    warned = 0.0
    reconciled = time.monotonic()
    while True:
        await asyncio.sleep(settings.sweep_seconds)
        try:
            await app.ctx.service.see(hub.present())  # before the sweep looks for lost agents
            await app.ctx.service.sweep()
            await app.ctx.surge.sweep()
            await app.ctx.tickets.sweep()
            if time.monotonic() - reconciled > settings.reconcile_seconds:
                reconciled = time.monotonic()  # timers a crash kept from being scheduled (handoff/clocks/hooks.py)
                await app.ctx.service.reconcile()
                await app.ctx.tickets.reconcile()
            # Never past what a reader has not acknowledged (handoff/event_retention.py).
            kept = await app.ctx.store.trim_events(settings.events_cap)
            if kept > settings.events_cap and time.monotonic() - warned > 60:
                warned = time.monotonic()
                log.warning("event stream holds %d events (HANDOFF_EVENTS_CAP %d): a consumer group (the "
                            "bot's bridge?) has not acknowledged them; they are kept until it does", kept,
                            settings.events_cap)
        except UNAVAILABLE as e:
            log.warning("sweep skipped: Redis unavailable (%s)", e)
        except Exception:  # keep sweeping: one bad chat must not stop the others
            log.exception("sweep failed")

async def event_reader(app: Sanic, hub: Hub) -> None:
    """Push the store's events to this process's WebSocket clients; end the sessions an access event ends."""
    last: Optional[str] = None
    while True:
        try:
            if last is None:
                last = await app.ctx.store.last_event_id()
            events = await app.ctx.store.events(last, block_ms=2000)
        except UNAVAILABLE as e:
            log.warning("event stream: Redis unavailable (%s); retrying", e)
            await asyncio.sleep(0.5)
            continue
        for event in events:
            last = event.id
            if event.replay:  # the team saw it the first time; only the bot's bridge reads it again
                continue
            ended = app.ctx.access.on_event(event.data)
            if ended:
                hub.close(*ended)
            hub.deliver(event)
