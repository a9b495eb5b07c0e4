"""Retention of the event stream ``{ho}:events``: nothing a consumer group (the bot's bridge) has not
acknowledged is ever trimmed, however far it lags; what every group has acknowledged can go. Real redis-server."""
import asyncio
import uuid

import pytest
import redis as redis_lib

from handoff.redis_store import RedisStore

OLD_CAP = 100_000  # the count the stream used to be capped at (XADD MAXLEN ~ 100000)


def run(coro):
    return asyncio.get_event_loop().run_until_complete(coro)


@pytest.fixture(autouse=True)
def loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


def write_messages(store: RedisStore, escalation: str, n: int) -> None:
    """n customer messages through the service's own script (each one emits a ``message`` event)."""
    async def write() -> None:
        script = store._scripts["add_message"]
        await store.add_message(escalation, "customer", "first", None, 1.0)  # loads the script
        for start in range(1, n, 10_000):
            async with store.r.pipeline(transaction=False) as pipe:
                for i in range(start, min(n, start + 10_000)):
                    pipe.evalsha(script.sha, 0, store.p, escalation, "customer", "", f"message {i}", "2.0")
                await pipe.execute()
    run(write())


def stream_id(raw: str) -> tuple:
    ms, seq = raw.split("-")
    return int(ms), int(seq)


def sweeps(store: RedisStore, cap: int, n: int = 20) -> None:
    """What n sweeps do (each trims at most 10,000 entries: XTRIM ~'s default LIMIT keeps every call short)."""
    for _ in range(n):
        run(store.trim_events(cap))


def test_a_lagging_group_loses_nothing_and_acknowledged_events_are_trimmed(redis_server: str):
    prefix = f"{{r{uuid.uuid4().hex[:8]}}}:"
    store = RedisStore.from_url(redis_server, prefix=prefix)
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    stream = f"{prefix}events"
    r.xgroup_create(stream, "bridge", id="$", mkstream=True)  # the bridge joined, then went away
    escalation = run(store.create("conv-r", "general", 10, {}, 1.0, 10.0))[0].id
    total = OLD_CAP + 1_000
    write_messages(store, escalation, total)
    assert r.xlen(stream) == 1 + total  # writing never trims
    sweeps(store, cap=1_000)  # what every sweep does: the group holds everything

    # The bridge comes back: every event since it joined is still there for it, the first one first.
    delivered = []
    while True:
        reply = r.xreadgroup("bridge", "b1", {stream: ">"}, count=20_000)
        if not reply:
            break
        delivered.extend(reply[0][1])
    assert len(delivered) == 1 + total  # "created", then every message
    assert delivered[0][1]["e"].count('"created"') == 1

    # Delivered but not acknowledged (the bridge could still fail on them): still kept.
    sweeps(store, cap=1_000)
    assert r.xlen(stream) == 1 + total
    # Acknowledged up to (not including) the 50,001st: those before it may go, none after it.
    keep_from = delivered[50_000][0]
    r.xack(stream, "bridge", *[eid for eid, _ in delivered[:50_000]])
    sweeps(store, cap=1_000)
    left = r.xrange(stream, count=1)[0][0]
    assert r.xlen(stream) >= 1 + total - 50_000
    assert r.xlen(stream) < 1 + total - 49_000  # trimmed by whole nodes: at most a node more is kept
    assert r.xrange(stream, "-", keep_from, count=200_000)[-1][0] == keep_from
    assert stream_id(left) <= stream_id(keep_from)

    # Everything acknowledged: the stream may shrink to (about) nothing.
    r.xack(stream, "bridge", *[eid for eid, _ in delivered[50_000:]])
    sweeps(store, cap=1_000)
    assert r.xlen(stream) < 1_000
    run(store.close())


def test_without_a_group_the_stream_is_capped(redis_server: str):
    prefix = f"{{r{uuid.uuid4().hex[:8]}}}:"
    store = RedisStore.from_url(redis_server, prefix=prefix)
    r = redis_lib.Redis.from_url(redis_server, decode_responses=True)
    escalation = run(store.create("conv-c", "general", 10, {}, 1.0, 10.0))[0].id
    write_messages(store, escalation, 5_000)
    assert r.xlen(f"{prefix}events") == 5_001  # writing never trims: the sweeper does
    sweeps(store, cap=1_000)
    assert 1_000 <= r.xlen(f"{prefix}events") < 1_200
    run(store.close())
