"""E-mail in for tickets: an SMTP listener (aiosmtpd) that turns a customer's reply into a ticket message.

``InboundMail(handler, lookup, settings, host, port).start()`` listens inside the running event loop (the Sanic
process's own: the handler then calls the service and its Redis client directly, on the loop they belong to; an
aiosmtpd ``Controller`` would run a second loop in a thread, which that client cannot be used from). The port is
bound with SO_REUSEPORT, so several service processes on one machine can all listen on it (the kernel spreads
the connections). What is guaranteed:

- Only mail to a valid reply address is accepted (handoff/tickets/mail_out.py): at RCPT TO, before any DATA, an
  address of another shape, of an unknown ticket or with a token that does not verify (constant-time compare) gets
  ``550 5.1.1`` (the same answer for all three: no oracle). One ticket per mail: a second recipient gets 452 (the
  sending server sends it again on its own).
- The mail is limited to ``max_bytes`` (552 beyond). Its text: the text/plain part, else the text of the HTML part
  (quoted blocks left out); then the quoted history and the signature are stripped (``answer_text``).
- ``await handler(ticket_id, sender, text, message_id)`` is called once per accepted DATA. The handler raising
  ``Refused`` -> ``550 5.7.1 <its message>`` (the customer gets a bounce); any other exception (Redis down...) ->
  ``451 4.3.0``: the sending server keeps the mail and tries again later, so nothing is lost (the handler may
  then see the same message_id twice and should drop the repeat). ``sender`` is the From header's address (the
  envelope sender when there is none): the service checks it against the ticket's requester; it is not
  authenticated here (the token is the credential; SPF/DKIM are the front mail server's job).
- Automatic replies (Auto-Submitted other than "no", Precedence bulk/junk/list/auto_reply, X-Autoreply) are
  accepted and dropped, so an out-of-office answer never reopens a ticket.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any, Awaitable, Callable, List, Optional, Sequence

from aiosmtpd.smtp import SMTP, Envelope, Session
from mailparser_reply.parser import EmailMessage as ReplyText

from handoff.tickets.mail_out import MailSettings, one_line, parse_reply_address, token_matches

log = logging.getLogger("handoff.mail")

Handler = Callable[[str, str, str, str], Awaitable[Any]]
Lookup = Callable[[str], Awaitable[Optional[str]]]  # ticket label "T-10042" -> the ticket's id, or None
AUTOMATIC = {"bulk", "junk", "list", "auto_reply"}
_ATTRIBUTION_END = (":", "：")


class Refused(Exception):
    """The handler's "no" for good (the sender is not the requester, the ticket is closed...): 550 with this text."""


def answer_text(text: str, markers: Sequence[str] = ()) -> str:
    """What the customer wrote, without what they quoted. In order: everything from our own "reply above this line"
    marker on (``markers``, quoted or not); the quoted history after an "On ... wrote:" / Outlook header block and a
    signature ("-- ", "Sent from my ...") as mail-parser-reply finds them (English and Chinese patterns; lines are
    stripped of their indentation there); then a trailing block of "> " lines with the attribution line just above it
    (the library misses Chinese ones: "2026年12月6日 … 写道："). Interleaved quotes with answers between are kept."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = False
    for i, line in enumerate(lines):
        bare = line.lstrip("> \t")
        if any(marker and marker in bare for marker in markers):
            lines, cut = lines[:i], True
            break
    latest = ReplyText(text="\n".join(lines), languages=["en", "zh"], keep_hyphen_lists=True).read().replies[0]
    body = latest.body if _looks_like_signature(latest.signatures) else latest.full_body
    lines = body.split("\n")
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        cut = cut or lines[-1].lstrip().startswith(">")
        lines.pop()
    if cut and lines and lines[-1].rstrip().endswith(_ATTRIBUTION_END):
        lines.pop()
    return "\n".join(lines).strip()


def _looks_like_signature(signature: str) -> bool:
    """Whether what the library took for a signature starts like one: a short closing line ("Best regards,",
    "谢谢，") or a separator / "Sent from my ..." line. It also starts a signature at any line beginning with
    "Thanks," — "Thanks, but the lid is broken too." — and would drop the rest of the answer: text is kept then."""
    first = next((line.strip(" >") for line in signature.split("\n") if line.strip(" >")), "")
    return len(first) <= 25 or first.startswith(("--", "__", "Sent from", "Get Outlook", "从我的"))


class _HtmlText(HTMLParser):
    """The text of an HTML mail: blocks on lines of their own, script/style and quoted blocks (blockquote, Gmail's
    gmail_quote) left out."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"}
    SKIP = {"script", "style", "blockquote", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self.skipping: List[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        classes = " ".join(value or "" for name, value in attrs if name == "class")
        if self.skipping or tag in self.SKIP or "gmail_quote" in classes:
            if tag not in ("br", "img", "hr", "meta", "link", "input"):
                self.skipping.append(tag)
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if self.skipping[-1] == tag:
                self.skipping.pop()
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = re.sub(r"[ \t\xa0]+", " ", "".join(parser.parts))
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def mail_text(message: EmailMessage) -> str:
    """The text/plain body, else (missing or blank) the text of the text/html body, else ""."""
    for kind in ("plain", "html"):
        part = message.get_body(preferencelist=(kind,))
        if part is None:
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError):  # an unknown charset or a broken transfer encoding
            content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        text = html_text(content) if kind == "html" else content
        if text.strip():
            return text
    return ""


def is_automatic(message: EmailMessage) -> bool:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    return auto != "no" or str(message.get("Precedence", "")).strip().lower() in AUTOMATIC \
        or message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None


def _reply(code: str, text: str) -> str:
    """One SMTP reply line: ASCII, no line breaks."""
    return f"{code} {one_line(text, 300).encode('ascii', 'replace').decode('ascii')}"


class InboundMail:
    """The SMTP listener: ``await start()`` binds ``host:port`` (port 0: a free one, see ``port`` after start),
    ``await stop()`` closes it."""

    def __init__(self, handler: Handler, lookup: Lookup, settings: MailSettings, host: str = "127.0.0.1",
                 port: int = 0, max_bytes: int = 10 * 1024 * 1024) -> None:
        self.handler = handler
        self.lookup = lookup
        self.settings = settings
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.markers = settings.text.markers()
        self._server: Optional[asyncio.AbstractServer] = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, data_size_limit=self.max_bytes, hostname=self.settings.domain, loop=loop, timeout=60),
            self.host, self.port, reuse_port=hasattr(socket, "SO_REUSEPORT"))
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("ticket mail: listening for replies on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: List[str]) -> str:
        parsed = parse_reply_address(address, self.settings.reply_local, self.settings.domain)
        if parsed is None:
            return "550 5.1.1 No such mailbox"
        label, token = parsed
        try:
            ticket_id = await self.lookup(label)
        except Exception as e:  # noqa: BLE001 - Redis down...: the sending server tries again later
            log.warning("ticket mail: looking up %s failed: %r", label, e)
            return "451 4.3.0 Try again later"
        if not ticket_id or not token_matches(self.settings.secret, ticket_id, token):
            log.info("ticket mail: refused a mail to %s (unknown ticket or forged token)", label)
            return "550 5.1.1 No such mailbox"
        known = getattr(envelope, "ticket_id", None)
        if known is not None and known != ticket_id:
            return "452 4.5.3 One ticket per message"
        envelope.ticket_id = ticket_id  # type: ignore[attr-defined]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        ticket_id = getattr(envelope, "ticket_id", None)
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        if ticket_id is None:
            return "554 5.5.1 No valid recipients"
        message = message_from_bytes(raw, policy=policy.default)
        if is_automatic(message):  # type: ignore[arg-type]
            log.info("ticket mail: dropped an automatic reply about ticket %s", ticket_id)
            return "250 2.0.0 OK (automatic reply ignored)"
        sender = parseaddr(str(message.get("From", "")))[1] or (envelope.mail_from or "")
        message_id = one_line(message.get("Message-ID", ""), 250) or \
            f"<sha256.{hashlib.sha256(raw).hexdigest()[:32]}@{self.settings.domain}>"
        text = answer_text(mail_text(message), self.markers)  # type: ignore[arg-type]
        if not text:
            return "550 5.6.0 The message has no text above the quoted history"
        try:
            await self.handler(ticket_id, sender, text, message_id)
        except Refused as e:
            log.info("ticket mail: the reply %s to ticket %s was refused: %s", message_id, ticket_id, e)
            return _reply("550 5.7.1", str(e) or "Refused")
        except Exception as e:  # noqa: BLE001 - transient: the sending server keeps the mail and retries
            log.warning("ticket mail: handling the reply %s to ticket %s failed: %r; answered 451", message_id,
                        ticket_id, e)
            return "451 4.3.0 Try again later"
        return "250 2.0.0 OK"
