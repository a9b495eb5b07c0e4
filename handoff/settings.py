"""The handoff service's settings: environment variables (HANDOFF_*), checked at start with clear errors."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from email.utils import parseaddr
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    bot_token: str  # the service token the bot (action server, channel) sends
    token_secret: str  # signs agents' session tokens
    host: str = "127.0.0.1"
    port: int = 5007
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "{ho}:"
    token_ttl_seconds: int = 8 * 3600
    reservation_seconds: float = 30.0  # an offer not accepted in this time goes to the next agent
    sweep_seconds: float = 1.0  # how often each process expires offers, overflows and fills free slots
    reconcile_seconds: float = 30.0  # how often the sweep tells the clocks of every open chat and ticket again
    agent_grace_seconds: float = 60.0  # an agent whose console is disconnected this long loses their chats
    max_missed_offers: int = 2  # offers an agent lets lapse in a row before being set away (0: never)
    # Failed logins allowed per agent id and per client address in a fixed window, then 429 with Retry-After.
    login_max_failures_per_agent: int = 5
    login_max_failures_per_address: int = 20
    login_window_seconds: int = 900
    auth_cache_seconds: float = 5.0  # how long a process trusts its copy of an account's access (handoff/access.py)
    max_body_bytes: int = 1_000_000
    # The event stream keeps what any consumer group (the bot's bridge) has not acknowledged, however much;
    # with no group at all, about this many events (handoff/event_retention.py).
    events_cap: int = 100_000
    skill_groups_file: Path = ROOT / "policy" / "skill_groups.yml"
    canned_responses_file: Path = ROOT / "policy" / "canned_responses.yml"
    # Browser origins besides the service's own that may open the agents' WebSocket (the pages it serves
    # are same-origin; list another only for a console hosted elsewhere): "https://console.example.com".
    allowed_origins: Tuple[str, ...] = ()
    # The bot's channel adds each conversation id to the HyperLogLog <prefix><YYYY-MM-DD> (UTC day): the
    # denominator of the handoff rate in GET /v1/stats/today. Keep a hash tag ({shop}) in it: on a Redis Cluster the
    # days are counted together (one PFCOUNT), so they must share a slot.
    conversations_key: str = "{shop}:stats:conversations:"
    # The bot's list of what it could not deliver here, parked for a person (GET /v1/undelivered).
    undelivered_key: str = "{shop}:handoff:undelivered"
    # The bridge's list of the events of this service's stream it gave up on, also shown there.
    dead_events_key: str = "{shop}:handoff:dead_events"
    # Drills and end-to-end tests only: a file holding seconds added to the service's clock (handoff/clocks/offset_clock.py).
    clock_file: Optional[Path] = None
    ticket_flows_file: Path = ROOT / "policy" / "ticket_flows.yml"
    surge_file: Path = ROOT / "policy" / "surge.yml"  # the surge rule (docs/surge.md)
    sla_file: Path = ROOT / "policy" / "sla.yml"  # service levels (docs/sla.md)
    survey_file: Path = ROOT / "policy" / "survey.yml"  # the survey's delay per group and follow-up (docs/survey.md)
    public_url: str = ""  # how customers reach this service (the survey e-mail's link): "https://help.shop.example"
    # Ticket e-mail (docs/ticket_mail.md). Out: on when smtp_host is set; in: on when mail_in_port is not 0.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: Optional[str] = None
    smtp_password: Optional[str] = field(default=None, repr=False)
    smtp_starttls: bool = False
    mail_from: str = ""  # "Shop Support <support@shop.example>"
    mail_reply_local: str = "support"  # reply addresses: <local>+T-10042.<token>@<mail_domain>
    mail_domain: str = ""  # default: the domain of mail_from
    mail_secret: str = field(default="", repr=False)  # signs reply addresses; default: derived from token_secret
    mail_tries: int = 8  # sends of one mail before it is parked in <prefix>mail:dead
    mail_retry_seconds: float = 30.0  # first retry after this, doubling (at most an hour)
    mail_in_host: str = "127.0.0.1"
    mail_in_port: int = 0
    mail_in_max_bytes: int = 10 * 1024 * 1024
    mail_text_file: Path = ROOT / "policy" / "ticket_mail.yml"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env

        def need(name: str, min_len: int) -> str:
            value = env.get(name, "")
            if not value:
                raise SettingsError(f"{name} is not set: the handoff service needs it (see README, 'Settings')")
            if len(value) < min_len:
                raise SettingsError(f"{name} must be at least {min_len} characters long")
            return value

        def number(name: str, default: float, kind: type = float, low: float = 0.0) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a{'n integer' if kind is int else ' number'}, not {raw!r}") from None
            if value <= low:
                raise SettingsError(f"{name} must be greater than {low:g}, not {raw}")
            return value

        sweep_seconds = number("HANDOFF_SWEEP_SECONDS", cls.sweep_seconds)
        grace = number("HANDOFF_AGENT_GRACE_SECONDS", cls.agent_grace_seconds)
        if grace <= sweep_seconds:
            raise SettingsError(f"HANDOFF_AGENT_GRACE_SECONDS ({grace:g}) must be greater than HANDOFF_SWEEP_SECONDS "
                                f"({sweep_seconds:g}): each process refreshes its agents' presence once a sweep")
        bot_token = need("HANDOFF_BOT_TOKEN", 16)
        token_secret = need("HANDOFF_TOKEN_SECRET", 32)
        return cls(
            bot_token=bot_token,
            token_secret=token_secret,
            host=env.get("HANDOFF_HOST", cls.host),
            port=int(number("HANDOFF_PORT", cls.port, int)),
            redis_url=env.get("HANDOFF_REDIS_URL", cls.redis_url),
            redis_prefix=env.get("HANDOFF_REDIS_PREFIX", cls.redis_prefix),
            token_ttl_seconds=int(number("HANDOFF_TOKEN_TTL_SECONDS", cls.token_ttl_seconds, int)),
            reservation_seconds=number("HANDOFF_RESERVATION_SECONDS", cls.reservation_seconds),
            sweep_seconds=sweep_seconds,
            reconcile_seconds=number("HANDOFF_RECONCILE_SECONDS", cls.reconcile_seconds),
            agent_grace_seconds=grace,
            max_missed_offers=int(number("HANDOFF_MAX_MISSED_OFFERS", cls.max_missed_offers, int, -1)),
            login_max_failures_per_agent=int(number("HANDOFF_LOGIN_MAX_FAILURES_PER_AGENT",
                                                    cls.login_max_failures_per_agent, int)),
            login_max_failures_per_address=int(number("HANDOFF_LOGIN_MAX_FAILURES_PER_ADDRESS",
                                                      cls.login_max_failures_per_address, int)),
            login_window_seconds=int(number("HANDOFF_LOGIN_WINDOW_SECONDS", cls.login_window_seconds, int)),
            auth_cache_seconds=number("HANDOFF_AUTH_CACHE_SECONDS", cls.auth_cache_seconds, float, -1),
            max_body_bytes=int(number("HANDOFF_MAX_BODY_BYTES", cls.max_body_bytes, int, 1024)),
            events_cap=int(number("HANDOFF_EVENTS_CAP", cls.events_cap, int)),
            skill_groups_file=Path(env.get("HANDOFF_SKILL_GROUPS", str(cls.skill_groups_file))),
            canned_responses_file=Path(env.get("HANDOFF_CANNED_RESPONSES", str(cls.canned_responses_file))),
            allowed_origins=origins(env.get("HANDOFF_ALLOWED_ORIGINS", "")),
            conversations_key=env.get("HANDOFF_CONVERSATIONS_KEY") or cls.conversations_key,
            undelivered_key=env.get("HANDOFF_UNDELIVERED_KEY") or cls.undelivered_key,
            dead_events_key=env.get("HANDOFF_DEAD_EVENTS_KEY") or cls.dead_events_key,
            clock_file=Path(env["HANDOFF_CLOCK_FILE"]) if env.get("HANDOFF_CLOCK_FILE") else None,
            ticket_flows_file=Path(env.get("HANDOFF_TICKET_FLOWS", str(cls.ticket_flows_file))),
            surge_file=Path(env.get("HANDOFF_SURGE_FILE", str(cls.surge_file))),
            sla_file=Path(env.get("HANDOFF_SLA_FILE", str(cls.sla_file))),
            survey_file=Path(env.get("HANDOFF_SURVEY_FILE", str(cls.survey_file))),
            public_url=public_url(env.get("HANDOFF_PUBLIC_URL", "")),
            **mail_settings(env, token_secret, number),
        )


def public_url(raw: str) -> str:
    """HANDOFF_PUBLIC_URL: empty, or an http(s) URL with a host and no query (links are built on it)."""
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment):
        raise SettingsError(f"HANDOFF_PUBLIC_URL must be an http(s) URL like https://help.shop.example, not {raw!r}")
    return url


def origins(raw: str) -> Tuple[str, ...]:
    """HANDOFF_ALLOWED_ORIGINS: comma-separated ``scheme://host[:port]``, as browsers send ``Origin``."""
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
                or parts.query or parts.fragment or "@" in parts.netloc:
            raise SettingsError(f"HANDOFF_ALLOWED_ORIGINS: {item!r} is not an origin like https://console.example.com "
                                "(scheme and host, optional port, nothing after)")
        out.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(out)


_HOST = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*/=?^_`{|}~.-]{1,40}$")


def mail_settings(env: Mapping[str, str], token_secret: str, number: Callable[..., float]) -> Dict[str, Any]:
    """The ticket e-mail settings (HANDOFF_SMTP_*, HANDOFF_MAIL_*), checked; ``number`` reads a positive number."""
    host = env.get("HANDOFF_SMTP_HOST", "").strip()
    in_port = int(number("HANDOFF_MAIL_IN_PORT", 0.0, int, -1))
    port = int(number("HANDOFF_SMTP_PORT", 25, int))
    for name, value in (("HANDOFF_SMTP_PORT", port), ("HANDOFF_MAIL_IN_PORT", in_port)):
        if value > 65535:
            raise SettingsError(f"{name} must be a port number (1-65535), not {value}")
    user, password = env.get("HANDOFF_SMTP_USER") or None, env.get("HANDOFF_SMTP_PASSWORD") or None
    if bool(user) != bool(password):
        raise SettingsError("HANDOFF_SMTP_USER and HANDOFF_SMTP_PASSWORD go together: set both or neither")
    starttls = env.get("HANDOFF_SMTP_STARTTLS", "0").strip().lower()
    if starttls not in ("", "0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"HANDOFF_SMTP_STARTTLS must be 1 or 0, not {starttls!r}")
    mail_from = env.get("HANDOFF_MAIL_FROM", "").strip()
    from_address = parseaddr(mail_from)[1]
    if mail_from and (from_address.count("@") != 1 or "\n" in mail_from or "\r" in mail_from):
        raise SettingsError(f"HANDOFF_MAIL_FROM must be an e-mail address such as "
                            f"'Shop Support <support@shop.example>', not {mail_from!r}")
    if (host or in_port) and not mail_from:
        raise SettingsError("HANDOFF_MAIL_FROM is not set: ticket e-mail (HANDOFF_SMTP_HOST or HANDOFF_MAIL_IN_PORT) "
                            "needs the address the mails come from")
    if host and not _HOST.match(host) and not re.match(r"^[0-9.]+$|^\[?[0-9a-fA-F:]+\]?$", host):
        raise SettingsError(f"HANDOFF_SMTP_HOST must be a host name or address, not {host!r}")
    domain = (env.get("HANDOFF_MAIL_DOMAIN", "").strip() or from_address.rpartition("@")[2]).lower()
    if domain and not _HOST.match(domain):
        raise SettingsError(f"HANDOFF_MAIL_DOMAIN must be a domain such as shop.example, not {domain!r}")
    local = env.get("HANDOFF_MAIL_REPLY_LOCAL", "").strip() or "support"
    if not _LOCAL.match(local):
        raise SettingsError(f"HANDOFF_MAIL_REPLY_LOCAL must be the part before the @ of an address, without '+' "
                            f"(such as support), not {local!r}")
    secret = env.get("HANDOFF_MAIL_SECRET", "")
    if secret and len(secret) < 16:
        raise SettingsError("HANDOFF_MAIL_SECRET must be at least 16 characters long")
    if not secret:  # a key of its own, derived: the token secret itself never signs anything a customer sees
        secret = hmac.new(token_secret.encode(), b"handoff ticket mail reply address", hashlib.sha256).hexdigest()
    return {
        "smtp_host": host, "smtp_port": port, "smtp_user": user, "smtp_password": password,
        "smtp_starttls": starttls in ("1", "true", "yes"), "mail_from": mail_from, "mail_reply_local": local,
        "mail_domain": domain, "mail_secret": secret,
        "mail_tries": int(number("HANDOFF_MAIL_TRIES", Settings.mail_tries, int)),
        "mail_retry_seconds": number("HANDOFF_MAIL_RETRY_SECONDS", Settings.mail_retry_seconds),
        "mail_in_host": env.get("HANDOFF_MAIL_IN_HOST", "").strip() or Settings.mail_in_host,
        "mail_in_port": in_port,
        "mail_in_max_bytes": int(number("HANDOFF_MAIL_IN_MAX_BYTES", Settings.mail_in_max_bytes, int, 1023)),
        "mail_text_file": Path(env.get("HANDOFF_MAIL_TEXT") or str(Settings.mail_text_file)),
    }
