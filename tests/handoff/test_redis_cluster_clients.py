"""The factory's cluster clients (common/redis_config.py, common/redis_slots.py) on a real 3-master Redis Cluster:
MULTI/EXEC and WATCH over the keys of one hash slot work wherever that slot lives; keys of two slots are refused
before anything is written; a script with no key is refused instead of running on a random node."""
from __future__ import annotations

import asyncio
from typing import Any, List

import pytest
import redis as redis_lib
from redis.exceptions import WatchError

from common.redis_config import async_redis_client, redis_client
from common.redis_slots import CrossSlot, KeylessScript


def tags_on_every_node(cluster: Any) -> List[str]:
    """One hash tag per master (so each test also runs on the nodes the URL does not name)."""
    found = {}
    for i in range(1000):
        tag = f"{{t{i}}}"
        found.setdefault(cluster.node_of(tag), tag)
        if len(found) == len(cluster.ports):
            return list(found.values())
    raise AssertionError("no tag for some master")


def test_async_transactions_on_one_slot_run_on_its_master(redis_cluster):
    tags = tags_on_every_node(redis_cluster)

    async def scenario() -> List[Any]:
        r = async_redis_client(redis_cluster.url, cluster=True, decode_responses=True)
        out = []
        try:
            for tag in tags:
                async with r.pipeline(transaction=True) as pipe:
                    out.append(await pipe.rpush(f"{tag}:outbox", "a", "b").lmove(
                        f"{tag}:outbox", f"{tag}:sending", "LEFT", "RIGHT").llen(f"{tag}:outbox").execute())
                async with r.pipeline(transaction=True) as pipe:  # WATCH, read, MULTI, write
                    await pipe.watch(f"{tag}:count")
                    value = int(await pipe.get(f"{tag}:count") or 0)
                    pipe.multi()
                    pipe.set(f"{tag}:count", value + 1)
                    out.append(await pipe.execute())
                out.append(await r.get(f"{tag}:count"))
        finally:
            await r.close()
        return out

    out = asyncio.run(scenario())
    assert out == [[2, "a", 1], [True], "1"] * 3


def test_async_watch_sees_another_clients_write(redis_cluster):
    tag = tags_on_every_node(redis_cluster)[-1]

    async def scenario() -> None:
        r = async_redis_client(redis_cluster.url, cluster=True, decode_responses=True)
        other = async_redis_client(redis_cluster.url, cluster=True, decode_responses=True)
        try:
            async with r.pipeline(transaction=True) as pipe:
                await pipe.watch(f"{tag}:ticket")
                await pipe.get(f"{tag}:ticket")
                await other.set(f"{tag}:ticket", "changed meanwhile")
                pipe.multi()
                pipe.set(f"{tag}:ticket", "stale write")
                with pytest.raises(WatchError):
                    await pipe.execute()
            assert await r.get(f"{tag}:ticket") == "changed meanwhile"
        finally:
            await r.close()
            await other.close()

    asyncio.run(scenario())


def test_two_slots_in_one_transaction_or_a_keyless_script_are_refused_before_anything_is_written(redis_cluster):
    async def scenario() -> None:
        r = async_redis_client(redis_cluster.url, cluster=True, decode_responses=True)
        try:
            with pytest.raises(CrossSlot):
                async with r.pipeline(transaction=True) as pipe:
                    await pipe.rpush("shop:handoff:outbox", "x").rpush("shop:handoff:sending", "x").execute()
            assert await r.exists("shop:handoff:outbox", "shop:handoff:sending") == 0
            with pytest.raises(KeylessScript):
                await r.register_script("return redis.call('SET', ARGV[1], 1)")(args=["{ho}:x"])
        finally:
            await r.close()

    asyncio.run(scenario())


def test_the_synchronous_client_keeps_one_slot_transactions_too(redis_cluster):
    r = redis_client(redis_cluster.url, cluster=True, decode_responses=True)
    assert isinstance(r, redis_lib.RedisCluster)
    for tag in tags_on_every_node(redis_cluster):
        with r.pipeline(transaction=True) as pipe:
            pipe.watch(f"{tag}:lock")
            assert pipe.hgetall(f"{tag}:lock") == {}
            pipe.multi()
            pipe.hset(f"{tag}:lock", mapping={"n": 1}).pexpire(f"{tag}:lock", 60_000)
            assert pipe.execute() == [1, True]
        assert r.hgetall(f"{tag}:lock") == {"n": "1"}
    with pytest.raises(CrossSlot):
        with r.pipeline(transaction=True) as pipe:
            pipe.set("a", 1).set("b", 1).execute()
    assert r.exists("a") + r.exists("b") == 0


def test_redis_cluster_1_needs_a_redis_url_of_database_0_and_gives_cluster_clients():
    from common.redis_config import check_cluster_settings
    from common.redis_slots import AsyncClusterClient

    check_cluster_settings({})  # no cluster: nothing to check
    for env in ({"REDIS_CLUSTER": "1"}, {"REDIS_CLUSTER": "1", "REDIS_URL": "redis://10.0.0.5:6379/2"}):
        with pytest.raises(ValueError):
            check_cluster_settings(env)  # the embedded Redis is one server; a cluster has database 0 only
    check_cluster_settings({"REDIS_CLUSTER": "yes", "REDIS_URL": "redis://10.0.0.5:6379/0"})
    assert type(async_redis_client("redis://127.0.0.1:1/0", cluster=False)) is redis_lib.asyncio.Redis
    assert type(async_redis_client("redis://127.0.0.1:1/0", cluster=True)) is AsyncClusterClient


def test_a_transaction_follows_its_slot_to_another_master(redis_cluster):
    """Resharding moves a slot while a client has the old map: MOVED, the map is read again, the transaction
    is sent to the new master; one that was WATCHing raises WatchError for its caller to retry."""
    from tests.handoff.redis_cluster import move_slot

    tag = "{moving}"

    async def scenario() -> List[Any]:
        r = async_redis_client(redis_cluster.url, cluster=True, decode_responses=True)
        try:
            await r.rpush(f"{tag}:outbox", "a")
            first = redis_cluster.node_of(tag)
            move_slot(redis_cluster, tag, next(p for p in redis_cluster.ports if p != first))
            async with r.pipeline(transaction=True) as pipe:
                moved = await pipe.lmove(f"{tag}:outbox", f"{tag}:sending", "LEFT", "RIGHT").execute()
            move_slot(redis_cluster, tag, first)
            with pytest.raises(WatchError):
                async with r.pipeline(transaction=True) as pipe:
                    await pipe.watch(f"{tag}:sending")
            return [moved, await r.lrange(f"{tag}:sending", 0, -1), redis_cluster.node_of(tag) == first]
        finally:
            await r.close()

    assert asyncio.run(scenario()) == [["a"], ["a"], True]


def test_the_handoff_store_keeps_working_when_its_slot_moves(redis_cluster):
    """The store's scripts, MULTI reads and WATCHed ticket writes after a reshard of the service's slot (a master
    that never ran the scripts: they are loaded there on first use)."""
    from handoff.redis_store import RedisStore
    from handoff.store import Agent
    from tests.handoff.redis_cluster import move_slot

    prefix = "{resharded}:"

    async def scenario() -> List[Any]:
        store = RedisStore(async_redis_client(redis_cluster.url, cluster=True, decode_responses=True), prefix)
        try:
            await store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0)
            first, _ = await store.create("conv-1", "general", 10, {}, 2.0, 10.0)
            home = redis_cluster.node_of(prefix)
            move_slot(redis_cluster, prefix, next(p for p in redis_cluster.ports if p != home))
            offered = await store.offer_next("general", 3.0, 30.0)
            accepted = await store.accept(first.id, "ann", 4.0)
            again = await store.get(first.id)
            return [offered, accepted.status.value, [h["status"] for h in again.history],
                    redis_cluster.node_of(prefix) != home]
        finally:
            await store.close()

    offered, status, history, moved = asyncio.run(scenario())
    assert moved and status == "assigned" and offered[0] and history == ["waiting", "offered", "assigned"]
