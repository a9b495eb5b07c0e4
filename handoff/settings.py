"""The handoff service's settings: environment variables (HANDOFF_*), checked at start with clear errors."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Tuple
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
    # denominator of the handoff rate in GET /v1/stats/today.
    conversations_key: str = "shop:stats:conversations:"
    # The bot's list of what it could not deliver here, parked for a person (GET /v1/undelivered).
    undelivered_key: str = "shop:handoff:undelivered"
    # The bridge's list of the events of this service's stream it gave up on, also shown there.
    dead_events_key: str = "shop:handoff:dead_events"
    # Drills and end-to-end tests only: a file holding seconds added to the service's clock (handoff/clock.py).
    clock_file: Optional[Path] = None
    ticket_flows_file: Path = ROOT / "policy" / "ticket_flows.yml"

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
        return cls(
            bot_token=need("HANDOFF_BOT_TOKEN", 16),
            token_secret=need("HANDOFF_TOKEN_SECRET", 32),
            host=env.get("HANDOFF_HOST", cls.host),
            port=int(number("HANDOFF_PORT", cls.port, int)),
            redis_url=env.get("HANDOFF_REDIS_URL", cls.redis_url),
            redis_prefix=env.get("HANDOFF_REDIS_PREFIX", cls.redis_prefix),
            token_ttl_seconds=int(number("HANDOFF_TOKEN_TTL_SECONDS", cls.token_ttl_seconds, int)),
            reservation_seconds=number("HANDOFF_RESERVATION_SECONDS", cls.reservation_seconds),
            sweep_seconds=sweep_seconds,
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
        )


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
