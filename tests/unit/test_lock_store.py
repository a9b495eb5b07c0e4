"""Contract of bot.lock_store.AtomicRedisLockStore against a real redis-server: one message of a conversation at
a time, in arrival order; expired tickets stop blocking; a release never drops a waiter; and Rasa builds it from
endpoints.yml."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import List

import pytest
import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from bot.lock_store import AtomicRedisLockStore, lock_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(redis_server: str) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(client=redis.Redis.from_url(redis_server), key_prefix="shop")


def conversation() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def test_tickets_are_served_in_the_order_they_were_issued(store):
    me = conversation()
    first, second, third = (store.issue_ticket(me) for _ in range(3))
    assert first < second < third
    assert [store.tickets_ahead(me, t) for t in (first, second, third)] == [0, 1, 2]
    store.cleanup(me, first)
    assert [store.tickets_ahead(me, t) for t in (second, third)] == [0, 1]
    store.cleanup(me, third)  # a later message that gave up does not jump the queue nor block it
    assert store.tickets_ahead(me, second) == 0


def test_messages_of_one_conversation_are_handled_one_at_a_time_in_arrival_order(store):
    me, log = conversation(), []

    async def handle(text: str) -> None:
        async with store.lock(me):
            log.append(("in", text))
            await asyncio.sleep(0.05)
            log.append(("out", text))

    async def scenario() -> None:
        tasks = []
        for text in ["one", "two", "three", "four"]:
            tasks.append(asyncio.ensure_future(handle(text)))
            await asyncio.sleep(0.005)  # arrival order
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert log == [(step, text) for text in ["one", "two", "three", "four"] for step in ("in", "out")]
    assert store.get_lock(me) is None
    assert not store.red.exists(lock_key("shop", me))  # nothing left behind


def test_tickets_taken_at_the_same_instant_from_many_connections_are_all_different(store, redis_server):
    """Rasa's RedisLockStore reads the queue, adds a ticket in Python and writes it back: two servers can get the
    same number. Here the number comes from one atomic script."""
    me, numbers, start = conversation(), [], threading.Barrier(8)

    def take() -> None:
        mine = AtomicRedisLockStore(client=redis.Redis.from_url(redis_server), key_prefix="shop")
        start.wait()
        got = [mine.issue_ticket(me) for _ in range(40)]
        numbers.extend(got)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(numbers) == 320 and len(set(numbers)) == 320
    assert sorted(store.tickets_ahead(me, n) for n in numbers) == list(range(320))


def test_releasing_while_another_message_waits_keeps_the_waiters_ticket(store):
    me = conversation()
    first, second = store.issue_ticket(me), store.issue_ticket(me)
    store.cleanup(me, first)
    assert store.tickets_ahead(me, second) == 0
    assert store.is_someone_waiting(me)
    store.cleanup(me, second)
    assert not store.is_someone_waiting(me)


def test_a_holder_that_never_returns_its_ticket_blocks_only_for_the_ticket_lifetime(store):
    me = conversation()
    crashed = store.issue_ticket(me, lock_lifetime=0.3)  # a server that died while handling a message

    async def next_message() -> float:
        started = time.monotonic()
        async with store.lock(me, wait_time_in_seconds=1):
            return time.monotonic() - started

    waited = asyncio.run(next_message())
    assert 0.2 < waited < 1.5, waited
    assert store.tickets_ahead(me, crashed) == -1  # its ticket is gone


def test_a_message_whose_ticket_expires_while_it_waits_is_refused(store):
    me = conversation()
    store.issue_ticket(me, lock_lifetime=5)  # a long first message

    async def late() -> None:
        async with store.lock(me, lock_lifetime=0.2):
            pass

    with pytest.raises(LockError):
        asyncio.run(late())
    assert store.is_someone_waiting(me)  # the first message still holds the lock


def test_the_next_message_waits_for_the_first_not_for_a_poll_second(store):
    """Rasa's lock store looks again every second (its default wait time): a customer's quick second message
    waited up to a second more than needed."""
    me = conversation()

    async def scenario() -> float:
        released = asyncio.Event()
        released_at: List[float] = []

        async def first() -> None:
            async with store.lock(me):
                await asyncio.sleep(0.1)
                released_at.append(time.monotonic())
            released.set()

        async def second() -> float:
            await asyncio.sleep(0.02)
            async with store.lock(me):
                return time.monotonic()

        _, entered = await asyncio.gather(first(), second())
        return entered - released_at[0]

    assert asyncio.run(scenario()) < 0.3


def test_the_key_lives_no_longer_than_its_newest_ticket(store):
    me = conversation()
    ticket = store.issue_ticket(me, lock_lifetime=30)
    assert 0 < store.red.pttl(lock_key("shop", me)) <= 30_000
    store.issue_ticket(me, lock_lifetime=60)
    assert 30_000 < store.red.pttl(lock_key("shop", me)) <= 60_000
    lock = store.get_lock(me)
    assert [t.number for t in lock.tickets] == [ticket, ticket + 1]
    assert lock.now_serving == ticket


def test_a_ticket_that_expired_in_a_queue_that_was_emptied_is_not_served_by_the_next_queue(store):
    """The key goes with its last ticket and numbering starts again: a waiter whose ticket expired must not find
    its number among the new queue's tickets."""
    me = conversation()
    first = store.issue_ticket(me, lock_lifetime=5)
    stale = store.issue_ticket(me, lock_lifetime=0.05)
    time.sleep(0.1)
    store.cleanup(me, first)
    assert not store.red.exists(lock_key("shop", me))
    fresh = [store.issue_ticket(me) for _ in range(3)]
    assert store.tickets_ahead(me, stale) == -1
    assert stale not in fresh and store.tickets_ahead(me, fresh[0]) == 0


def test_a_client_that_decodes_responses_reads_the_queue_too(redis_server):
    store = AtomicRedisLockStore(client=redis.Redis.from_url(redis_server, decode_responses=True),
                                 key_prefix="shop")
    me = conversation()
    ticket = store.issue_ticket(me)
    assert [t.number for t in store.get_lock(me).tickets] == [ticket]


def test_key_names_follow_rasas_prefix_rule():
    assert lock_key("shop", "abc") == "shop:ticketlock:abc"
    assert lock_key("not alnum!", "abc") == "ticketlock:abc"
    assert lock_key(None, "abc") == "ticketlock:abc"


def test_rasa_builds_it_from_endpoints_yml(redis_server, monkeypatch):
    port = redis_server.rsplit(":", 1)[1].split("/")[0]
    for name, value in {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": port, "REDIS_DB": "0", "REDIS_PASSWORD": "",
                        "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook", "ACTION_SERVER_TOKEN": "t"}.items():
        monkeypatch.setenv(name, value)
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "lock_store")
    assert isinstance(config, EndpointConfig)
    built = LockStore.create(config)
    assert isinstance(built, AtomicRedisLockStore)
    me = conversation()

    async def use() -> None:
        async with built.lock(me):
            assert built.red.exists(f"shop:ticketlock:{me}")

    asyncio.run(use())
    assert not built.red.exists(f"shop:ticketlock:{me}")
