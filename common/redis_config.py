"""One Redis for the handoff outbox, or a clear error.

The action server writes handoff requests it could not deliver, and the open handoffs, to ``REDIS_URL``; the
Rasa server's bridge reads them, and the handoff service's event stream, from ``HANDOFF_REDIS_URL`` (or
``REDIS_URL``). Pointed at two different Redis servers, the outbox would be written to one and read from the
other, and never drained: every process refuses to start instead (the run command's settings check, the
action server, the Rasa server's bridge).

Every process builds its Redis clients here (``redis_client``, ``async_redis_client``): a plain client, or with
``REDIS_CLUSTER=1`` a cluster-aware one (REDIS_URL then names any node of a Redis Cluster; the client finds the
others). On a cluster, transactions and scripts may only touch keys of one hash slot: the handoff service's keys
share the tag ``{ho}``, the bot's the tag ``{shop}`` (common/redis_keys.py). Building a client does no I/O.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Tuple, Union
from urllib.parse import quote, urlparse

import redis
import redis.asyncio as aioredis

from common.redis_slots import AsyncClusterClient, ClusterClient

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


def cluster_enabled(env: Optional[Mapping[str, str]] = None) -> bool:
    """REDIS_CLUSTER=1 (or true/yes/on): REDIS_URL points at a node of a Redis Cluster."""
    value = (os.environ if env is None else env).get("REDIS_CLUSTER", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _cluster_url(url: str) -> str:
    """A cluster has database 0 only: a URL naming another one is a mistake worth stopping for."""
    if redis_identity(url)[2] != 0:
        raise ValueError(f"a Redis Cluster has only database 0, not the one of {hide_password(url)}")
    return url


def redis_client(url: str, cluster: Optional[bool] = None, decode_responses: bool = False,
                 **kwargs: Any) -> Union[redis.Redis, ClusterClient]:
    """A synchronous client of ``url``: cluster-aware when ``cluster`` (default: REDIS_CLUSTER), with MULTI/EXEC
    and WATCH kept for keys of one hash slot (common/redis_slots.py)."""
    if cluster if cluster is not None else cluster_enabled():
        return ClusterClient.from_url(_cluster_url(url), decode_responses=decode_responses, **kwargs)
    return redis.Redis.from_url(url, decode_responses=decode_responses, **kwargs)


def async_redis_client(url: str, cluster: Optional[bool] = None, decode_responses: bool = False,
                       **kwargs: Any) -> Union[aioredis.Redis, AsyncClusterClient]:
    """An asyncio client of ``url``: cluster-aware when ``cluster`` (default: REDIS_CLUSTER), with MULTI/EXEC
    and WATCH kept for keys of one hash slot (common/redis_slots.py)."""
    if cluster if cluster is not None else cluster_enabled():
        return AsyncClusterClient.from_url(_cluster_url(url), decode_responses=decode_responses, **kwargs)
    return aioredis.Redis.from_url(url, decode_responses=decode_responses, **kwargs)


def url_of(host: str, port: Any, username: Optional[str] = None, password: Optional[str] = None,
           ssl: bool = False, db: Any = 0) -> str:
    """The redis:// URL of Rasa's endpoint settings (url/port/db/password; empty strings, as unset ${VARS} give,
    count as none): what Rasa's stores get in endpoints.yml, for the factory."""
    auth = f"{quote(username or '', safe='')}:{quote(password, safe='')}@" if password else ""
    return f"{'rediss' if ssl else 'redis'}://{auth}{host or 'localhost'}:{int(port or 6379)}/{int(db or 0)}"


def check_cluster_settings(env: Mapping[str, str]) -> None:
    """ValueError unless REDIS_CLUSTER=1 comes with a REDIS_URL of database 0 (the run command's embedded Redis is
    one server, not a cluster). For the settings check at start (bot/settings.py)."""
    if not cluster_enabled(env):
        return
    url = env.get("REDIS_URL") or ""
    if not url:
        raise ValueError("REDIS_CLUSTER=1 needs REDIS_URL: a node of the Redis Cluster (redis://host:port/0)")
    _cluster_url(url)
