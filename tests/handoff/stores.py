"""What the store tests share: the stores (the in-memory twin; Redis over a real redis-server; Redis over a real
3-master Redis Cluster, tests/handoff/redis_cluster.py; each test on a prefix of its own), and a fresh event loop
per test to run their coroutines on."""
import asyncio
import uuid
from typing import Any, Iterator

import pytest

from handoff.memory_store import MemoryStore
from common.redis_config import async_redis_client
from handoff.redis_store import RedisStore


@pytest.fixture(params=["memory", "redis", "cluster"])
def store(request: Any) -> Any:
    if request.param == "memory":
        return MemoryStore()
    prefix = f"{{t{uuid.uuid4().hex[:8]}}}:"
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster").url
        return RedisStore(async_redis_client(url, cluster=True, decode_responses=True), prefix=prefix)
    return RedisStore.from_url(request.getfixturevalue("redis_server"), prefix=prefix)


@pytest.fixture(autouse=True)
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)


class Clock:
    """A test's clock: the service reads ``clock()``; the test moves ``clock.now``."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
