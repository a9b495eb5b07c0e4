"""One Redis for the handoff outbox, or a clear error.

The action server writes handoff requests it could not deliver, and the open handoffs, to ``REDIS_URL``; the
Rasa server's bridge reads them, and the handoff service's event stream, from ``HANDOFF_REDIS_URL`` (or
``REDIS_URL``). Pointed at two different Redis servers, the outbox would be written to one and read from the
other, and never drained: every process refuses to start instead (the run command's settings check, the
action server, the Rasa server's bridge). Pure; no I/O.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple
from urllib.parse import urlparse

LOOPBACK = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


class RedisMismatch(ValueError):
    """REDIS_URL and HANDOFF_REDIS_URL name different Redis databases; the message says what to do."""


def redis_identity(url: str) -> Tuple[str, int, int]:
    """(host, port, database) of a redis:// URL, loopback names counted as one host. ValueError when it is not
    a redis URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise ValueError(f"not a redis://host:port/db URL: {url!r}")
    path = parsed.path.lstrip("/") or "0"
    if not path.isdigit():
        raise ValueError(f"the database of {url!r} must be a number")
    host = parsed.hostname.lower()
    return ("127.0.0.1" if host in LOOPBACK else host, parsed.port or 6379, int(path))


def hide_password(url: str) -> str:
    parsed = urlparse(url)
    return url.replace(parsed.password, "***") if parsed.password else url


def check_one_redis(redis_url: Optional[str], handoff_redis_url: Optional[str]) -> None:
    """RedisMismatch when both are set and name different Redis databases."""
    if not (redis_url and handoff_redis_url):
        return
    try:
        same = redis_identity(redis_url) == redis_identity(handoff_redis_url)
    except ValueError as e:
        raise RedisMismatch(f"REDIS_URL or HANDOFF_REDIS_URL: {e}") from None
    if not same:
        raise RedisMismatch(
            f"REDIS_URL ({hide_password(redis_url)}) and HANDOFF_REDIS_URL ({hide_password(handoff_redis_url)}) "
            "name different Redis databases: the action server would queue undelivered handoff requests in one "
            "and the Rasa server read them from the other, so they would never be sent. Point both at the same "
            "Redis (or unset HANDOFF_REDIS_URL).")


def outbox_redis_url(env: Mapping[str, str]) -> Optional[str]:
    """The Redis of the handoff outbox (REDIS_URL, else HANDOFF_REDIS_URL); RedisMismatch when both are set
    and differ."""
    redis_url, handoff = env.get("REDIS_URL") or None, env.get("HANDOFF_REDIS_URL") or None
    check_one_redis(redis_url, handoff)
    return redis_url or handoff
