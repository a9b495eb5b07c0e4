"""E-mail out for tickets: the reply address, the wording, and composing the mail of one public reply.

Pure helpers, no I/O but reading the wording file once. The durable sending (a Redis stream read by the
consumer group ``mailer``) is in handoff/tickets/mail_queue.py, re-exported here as ``MailOutbox`` and ``Mailer``.

- Reply address: ``<local>+<label>.<token>@<domain>``, e.g. ``support+T-10042.3f9a0c1b2d4e5f60@shop.example``,
  where token = the first 16 hex digits of HMAC-SHA256(secret, ticket id). Only someone who holds the secret (or
  got a mail of that ticket) can write one; a guessed or altered address does not verify (handoff/tickets/mail_in.py
  refuses it with 550). The label in it only finds the ticket; the token proves the address was ours.
- ``compose(ticket, reply, settings)``: the ticket view and the timeline entry as the API shows them (handoff/tickets/openapi.yml). Only a
  public ``reply`` entry is ever composed: a note is refused (MailError), so it cannot reach a customer by mistake.
  Header values made of customer or agent text (subject, name) have every control character and line break replaced
  by a space, so no header can be injected; the recipient must be one plain ASCII address, else MailError.
  The Message-ID is derived from the ticket id and the entry (its message_id, else its seq): a mail sent twice (the
  outbox delivers at least once) carries the same Message-ID both times, which mail clients show once.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple, Union

from common.config import POLICY_DIR, ConfigError, load_yaml

MAIL_TEXT_FILE = POLICY_DIR / "ticket_mail.yml"
TOKEN_HEX = 16
SUBJECT_MAX = 200
PLACEHOLDERS = {"subject": {"label", "subject"}, "no_subject": {"label"}, "reply_above": set(), "footer": {"label"}}
_REPLY_LOCAL = re.compile(r"^(?P<local>[^+@\s]+)\+(?P<label>t-?\d{1,12})\.(?P<token>[0-9a-f]{16})$", re.IGNORECASE)
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*/=?^_`{|}~.-]{1,40}$")  # dot-atom characters, no "+"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                     r"[A-Za-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class MailError(ValueError):
    """This reply cannot be mailed (not a public reply, no usable recipient address); the message says why."""


def reply_token(secret: str, ticket_id: str) -> str:
    """The first 16 hex digits of HMAC-SHA256(secret, ticket id)."""
    return hmac.new(secret.encode("utf-8"), str(ticket_id).encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_HEX]


def reply_address(ticket_id: str, label: str, secret: str, local: str, domain: str) -> str:
    """``support+T-10042.<token>@shop.example``: where the customer's reply to a ticket mail goes."""
    return f"{local}+{label}.{reply_token(secret, ticket_id)}@{domain}"


def parse_reply_address(address: str, local: str, domain: str) -> Optional[Tuple[str, str]]:
    """``(label "T-10042", token)`` when ``address`` has the reply-address shape for this ``local`` and ``domain``
    (letter case ignored, as some mail servers change it), else None. Says nothing about the token's validity:
    that needs the ticket's id (``token_matches``)."""
    address = (address or "").strip().strip("<>")
    user, at, host = address.rpartition("@")
    if not at or host.lower().rstrip(".") != domain.lower():
        return None
    match = _REPLY_LOCAL.match(user)
    if not match or match["local"].lower() != local.lower():
        return None
    number = match["label"].lstrip("tT-")
    return f"T-{int(number)}", match["token"].lower()


def token_matches(secret: str, ticket_id: str, token: str) -> bool:
    """Whether ``token`` is this ticket's (constant-time comparison)."""
    return hmac.compare_digest(reply_token(secret, ticket_id).encode(), (token or "").lower().encode())


def one_line(text: Any, limit: int = SUBJECT_MAX) -> str:
    """``text`` fit for a header: control characters and line breaks become spaces, runs of spaces one, cut to
    ``limit`` characters."""
    return " ".join(_CONTROL.sub(" ", str(text or "")).split())[:limit]


@dataclass(frozen=True)
class MailText:
    """The wording of ticket mails per language (policy/ticket_mail.yml)."""

    default: str
    languages: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, path: Union[str, Path] = MAIL_TEXT_FILE) -> "MailText":
        """Read and check the file: ConfigError naming the file and the key (or the YAML line) otherwise."""
        document = load_yaml(path, "ticket_mail")
        languages = document["languages"]
        if document["default"] not in languages:
            raise ConfigError(path, "default", f"{document['default']!r} is not one of the languages "
                                               f"({', '.join(sorted(languages))})")
        for lang, texts in languages.items():
            for key, text in texts.items():
                try:
                    used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
                except ValueError as e:
                    raise ConfigError(path, f"languages.{lang}.{key}", f"bad placeholder: {e}") from None
                unknown = used - PLACEHOLDERS[key]
                if unknown:
                    allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS[key])) or "none"
                    raise ConfigError(path, f"languages.{lang}.{key}",
                                      f"unknown placeholder {{{sorted(unknown)[0]}}}; allowed: {allowed}")
            if "label" not in {n for _, n, _, _ in string.Formatter().parse(texts["subject"])}:
                raise ConfigError(path, f"languages.{lang}.subject", "must contain {label} (the ticket's number)")
        return cls(document["default"], languages)

    def pick(self, language: Optional[str]) -> Mapping[str, str]:
        """The texts of ``language`` ("zh-CN" -> "zh"), or of the default language."""
        primary = str(language or "").replace("_", "-").split("-")[0].lower()
        return self.languages.get(primary) or self.languages[self.default]

    def markers(self) -> Tuple[str, ...]:
        """Every language's "reply above this line" line: where an answer's quoted history starts."""
        return tuple(texts["reply_above"] for texts in self.languages.values())


@dataclass(frozen=True)
class MailSettings:
    """What composing and checking reply addresses need (from handoff/settings.py: ``from_settings``)."""

    mail_from: str  # "Shop Support <support@shop.example>"
    domain: str  # of the reply addresses
    secret: str  # of the reply tokens
    reply_local: str = "support"
    text: MailText = field(default_factory=MailText.load)

    @classmethod
    def from_settings(cls, settings: Any) -> "MailSettings":
        return cls(mail_from=settings.mail_from, domain=settings.mail_domain, secret=settings.mail_secret,
                   reply_local=settings.mail_reply_local, text=MailText.load(settings.mail_text_file))

    @property
    def envelope_from(self) -> str:
        """The bare address of ``mail_from`` (SMTP MAIL FROM: where bounces go)."""
        return parseaddr(self.mail_from)[1]


def recipient(email: Any) -> str:
    """The requester's address checked: one plain ASCII ``user@host``; MailError otherwise."""
    raw = str(email or "")
    name, addr = parseaddr(raw)
    user, at, host = addr.rpartition("@")
    if not raw or name or addr != raw.strip() or not user or not at or not _DOMAIN.match(host) \
            or not raw.isascii() or _CONTROL.search(raw) or any(c.isspace() for c in addr) or "@" in user:
        raise MailError(f"not a usable e-mail address: {raw[:100]!r}")
    return addr


def message_id(ticket_id: str, reply: Mapping[str, Any], domain: str) -> str:
    """``<t.<hash>@domain>``, the same for the same ticket and timeline entry."""
    key = f"{ticket_id}:{reply.get('message_id') or reply.get('seq')}"
    return f"<t.{hashlib.sha256(key.encode('utf-8')).hexdigest()[:24]}@{domain}>"


def compose(ticket: Mapping[str, Any], reply: Mapping[str, Any], settings: MailSettings) -> EmailMessage:
    """The mail of the public reply ``reply`` (a timeline entry) on ``ticket`` (the ticket view), to the requester."""
    if reply.get("kind") != "reply" or reply.get("public") is not True:
        raise MailError(f"only public replies are mailed, not a {reply.get('kind')!r} entry "
                        f"(public={reply.get('public')!r})")
    requester = ticket.get("requester") or {}
    to = recipient(requester.get("email"))
    texts = settings.text.pick(requester.get("language") or ticket.get("language"))
    label = one_line(ticket["label"], 20)
    subject = one_line(ticket.get("subject")) or texts["no_subject"].format(label=label)
    message = EmailMessage()
    message["Subject"] = one_line(texts["subject"].format(label=label, subject=subject))
    message["From"] = settings.mail_from
    name = one_line(requester.get("name"), 80)
    message["To"] = Address(display_name=name, addr_spec=to)
    message["Reply-To"] = reply_address(str(ticket["id"]), label, settings.secret, settings.reply_local,
                                        settings.domain)
    message["Message-ID"] = message_id(str(ticket["id"]), reply, settings.domain)
    message["References"] = f"<ticket.{ticket['id']}@{settings.domain}>"  # one thread per ticket in mail clients
    message["Date"] = format_datetime(_when(reply.get("at")))
    body = (f"{texts['reply_above']}\n\n{str(reply.get('text') or '').strip()}\n\n-- \n"
            f"{texts['footer'].format(label=label).strip()}\n")
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    message.set_content(body, subtype="plain", charset="utf-8",
                        cte="quoted-printable" if body.isascii() else "base64")
    return message


def _when(at: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.now(timezone.utc)

