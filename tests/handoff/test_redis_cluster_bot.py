"""The bot's Redis keys on a real 3-master Redis Cluster (tests/handoff/redis_cluster.py): the keys it moves items
between in one command or script share one hash slot, so the handoff outbox drains on a cluster as on one Redis.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List

import aiohttp
from redis.crc import key_slot

import actions.delivery as delivery
import actions.tickets as action_tickets
import actions.topic_counts as topic_counts
import bot.bridge.forwarding as forwarding
import bot.bridge.keys as bridge_keys
import bot.bridge.outbox as outbox_keys
import bot.bridge.stream as handoff_events
import bot.bridge.surveys as survey_requests
import bot.bridge.tickets as ticket_replies
import common.undelivered as undelivered
from common.redis_config import redis_client
from handoff.settings import Settings
from tests.standin import StandIn
from tests.unit.test_outbox import Recorded, request


def bot_keys() -> Dict[str, str]:
    """Every Redis key (or key family, with a conversation id appended) the bot, the action server and the
    handoff service's readers of the bot's data use."""
    modules = [delivery, action_tickets, bridge_keys, forwarding, handoff_events, outbox_keys, survey_requests,
               ticket_replies, undelivered]
    keys = {f"{m.__name__}.{name}": value for m in modules for name, value in vars(m).items()
            if name.isupper() and isinstance(value, str) and "shop" in value}
    keys["topic_counts"] = topic_counts.topic_key("returns", 0)
    settings = Settings  # the defaults
    keys.update({"settings.conversations_key": settings.conversations_key + "2026-12-06",
                 "settings.undelivered_key": settings.undelivered_key,
                 "settings.dead_events_key": settings.dead_events_key})
    return {name: key + "conv-1" if key.endswith(":") else key for name, key in keys.items()}


def test_every_bot_key_is_on_one_hash_slot():
    keys = bot_keys()
    assert len(keys) > 20
    slots = {name: key_slot(key.encode()) for name, key in keys.items()}
    outbox = slots["bot.bridge.outbox.OUTBOX"]
    # old names: shop:handoff:outbox, shop:handoff:sending... each on a slot of its own (LMOVE: CROSSSLOT)
    assert {name for name, slot in slots.items() if slot != outbox} == set()


def test_the_outbox_drains_and_parks_on_a_redis_cluster(redis_cluster, monkeypatch):
    monkeypatch.setenv("REDIS_CLUSTER", "1")
    r = redis_client(redis_cluster.url, cluster=True, decode_responses=True)
    for key in (outbox_keys.OUTBOX, outbox_keys.SENDING, outbox_keys.ACTIVE, undelivered.UNDELIVERED):
        r.delete(key)
    for conversation in ("big", "a", "b"):
        r.rpush(outbox_keys.OUTBOX, json.dumps(request(conversation)))
        r.hset(outbox_keys.ACTIVE, conversation, "pending")

    async def scenario() -> List[Any]:
        service = await StandIn(lambda path, body: 413 if body["conversation_id"] == "big" else None).start()
        bridge = Recorded(redis_cluster.url, service.url, "token")
        bridge.retry_first_seconds, bridge.retry_max_seconds, bridge.outbox_poll_seconds = 0.3, 1.0, 0.05
        bridge.session = aiohttp.ClientSession()
        task = asyncio.ensure_future(bridge._drain(outbox_keys.OUTBOX, outbox_keys.SENDING, bridge._send))
        deadline = time.monotonic() + 15
        while len(service.conversations()) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        task.cancel()
        await bridge.session.close()
        await bridge.redis.close()
        await service.stop()
        return [service.conversations(), bridge.told]

    sent, told = asyncio.run(scenario())
    assert sent == ["big", "a", "b"]  # old names: nothing sent, every LMOVE refused (CROSSSLOT)
    assert [(p["conversation_id"], p["status"]) for p in map(json.loads, r.lrange(undelivered.UNDELIVERED, 0, -1))] \
        == [("big", 413)]
    assert ("big", "utter_handoff_failed") in told
    assert r.hgetall(outbox_keys.ACTIVE) == {"a": "esc-a", "b": "esc-b"}
    assert r.llen(outbox_keys.OUTBOX) == 0 and r.llen(outbox_keys.SENDING) == 0


def test_keys_under_the_old_names_are_moved_to_the_tagged_ones_and_merged(redis_server):
    from common.redis_keys import migrate_legacy_keys
    from common.redis_config import async_redis_client

    r = redis_client(redis_server, cluster=False, decode_responses=True)
    r.flushdb()
    # what a version before the tag left behind
    r.rpush("shop:handoff:outbox", "old-1", "old-2")
    r.hset("shop:handoff:active", mapping={"c1": "e1", "c2": "old"})
    r.sadd("shop:handoff:forwarding", "c1")
    r.zadd("shop:chat:online", {"c1": 5.0})
    r.pfadd("shop:stats:conversations:2026-12-05", "c1", "c2")
    r.set("shop:tickets:awaiting:c1", "T-1", ex=600)
    r.set("shop:tracker:c1", "rasa's tracker")  # Rasa's own key: stays where Rasa reads it
    # what the new version wrote before its leader moved them
    r.rpush(outbox_keys.OUTBOX, "new-1")
    r.hset(outbox_keys.ACTIVE, "c2", "new")
    r.pfadd("{shop}:stats:conversations:2026-12-05", "c2", "c3")

    async def migrate() -> Any:
        client = async_redis_client(redis_server, cluster=False, decode_responses=True)
        try:
            return await migrate_legacy_keys(client), await migrate_legacy_keys(client)
        finally:
            await client.close()

    first, again = asyncio.run(migrate())
    assert len(first) == 6 and again == []
    assert r.lrange(outbox_keys.OUTBOX, 0, -1) == ["old-1", "old-2", "new-1"]  # the oldest are sent first
    assert r.hgetall(outbox_keys.ACTIVE) == {"c1": "e1", "c2": "new"}
    assert r.smembers(forwarding.FORWARDING) == {"c1"}
    assert r.zscore(ticket_replies.ONLINE, "c1") == 5.0
    assert r.pfcount("{shop}:stats:conversations:2026-12-05") == 3
    assert r.get(ticket_replies.AWAITING + "c1") == "T-1" and r.ttl(ticket_replies.AWAITING + "c1") > 0
    assert r.get("shop:tracker:c1") == "rasa's tracker"
    assert sorted(r.keys("shop:*")) == ["shop:tracker:c1"]


def test_a_failing_event_is_parked_and_replayed_on_a_redis_cluster(redis_cluster):
    """The dead list is the bot's ({shop}), the stream the service's ({ho}): two slots, no script over both."""
    from bot.bridge.stream import EventFollower
    from bot.undelivered import replay
    from common.redis_config import async_redis_client

    stream = "{ho}:events"
    r = redis_client(redis_cluster.url, cluster=True, decode_responses=True)
    for key in (stream, undelivered.DEAD_EVENTS, undelivered.UNDELIVERED):  # the session's cluster: start empty
        r.delete(key)
    r.xgroup_create(stream, "bridge", id="0", mkstream=True)  # the bridge's group, from before the event
    event = {"type": "message", "conversation_id": "c9", "message": {"speaker": "agent", "text": "hi"}}
    first = r.xadd(stream, {"to": "ann", "e": json.dumps(event)})

    async def follow() -> None:
        client = async_redis_client(redis_cluster.url, cluster=True, decode_responses=True)

        async def fail(event_id: str, event: Dict[str, Any]) -> None:
            raise RuntimeError("the customer's socket is gone")

        task = asyncio.ensure_future(EventFollower(client, stream, fail, tries=1, retry_seconds=0.01).run())
        deadline = time.monotonic() + 10
        while not r.llen(undelivered.DEAD_EVENTS) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        task.cancel()
        await client.close()

    asyncio.run(follow())
    parked = [json.loads(x) for x in r.lrange(undelivered.DEAD_EVENTS, 0, -1)]
    assert [(p["id"], p["event"]) for p in parked] == [(first, event)]  # old code: CROSSSLOT, never parked
    assert r.xpending(stream, "bridge")["pending"] == 0  # acknowledged once parked

    assert replay(r, stream=stream) == 1  # old code: the script over both keys is refused
    assert r.llen(undelivered.DEAD_EVENTS) == 0
    again = r.xrange(stream)[-1]
    assert json.loads(again[1]["e"]) == event and again[1]["to"] == ""


def test_rasa_trackers_are_kept_on_every_node_of_a_redis_cluster(redis_cluster, monkeypatch):
    """endpoints.yml's tracker store, on the cluster: each tracker a key of its own, spread over the masters."""
    from rasa.core.tracker_store import RedisTrackerStore, create_tracker_store
    from rasa.core.utils import read_endpoints_from_path
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from redis.exceptions import ResponseError

    from bot.tracker_store import RedisClusterTrackerStore

    port = redis_cluster.ports[0]
    for name, value in {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_DB": "0", "REDIS_PASSWORD": "",
                        "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook", "ACTION_SERVER_TOKEN": "t",
                        "REDIS_CLUSTER": "1"}.items():
        monkeypatch.setenv(name, value)
    endpoints = read_endpoints_from_path("endpoints.yml")
    store = create_tracker_store(endpoints.tracker_store, Domain.empty())
    assert isinstance(store, RedisClusterTrackerStore)  # Rasa falls back to memory on a wrong type: not here

    senders = [f"cluster-{i}" for i in range(30)]

    async def save_and_read() -> List[Any]:
        for sender in senders:
            tracker = DialogueStateTracker.from_events(sender, [UserUttered(f"hello from {sender}")])
            await store.save(tracker)
        return [await store.retrieve(sender) for sender in senders]

    trackers = asyncio.run(save_and_read())
    assert [t.latest_message.text for t in trackers] == [f"hello from {s}" for s in senders]
    assert sorted(asyncio.run(store.keys())) == sorted(f"shop:tracker:{s}" for s in senders)
    assert len({redis_cluster.node_of(f"shop:tracker:{s}") for s in senders}) == 3  # on every master

    stock = RedisTrackerStore(Domain.empty(), host="127.0.0.1", port=port, key_prefix="shop")  # Rasa's own
    try:
        asyncio.run(stock.retrieve(next(s for s in senders if redis_cluster.node_of(f"shop:tracker:{s}") != port)))
        moved = False
    except ResponseError as e:
        moved = str(e).startswith("MOVED")
    assert moved  # what the stock store does with a tracker on another node


def test_the_lock_store_serves_conversations_on_every_master_of_a_redis_cluster(redis_cluster, monkeypatch):
    """endpoints.yml's lock store with REDIS_CLUSTER=1: one key per conversation, on its own master; two messages
    of one conversation still one after the other."""
    from rasa.core.lock import TicketLock
    from rasa.core.lock_store import LockStore
    from rasa.core.utils import read_endpoints_from_path

    from bot.lock_store import AtomicRedisLockStore

    for name, value in {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_cluster.ports[0]), "REDIS_DB": "0",
                        "REDIS_PASSWORD": "", "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook",
                        "ACTION_SERVER_TOKEN": "t", "REDIS_CLUSTER": "1"}.items():
        monkeypatch.setenv(name, value)
    store = LockStore.create(read_endpoints_from_path("endpoints.yml").lock_store)
    assert isinstance(store, AtomicRedisLockStore)
    conversations = [f"locked-{i}" for i in range(12)]
    assert len({redis_cluster.node_of(store.key(c)) for c in conversations}) == 3
    order: List[str] = []

    async def handle(conversation: str, name: str) -> None:
        async with store.lock(conversation, lock_lifetime=10, wait_time_in_seconds=0.01):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    async def scenario() -> None:
        for conversation in conversations:
            await asyncio.gather(handle(conversation, f"{conversation}/a"), handle(conversation, f"{conversation}/b"))

    asyncio.run(scenario())
    for conversation in conversations:  # never together: each message in and out before the next one
        mine = [o for o in order if o.startswith(conversation + "/")]
        assert mine in ([f"{conversation}/a in", f"{conversation}/a out", f"{conversation}/b in",
                         f"{conversation}/b out"], [f"{conversation}/b in", f"{conversation}/b out",
                                                    f"{conversation}/a in", f"{conversation}/a out"])
        assert store.get_lock(conversation) is None  # returned, and the key gone
    lock = TicketLock(conversations[0])
    lock.issue_ticket(30)
    store.save_lock(lock)  # a MULTI on the conversation's key, on its master
    assert store.get_lock(conversations[0]).last_issued == lock.last_issued
