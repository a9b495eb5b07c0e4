"""Rasa's Redis tracker store, also on a Redis Cluster (endpoints.yml ``tracker_store: type:
bot.tracker_store.RedisClusterTrackerStore``).

Why: Rasa 3.6's ``RedisTrackerStore`` talks to one Redis node (``redis.StrictRedis``); on a cluster two thirds of
the trackers (3 masters) live on another node and every read or write of them fails with MOVED. Each tracker is
one key (``shop:tracker:<conversation>``) read and written with single-key commands, so a cluster-aware client is
all it needs: with ``REDIS_CLUSTER=1`` this store's client is the project's factory's (common/redis_config.py);
otherwise it is Rasa's own store, unchanged. The trackers keep their names, so nothing moves.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Text

import redis
from rasa.core.tracker_store import RedisTrackerStore

from common.redis_config import cluster_enabled, redis_client, url_of


class RedisClusterTrackerStore(RedisTrackerStore):
    """Rasa's RedisTrackerStore; with REDIS_CLUSTER=1 its client finds each tracker's node (see the module)."""

    def __init__(self, domain: Any, host: Text = "localhost", port: int = 6379, db: int = 0,
                 username: Optional[Text] = None, password: Optional[Text] = None, use_ssl: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(domain, host=host, port=port, db=db, username=username or None,
                         password=password or None, use_ssl=use_ssl, **kwargs)
        if cluster_enabled():
            self.red = redis_client(url_of(host, port, username, password, use_ssl), cluster=True,
                                    decode_responses=True)

    async def keys(self) -> Iterable[Text]:
        """Every tracker's key; on a cluster, of every master (KEYS asks one node unless told otherwise)."""
        if isinstance(self.red, redis.RedisCluster):
            return self.red.keys(self.key_prefix + "*", target_nodes=redis.RedisCluster.PRIMARIES)
        return await super().keys()
