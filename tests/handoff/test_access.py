"""handoff/access.py: a token counts while its account exists, is enabled, has the token's epoch and the token
was not logged out; the per-process copy costs Redis one read per agent per ttl, and events drop it at once."""
from __future__ import annotations

import asyncio

import pytest

from handoff.access import Access
from handoff.auth import Caller, Forbidden, Unauthorized
from handoff.memory_store import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.down = False

    async def account_access(self, agent_id, now):
        if self.down:
            raise ConnectionError("redis down")
        self.reads += 1
        return await super().account_access(agent_id, now)


@pytest.fixture
def env():
    loop = asyncio.new_event_loop()
    store = CountingStore()
    clock = [0.0]
    access = Access(store, ttl=5.0, clock=lambda: clock[0], unavailable=(ConnectionError,))
    loop.run_until_complete(store.save_account("ann", {"id": "ann", "role": "agent", "skills": "general",
                                                       "max_chats": "2"}))
    loop.run_until_complete(store.start_epoch("ann", "e1"))
    yield store, access, clock, loop.run_until_complete
    loop.close()


ANN = Caller("agent", "ann", "agent", "jti-1", "e1", 10**10)


def test_one_read_per_agent_per_ttl_and_an_event_drops_the_copy_at_once(env):
    store, access, clock, run = env
    for _ in range(1000):
        run(access.check(ANN))
    assert store.reads == 1
    clock[0] = 6.0
    run(access.check(ANN))
    assert store.reads == 2
    run(store.revoke_token("ann", "jti-1", 10**10, 1.0))
    assert access.on_event({"type": "token_revoked", "agent": "ann", "jti": "jti-1"}) == ("ann", 4401, "logged out",
                                                                                          "jti-1")
    with pytest.raises(Unauthorized, match="logged out"):
        run(access.check(ANN))
    run(access.check(Caller("agent", "ann", "agent", "jti-2", "e1", 10**10)))  # another session of ann's


def test_disabled_removed_and_old_epoch_tokens_are_refused(env):
    store, access, clock, run = env
    run(store.set_disabled("ann", True, "e2", 1.0, "sue"))
    assert access.on_event({"type": "agent_access", "agent": "ann", "access": "disabled", "by": "sue"})[1] == 4403
    with pytest.raises(Forbidden):
        run(access.check(ANN))
    run(store.set_disabled("ann", False, "", 2.0, "sue"))
    assert access.on_event({"type": "agent_access", "agent": "ann", "access": "enabled"}) is None
    with pytest.raises(Unauthorized, match="session was ended"):
        run(access.check(ANN))
    run(access.check(Caller("agent", "ann", "agent", "jti-3", "e2", 10**10)))
    run(store.remove_account("ann", 3.0, "sue"))
    assert access.on_event({"type": "agent_access", "agent": "ann", "access": "removed"})[1] == 4401
    with pytest.raises(Unauthorized, match="no longer exists"):
        run(access.check(ANN))
    run(access.check(Caller("bot")))  # the bot's token is not an account


def test_with_redis_down_the_last_state_read_is_used_and_none_read_is_an_error(env):
    store, access, clock, run = env
    run(access.check(ANN))
    store.down = True
    clock[0] = 60.0
    run(access.check(ANN))  # stale but the last known: nothing can change without Redis
    with pytest.raises(ConnectionError):
        run(access.check(Caller("agent", "bob", "agent", "j", "e", 10**10)))
