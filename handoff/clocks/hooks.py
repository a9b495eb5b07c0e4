"""How the clocks hear of changes: the services tell ``Hooks`` after every change of a chat or a ticket, and the
concerns that keep timers (SLA, survey, surge...) listen.

A listener gets the record as the store returned it and what happened, and (re)computes the timers the
record's state calls for: scheduling is idempotent (the same key replaces; ``once`` keys are never scheduled
twice), so a listener may be told twice, late, or out of order. A listener that raises is logged and never
fails the request that caused the change; the sweep's ``reconcile`` tells the listeners of every open chat and
active ticket again, so a timer missed by a crash between the change and its scheduling is scheduled on the
next round.

What a chat listener hears: ``created``, ``offered``, ``accepted``, ``transferred``, ``requeued``, ``finished``
(closed, released, abandoned, ticket), ``customer_message``, ``agent_message``, ``reconcile``. A ticket listener:
``created``, ``changed``, ``reconcile``.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, List

log = logging.getLogger(__name__)

ChatListener = Callable[[Any, str], Awaitable[None]]     # (Escalation, what)
TicketListener = Callable[[Any, str], Awaitable[None]]   # (Ticket, what)


class Hooks:
    def __init__(self) -> None:
        self.chat_listeners: List[ChatListener] = []
        self.ticket_listeners: List[TicketListener] = []

    def on_chat(self, listener: ChatListener) -> None:
        self.chat_listeners.append(listener)

    def on_ticket(self, listener: TicketListener) -> None:
        self.ticket_listeners.append(listener)

    async def chat(self, escalation: Any, what: str) -> None:
        for listener in self.chat_listeners:
            try:
                await listener(escalation, what)
            except Exception:  # noqa: BLE001 - the change is done; reconcile schedules what this missed
                log.exception("clock listener failed on chat %s (%s)", getattr(escalation, "id", "?"), what)

    async def ticket(self, ticket: Any, what: str) -> None:
        for listener in self.ticket_listeners:
            try:
                await listener(ticket, what)
            except Exception:  # noqa: BLE001
                log.exception("clock listener failed on ticket %s (%s)", getattr(ticket, "id", "?"), what)
