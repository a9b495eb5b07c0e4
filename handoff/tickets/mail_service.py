"""Ticket e-mail inside the service process: each public reply to a ticket with the requester's address goes out
by e-mail (handoff/tickets/mail_out.py, mail_queue.py), and a customer's answer to such a mail (the SMTP listener,
handoff/tickets/mail_in.py) lands on the ticket as their message, moving it from pending back to open.

Wiring only: what is guaranteed is said by the modules it wires (docs/ticket_mail.md). On top of them:
- a reply and its mail: the reply is written first (one atomic step), then its mail is queued, idempotently by
  its Message-ID; a retried reply request (the same ``message_id``: the console always sends one) queues it again,
  so a crash between the two loses no mail once the client retries, and never sends two;
- an answer by e-mail counts only from the ticket's own requester (the ``From`` address equal to the ticket's
  e-mail, besides the unforgeable reply address); anything else is refused (550) and changes nothing.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import uuid
from typing import Any, Dict, List, Optional

from handoff.store import Conflict, NotFound
from handoff.tickets.mail_in import InboundMail, Refused
from handoff.tickets.mail_out import MailError, MailSettings, compose
from handoff.tickets.mail_queue import Mailer, MailOutbox, SmtpSettings
from handoff.tickets.model import Ticket, parse_label, view

log = logging.getLogger("handoff.mail")


class TicketMail:
    def __init__(self, settings: Any, store: Any, tickets: Any) -> None:
        self.settings = settings
        self.store = store
        self.tickets = tickets
        self.mail = MailSettings.from_settings(settings) if (settings.smtp_host or settings.mail_in_port) else None
        self.outbox: Optional[MailOutbox] = None
        self.mailer: Optional[Mailer] = None
        self.inbound: Optional[InboundMail] = None
        self.tasks: List[asyncio.Future] = []

    async def start(self) -> None:
        s = self.settings
        if self.mail is None:
            return
        if s.smtp_host:
            self.outbox = MailOutbox(self.store.r, s.redis_prefix)
            self.mailer = Mailer(self.store.r, s.redis_prefix, SmtpSettings.from_settings(s),
                                 consumer=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
            self.tasks.append(asyncio.ensure_future(self.mailer.run()))
            self.tickets.on_reply = self.on_reply
        if s.mail_in_port:
            self.inbound = InboundMail(self.on_mail, self.lookup, self.mail, s.mail_in_host, s.mail_in_port,
                                       s.mail_in_max_bytes)
            await self.inbound.start()

    async def stop(self) -> None:
        if self.mailer is not None:
            self.mailer.stop()
        for task in self.tasks:
            task.cancel()
        if self.inbound is not None:
            await self.inbound.stop()

    # -- out -------------------------------------------------------------------------------------
    async def on_reply(self, t: Ticket, entry: Dict[str, Any]) -> None:
        """Queue the mail of a public reply (``entry``: its timeline entry) to the ticket's requester."""
        if self.outbox is None or self.mail is None:
            return
        shown = view(t, self.tickets.clock())
        shown["requester"] = {**t.requester, "language": t.requester.get("lang")}
        try:
            message = compose(shown, {**entry, "public": True}, self.mail)
        except MailError as e:  # an address no mail can go to: the reply stands, the customer sees it in the chat
            log.warning("ticket %s: the reply is not mailed: %s", t.label, e)
            return
        await self.outbox.enqueue(message, t.label)

    # -- in --------------------------------------------------------------------------------------
    async def lookup(self, label: str) -> Optional[str]:
        number = parse_label(label)
        if number is None:
            return None
        try:
            return (await self.store.ticket_by_number(number)).id
        except NotFound:
            return None

    async def on_mail(self, ticket_id: str, sender: str, text: str, message_id: str) -> None:
        t = await self.store.ticket(ticket_id)
        if not sender or sender.strip().lower() != str(t.requester.get("email") or "").strip().lower():
            raise Refused(f"only the address {t.label} was opened for may answer it")
        safe_id = "mail:" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]
        try:
            await self.tickets.customer_message(t.id, text, "email", safe_id)
        except Conflict as e:
            raise Refused(str(e)) from None
