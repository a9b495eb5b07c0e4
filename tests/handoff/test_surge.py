"""The surge rule at work (handoff/clocks/surge.py) over the in-memory twin and over a real redis-server, with a
controllable clock: it starts once however many sweeps race, standby agents get the alert in their console,
free agents of the wider group take the waiting chats, the queue view shows it, and it ends once the queue
stayed drained."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from common.routing import SkillGroups
from common.surge import SurgePolicy
from handoff.auth import Caller
from handoff.clocks.surge import SurgeRule
from handoff.hub import Hub
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from handoff.redis_store import RedisStore
from handoff.service import HandoffService
from handoff.store import Status
from tests.handoff.requests import handoff_request
from tests.handoff.stores import Clock

POLICY = """
version: 1
default:
  start: {waiting_at_least: 3}
  stop: {waiting_at_most: 0, for_seconds: 30}
  overflow_to: fallback
  standby: []
groups:
  technical:
    standby: [sam, vera]
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "surge.yml"
    path.write_text(POLICY)
    return path


class Env:
    """A service over ``store`` with the surge rule, the test clock, and helpers."""

    def __init__(self, store, policy_file: Path) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.clock = Clock()
        self.store = store
        self.groups = SkillGroups.load()
        self.policy = SurgePolicy.load(self.groups.groups, policy_file)
        self.service = self.new_service()
        self.rule = SurgeRule(self.service, self.policy, self.service.metrics)

    def new_service(self) -> HandoffService:
        return HandoffService(self.store, self.groups, Metrics(), reservation_seconds=30.0, clock=self.clock)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def agent(self, agent_id, skills, max_chats=2, status="online"):
        self.run(self.store.save_account(agent_id, {"id": agent_id, "name": agent_id.title(), "role": "agent",
                                                    "skills": ",".join(skills), "max_chats": str(max_chats)}))
        self.run(self.service.set_status(agent_id, status))
        return Caller("agent", agent_id, "agent")

    def technical_chats(self, n, start=0):
        out = []
        for i in range(start, start + n):
            self.clock.now += 1
            out.append(self.run(self.service.create(handoff_request(f"c{i}", categories={"system_error": "E42"})))
                       .escalation)
        return out

    def events(self, *types):
        return [e for e in self.run(self.store.events("0-0", 0, 100000)) if e.data["type"] in types]

    def close(self):
        self.loop.close()


class RoundTrips(MemoryStore):
    """The in-memory twin, yielding to the event loop before each surge step as a network round trip would:
    sweeps run with asyncio.gather then really interleave (both read the state before either writes)."""

    async def surge_states(self, groups):
        await asyncio.sleep(0)
        return await super().surge_states(groups)

    async def surge_change(self, *args, **kwargs):
        await asyncio.sleep(0)
        return await super().surge_change(*args, **kwargs)


@pytest.fixture
def env(policy_file):
    e = Env(RoundTrips(), policy_file)
    yield e
    e.close()


def busy_technical(env):
    """tom (technical, 1 chat) busy with c0, c1..c4 waiting in technical; gina (general, 3 chats) free."""
    env.agent("tom", ["technical"], max_chats=1)
    env.agent("gina", ["general"], max_chats=3)
    chats = env.technical_chats(5)
    assert [c.status for c in chats] == [Status.OFFERED] + [Status.WAITING] * 4
    return chats


def counted(rule, change):
    return rule.registry.get_sample_value("handoff_surges_total",
                                                     {"skill_group": "technical", "change": change}) or 0


def test_two_sweeps_at_once_start_the_surge_once_and_record_it_once(env):
    busy_technical(env)
    other = SurgeRule(env.new_service(), env.policy, Metrics())  # a second service process over the same store
    steps = env.run(asyncio.gather(env.rule.sweep(), other.sweep()))
    started = env.events("surge_started")
    assert len(started) == 1
    assert started[0].to == ["sam", "vera"]
    assert {k: started[0].data[k] for k in ("group", "waiting", "overflow_to", "standby", "at")} == \
        {"group": "technical", "waiting": 4, "overflow_to": "general", "standby": ["sam", "vera"], "at": env.clock.now}
    assert started[0].data["wait_seconds"] == 4 * 480  # tom's one slot, 480 s a technical chat
    assert counted(env.rule, "started") + counted(other, "started") == 1
    assert sorted(s.action for group_steps in steps for s in group_steps if s.action != "idle") == \
        ["continue", "start"]
    log = env.run(env.store.clock_log("group:technical"))
    assert [(x["kind"], x["waiting"], x["overflow_to"]) for x in log] == [("surge_started", 4, "general")]
    # more sweeps while it lasts record nothing new
    env.run(env.rule.sweep())
    env.run(other.sweep())
    assert len(env.events("surge_started")) == 1


def test_standby_agents_see_the_alert_in_their_console_and_others_do_not(env):
    busy_technical(env)
    hub = Hub()
    sam = hub.add(Caller("agent", "sam", "agent"))
    bob = hub.add(Caller("agent", "bob", "agent"))
    sue = hub.add(Caller("agent", "sue", "supervisor"))
    env.run(env.rule.sweep())
    for event in env.events("surge_started"):
        hub.deliver(event)
    import json
    seen = {name: [json.loads(q.get_nowait())["type"] for _ in range(q.qsize())]
            for name, q in (("sam", sam), ("bob", bob), ("sue", sue))}
    assert seen == {"sam": ["surge_started"], "bob": [], "sue": ["surge_started"]}


def test_free_agents_of_the_wider_group_take_the_oldest_waiting_chats_while_it_lasts(env):
    chats = busy_technical(env)
    env.run(env.rule.sweep())
    gina = env.run(env.store.agent_chats("gina"))
    assert sorted(gina) == sorted(c.id for c in chats[1:4])  # the three served next, up to gina's free slots
    moved = env.run(env.store.get_many([c.id for c in chats[1:4]]))
    assert {(e.skill_group, e.status) for e in moved} == {("general", Status.OFFERED)}
    assert moved[0].history[-2]["detail"] == "surge in technical: overflow to general"
    assert env.run(env.store.waiting("technical")) == [chats[4].id]
    assert env.rule.registry.get_sample_value(
        "handoff_surge_overflows_total", {"from_group": "technical", "to_group": "general"}) == 3
    # a wider group with its own queue takes nothing more: its free slots are its own customers'
    env.technical_chats(3, start=5)
    env.run(env.rule.sweep())
    assert len(env.run(env.store.waiting("technical"))) == 4


def test_the_queue_view_shows_the_surge_and_the_customers_record_says_so(env):
    busy_technical(env)
    assert all(q["surge"] is None for q in env.run(env.rule.view(env.run(env.service.queues()))))
    env.run(env.rule.sweep())
    queues = {q["skill_group"]: q for q in env.run(env.rule.view(env.run(env.service.queues())))}
    assert queues["technical"]["surge"] == {"since": "1970-01-12T13:46:45.000Z", "overflow_to": "general",
                                            "waiting": 1, "wait_seconds": 480}
    assert queues["general"]["surge"] is None
    last = env.run(env.store.get(env.run(env.store.waiting("technical"))[-1]))
    assert env.run(env.service.estimate(last)) == (1, 480)  # what the last customer in the queue is told
    assert env.run(env.rule.surging("technical")) and not env.run(env.rule.surging("general"))


def test_it_ends_once_the_queue_stayed_drained_and_says_so_once(env):
    chats = busy_technical(env)
    tom = Caller("agent", "tom", "agent")
    env.run(env.rule.sweep())
    since = env.clock.now
    env.run(env.service.accept(tom, chats[0].id))
    env.run(env.service.finish(tom, chats[0].id, Status.CLOSED))  # tom's slot takes c4: technical drained
    assert env.run(env.store.waiting("technical")) == []
    env.run(env.rule.sweep())  # calm from now
    env.clock.now += 29
    env.run(env.rule.sweep())
    assert env.events("surge_ended") == []
    env.clock.now += 1
    other = SurgeRule(env.new_service(), env.policy, Metrics())
    env.run(asyncio.gather(env.rule.sweep(), other.sweep()))
    ended = env.events("surge_ended")
    assert len(ended) == 1
    assert ended[0].to == ["sam", "vera"]
    assert (ended[0].data["waiting"], ended[0].data["since"], ended[0].data["at"]) == (0, since, env.clock.now)
    assert not env.run(env.rule.surging("technical"))
    assert counted(env.rule, "ended") + counted(other, "ended") == 1
    kinds = [x["kind"] for x in env.run(env.store.clock_log("group:technical"))]
    assert kinds == ["surge_started", "surge_ended"]


def test_a_queue_growing_again_before_the_calm_time_keeps_the_surge(env):
    chats = busy_technical(env)
    tom = Caller("agent", "tom", "agent")
    env.run(env.rule.sweep())
    env.run(env.service.accept(tom, chats[0].id))
    env.run(env.service.finish(tom, chats[0].id, Status.CLOSED))
    env.run(env.rule.sweep())
    env.clock.now += 20
    env.technical_chats(1, start=5)  # one waits again: not calm any more
    env.run(env.rule.sweep())
    env.clock.now += 20
    env.run(env.rule.sweep())
    assert env.events("surge_ended") == []
    assert env.run(env.rule.surging("technical"))


def test_over_redis_concurrent_sweeps_of_two_clients_start_and_end_each_surge_once(redis_server, policy_file):
    """Two store clients (as two service processes have) sweep at once, through ten surges."""
    prefix = f"{{t{uuid.uuid4().hex[:8]}}}:"
    env = Env(RedisStore.from_url(redis_server, prefix), policy_file)
    try:
        other_store = RedisStore.from_url(redis_server, prefix)
        other = SurgeRule(HandoffService(other_store, env.groups, Metrics(), clock=env.clock), env.policy, Metrics())
        env.agent("tom", ["technical"], max_chats=1)
        tom = Caller("agent", "tom", "agent")
        for round_ in range(10):
            chats = env.technical_chats(4, start=round_ * 10)  # one offered to tom, three waiting
            env.run(asyncio.gather(env.rule.sweep(), other.sweep(), env.rule.sweep(), other.sweep()))
            assert len(env.events("surge_started")) == round_ + 1
            for c in chats:  # tom serves them all: the queue drains
                env.run(env.service.accept(tom, c.id))
                env.run(env.service.finish(tom, c.id, Status.CLOSED))
            env.run(asyncio.gather(env.rule.sweep(), other.sweep()))
            env.clock.now += 31
            env.run(asyncio.gather(env.rule.sweep(), other.sweep(), env.rule.sweep(), other.sweep()))
            assert len(env.events("surge_ended")) == round_ + 1
        assert counted(env.rule, "started") + counted(other, "started") == 10
        log = env.run(env.store.clock_log("group:technical"))
        assert [x["kind"] for x in log] == ["surge_started", "surge_ended"] * 10
        env.run(other_store.close())
        env.run(env.store.close())
    finally:
        env.close()


class FailsForTechnical(RoundTrips):
    async def surge_change(self, group, *args, **kwargs):
        if group == "technical":
            raise RuntimeError("technical's step fails")
        return await super().surge_change(group, *args, **kwargs)


def test_a_group_whose_step_fails_does_not_stop_the_others(policy_file, caplog):
    env = Env(FailsForTechnical(), policy_file)
    try:
        busy_technical(env)
        env.agent("bea", ["billing"], max_chats=1)
        for i in range(4):
            env.run(env.service.create(handoff_request(f"b{i}", categories={"double_charge": "charged twice"})))
        env.run(env.rule.sweep())
        assert [e.data["group"] for e in env.events("surge_started")] == ["billing"]
        assert "surge rule failed for group technical" in caplog.text
    finally:
        env.close()
