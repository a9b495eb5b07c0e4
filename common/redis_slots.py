"""Redis Cluster clients that keep the project's transactions: MULTI/EXEC and WATCH on the keys of one hash slot.

Why this exists: redis-py 4.x (pinned by Rasa 3.6) gives a cluster client whose ``pipeline(transaction=True)``
raises "transaction is deprecated in cluster mode", yet Redis Cluster itself runs MULTI/EXEC and WATCH on one
node when every key is in one hash slot, and the project's stores rely on them (a ticket saved with its indexes;
an outbox item moved with its mark). ``AsyncClusterClient.pipeline(transaction=True)`` returns a plain redis-py
transaction pipeline bound, at its first keyed command, to the master that serves the slot of that key; a key
of another slot raises ``CrossSlot`` before anything is sent. A script run with no key is refused too: the
cluster client would send it to a random node, where its keys are not.

When the slot has moved (MOVED, or the master is gone: failover), the cluster's map is refreshed; a transaction
that was not WATCHing is sent again to the new master, one that was WATCHing raises ``WatchError`` (its reads
may be stale), which the callers already retry. A cluster that is down or unreachable (CLUSTERDOWN, TRYAGAIN,
"cannot be connected") raises redis' ``ConnectionError``, as one unreachable Redis does: the callers' "Redis is
unavailable, retry shortly" paths (503 to the bot, retries in the bridge) stay the same on a cluster.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.client import Pipeline as SyncPipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, ExecAbortError, RedisClusterException, ResponseError
from redis.exceptions import SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TryAgainError, WatchError

KEYLESS = {"MULTI", "EXEC", "DISCARD", "UNWATCH", "SCRIPT EXISTS", "SCRIPT LOAD", "PING"}
SCRIPT_COMMANDS = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO"}


class CrossSlot(RedisClusterException):
    """A transaction or script over keys of two hash slots: Redis Cluster would answer CROSSSLOT."""


class KeylessScript(RedisClusterException):
    """A script run with no key: on a cluster it would run on a random node, not on its keys' node."""


def check_script_keys(args: Tuple[Any, ...]) -> None:
    """KeylessScript for EVAL/EVALSHA with numkeys 0."""
    if str(args[0]).upper() in SCRIPT_COMMANDS and len(args) > 2 and int(args[2]) == 0:
        raise KeylessScript("a Lua script on Redis Cluster needs its keys in KEYS (at least one, to be routed)")


def one_slot(client: Any, *keys: str) -> bool:
    """Whether one transaction or script of ``client`` may touch all ``keys``: always on a single Redis; on a
    cluster only when they hash to one slot (the bot's ``{shop}`` keys and the service's ``{ho}`` ones do not)."""
    if not isinstance(client, (aioredis.RedisCluster, redis.RedisCluster)):
        return True
    return len({key_slot(key.encode()) for key in keys}) == 1


UNREACHABLE = ("Redis Cluster cannot be connected", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN")


def as_unavailable(error: Exception) -> Exception:
    """A cluster that is down or unreachable as redis' ConnectionError (see the module); other errors as they are."""
    if isinstance(error, (ClusterDownError, TryAgainError, SlotNotCoveredError)) or str(error).startswith(UNREACHABLE):
        unavailable = RedisConnectionError(f"Redis Cluster unavailable: {error}")
        unavailable.__cause__ = error
        return unavailable
    return error


def _moved(error: Exception) -> bool:
    """MOVED/ASK (redis-py raises them as AskError; the text is the slot and address), a transaction aborted by
    one of them, a cluster down for a moment, or a master gone."""
    return isinstance(error, (AskError, ExecAbortError, ClusterDownError, TryAgainError, RedisConnectionError)) or \
        str(error).startswith(("MOVED", "ASK", "CLUSTERDOWN", "EXECABORT", "TRYAGAIN"))


class SlotTransaction(Pipeline):
    """A MULTI/EXEC pipeline (WATCH included) on the master of one hash slot of ``cluster``."""

    def __init__(self, cluster: "AsyncClusterClient") -> None:
        super().__init__(connection_pool=None, response_callbacks=dict(aioredis.Redis.RESPONSE_CALLBACKS),
                         transaction=True, shard_hint=None)
        self._cluster = cluster
        self._slot: Optional[int] = None

    async def _bind(self, commands: Iterable[Tuple[Any, ...]]) -> None:
        slots = set() if self._slot is None else {self._slot}
        for args in commands:
            check_script_keys(args)
            if str(args[0]).upper() in KEYLESS:
                continue
            slots.add(await self._cluster.slot_of(args))
        if len(slots) > 1:
            raise CrossSlot(f"one transaction over keys of hash slots {sorted(slots)}; give them one hash tag")
        if self.connection_pool is None:
            if not slots:
                raise RedisClusterException("a transaction on Redis Cluster needs a key to find its node")
            self._slot = slots.pop()
            self.connection_pool = await self._cluster.slot_pool(self._slot)

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            await self._bind([args])
            return await super().immediate_execute_command(*args, **options)
        except (ResponseError, RedisConnectionError, RedisClusterException) as e:
            if _moved(e):
                await self._cluster.refresh()
                if self.watching or args[0] == "WATCH":
                    raise WatchError(f"the slot moved while watching: {e}") from e
            raise as_unavailable(e)

    async def execute(self, raise_on_error: bool = True) -> List[Any]:
        try:
            return await self._execute(raise_on_error)
        except (ResponseError, RedisConnectionError, RedisClusterException) as e:
            raise as_unavailable(e)

    async def _execute(self, raise_on_error: bool) -> List[Any]:
        stack, watching = list(self.command_stack), self.watching
        if stack:
            await self._bind(args for args, _options in stack)
        try:
            return await super().execute(raise_on_error)
        except (ResponseError, RedisConnectionError) as e:
            if not _moved(e):
                raise
            await self._cluster.refresh()
            if watching:
                raise WatchError(f"the slot moved during the transaction: {e}") from e
        # Not watching: nothing was read, so the same commands go to the slot's new master, once.
        self.command_stack = stack
        await self._bind(args for args, _options in stack)
        return await super().execute(raise_on_error)

    async def reset(self) -> None:
        await super().reset()
        self._slot, self.connection_pool = None, None


class _ClusterPipeline(ClusterPipeline):
    """redis-py's pipeline without a transaction (commands grouped by node), with the errors of a cluster that is
    down as ConnectionError."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> List[Any]:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except (ResponseError, RedisClusterException) as e:
            raise as_unavailable(e)


class AsyncClusterClient(aioredis.RedisCluster):
    """redis-py's asyncio cluster client, with one-slot transactions and no keyless scripts (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot_pools: Dict[Tuple[str, int], aioredis.ConnectionPool] = {}

    def pipeline(self, transaction: Optional[Any] = None, shard_hint: Optional[Any] = None) -> Any:
        if transaction:
            return SlotTransaction(self)
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _ClusterPipeline(self)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        check_script_keys(args)
        try:
            return await super().execute_command(*args, **kwargs)
        except (ResponseError, RedisClusterException) as e:
            raise as_unavailable(e)
        except RuntimeError as e:
            # redis-py 4.6's asyncio cluster client, while a master restarts, fails inside its own connection
            # handling ("dictionary changed size during iteration" over a node's connections; "unable to perform
            # operation on <TCPTransport closed=True>"): a connection failure like any other, so the callers'
            # "Redis unavailable, retry" paths answer 503 instead of 500 (tests/handoff/test_cluster.py's restart).
            unavailable = RedisConnectionError(f"Redis Cluster unavailable: {e!r}")
            unavailable.__cause__ = e
            raise unavailable

    async def slot_of(self, args: Tuple[Any, ...]) -> int:
        """The hash slot of a command's keys (CROSSSLOT-like error when they are in several)."""
        await self.initialize()
        try:
            return await self._determine_slot(*args)
        except RedisClusterException as e:
            if "same slot" in str(e):
                raise CrossSlot(f"{args[0]} over keys of several hash slots: {e}") from e
            raise

    async def slot_pool(self, slot: int) -> aioredis.ConnectionPool:
        """A connection pool to the master now serving ``slot`` (one per master, kept)."""
        await self.initialize()
        node = self.nodes_manager.get_node_from_slot(slot)
        address = (node.host, int(node.port))
        if address not in self._slot_pools:
            kwargs = {k: v for k, v in self.connection_kwargs.items() if k != "response_callbacks"}
            self._slot_pools[address] = aioredis.ConnectionPool(**{**kwargs, "host": node.host, "port": node.port})
        return self._slot_pools[address]

    async def refresh(self) -> None:
        """Read the cluster's slot map again (after MOVED or a lost master); when no node answers, the command
        that follows fails on its own."""
        try:
            await self.nodes_manager.initialize()
        except (RedisClusterException, RedisConnectionError, OSError):
            pass

    async def close(self) -> None:
        # redis-py calls close() on every connection error, so several run at once while a master restarts:
        # take the pools out first (iterating the dict across the awaits raised "dictionary changed size").
        pools, self._slot_pools = list(self._slot_pools.values()), {}
        for pool in pools:
            await pool.disconnect()
        await super().close()


class SyncSlotTransaction(SyncPipeline):
    """The synchronous twin of SlotTransaction (Rasa's lock and tracker stores are synchronous)."""

    def __init__(self, cluster: "ClusterClient") -> None:
        super().__init__(connection_pool=None, response_callbacks=dict(redis.Redis.RESPONSE_CALLBACKS),
                         transaction=True, shard_hint=None)
        self._cluster = cluster
        self._slot: Optional[int] = None

    def _bind(self, commands: Iterable[Tuple[Any, ...]]) -> None:
        slots = set() if self._slot is None else {self._slot}
        for args in commands:
            check_script_keys(args)
            if str(args[0]).upper() not in KEYLESS:
                try:
                    slots.add(self._cluster.determine_slot(*args))
                except RedisClusterException as e:
                    raise CrossSlot(f"{args[0]} over keys of several hash slots: {e}") from e
        if len(slots) > 1:
            raise CrossSlot(f"one transaction over keys of hash slots {sorted(slots)}; give them one hash tag")
        if self.connection_pool is None:
            if not slots:
                raise RedisClusterException("a transaction on Redis Cluster needs a key to find its node")
            self._slot = slots.pop()
            node = self._cluster.nodes_manager.get_node_from_slot(self._slot)
            self.connection_pool = node.redis_connection.connection_pool

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            self._bind([args])
            return super().immediate_execute_command(*args, **options)
        except (ResponseError, RedisConnectionError, RedisClusterException) as e:
            if _moved(e):
                self._cluster.refresh()
                if self.watching or args[0] == "WATCH":
                    raise WatchError(f"the slot moved while watching: {e}") from e
            raise as_unavailable(e)

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        stack, watching = list(self.command_stack), self.watching
        try:
            if stack:
                self._bind(args for args, _options in stack)
            try:
                return super().execute(raise_on_error)
            except (ResponseError, RedisConnectionError) as e:
                if not _moved(e):
                    raise
                self._cluster.refresh()
                if watching:
                    raise WatchError(f"the slot moved during the transaction: {e}") from e
            self.command_stack = stack  # not watching: sent again to the slot's new master, once
            self._bind(args for args, _options in stack)
            return super().execute(raise_on_error)
        except (ResponseError, RedisConnectionError, RedisClusterException) as e:
            raise as_unavailable(e)

    def reset(self) -> None:
        super().reset()
        self._slot, self.connection_pool = None, None


class ClusterClient(redis.RedisCluster):
    """redis-py's synchronous cluster client, with one-slot transactions and no keyless scripts."""

    def pipeline(self, transaction: Optional[Any] = None, shard_hint: Optional[Any] = None) -> Any:
        if transaction:
            return SyncSlotTransaction(self)
        return super().pipeline(None, shard_hint)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        check_script_keys(args)
        try:
            return super().execute_command(*args, **kwargs)
        except (ResponseError, RedisClusterException) as e:
            raise as_unavailable(e)

    def refresh(self) -> None:
        try:
            self.nodes_manager.initialize()
        except (RedisClusterException, RedisConnectionError, OSError):
            pass
