"""The timer runner (handoff/clocks/timers.py TimerRunner) over the in-memory store with a controllable clock:
firing, lateness, retries with backoff, the failed timer, unknown kinds, handlers that hang or kill their process."""
import asyncio
from typing import Any, List

import pytest

from handoff.clocks.timers import MAX_ATTEMPTS, Fired, Schedule, Timer, TimerRunner
from handoff.memory_store import MemoryStore
from tests.handoff.stores import Clock, loop, run  # noqa: F401  (loop: fixture)


def setup(**kwargs: Any):
    store, clock = MemoryStore(), Clock(1000.0)
    store.timer_clock = clock
    fired: List[Any] = []
    runner = TimerRunner(store, on_fired=lambda t, late: fired.append((t.key, late)),
                         on_failed=lambda t: fired.append((t.key, "failed")), **kwargs)
    return store, clock, runner, fired


def events(store):
    return [e.data for e in run(store.events("0-0", 0))]


def test_due_timers_fire_once_through_their_kind_with_lateness_and_follow_ups():
    store, clock, runner, fired = setup()
    seen: List[Timer] = []

    async def remind(t: Timer) -> Fired:
        seen.append(t)
        n = t.payload["round"]
        return Fired(events=[("ann", {"type": "reminder", "round": n})], log=[("ticket:t1", {"kind": "reminder"})],
                     schedule=[Schedule("remind:ticket:t1", "remind", t.due + 60, {"round": n + 1})] if n < 2 else [])

    runner.register("remind", remind)
    assert run(runner.schedule("remind:ticket:t1", "remind", 1010.0, {"round": 1})) is True
    assert run(runner.tick()) == 0 and seen == []                    # not due yet
    clock.now = 1012.5
    assert run(runner.tick()) == 1
    assert fired == [("remind:ticket:t1", 2.5)] and seen[0].attempt == 1
    assert run(runner.tick()) == 0                                   # fired once
    clock.now = 1070.0
    assert run(runner.tick()) == 1 and [t.payload["round"] for t in seen] == [1, 2]
    clock.now = 5000.0
    assert run(runner.tick()) == 0
    assert events(store) == [{"type": "reminder", "round": 1}, {"type": "reminder", "round": 2}]
    assert len(run(store.clock_log("ticket:t1"))) == 2
    assert run(runner.now()) == 5000.0


def test_the_runner_clock_is_the_store_time_moved_by_the_test_offset():
    store, clock, _, _ = setup()
    runner = TimerRunner(store, offset=lambda: 3600.0)
    ran: List[str] = []

    async def h(t: Timer) -> Fired:
        ran.append(t.key)
        return Fired()

    runner.register("k", h)
    run(runner.schedule("k:1", "k", 1000.0 + 3000.0))
    assert run(runner.now()) == 4600.0
    assert run(runner.tick()) == 1 and ran == ["k:1"]


def test_bad_schedules_are_refused_and_change_nothing():
    store, _, runner, _ = setup()
    with pytest.raises(ValueError, match="no handler"):
        run(runner.schedule("x:1", "nobody", 1.0))

    async def h(t: Timer) -> Fired:
        return Fired()

    runner.register("k", h)
    with pytest.raises(ValueError, match="already"):
        runner.register("k", h)
    for bad in (float("nan"), float("inf"), "soon"):
        with pytest.raises(ValueError, match="due"):
            run(runner.schedule("k:1", "k", bad))  # type: ignore[arg-type]
    assert run(store.get_timer("k:1")) is None


def test_a_handler_that_raises_is_retried_with_backoff_then_completes_with_timer_failed():
    store, clock, runner, fired = setup()
    calls: List[int] = []

    async def broken(t: Timer) -> Fired:
        calls.append(t.attempt)
        raise RuntimeError("ticket store said no")

    async def fine(t: Timer) -> Fired:
        return Fired(events=[(None, {"type": "fine", "key": t.key})])

    runner.register("broken", broken)
    runner.register("fine", fine)
    run(runner.schedule("b:1", "broken", 1000.0))
    run(runner.schedule("f:1", "fine", 1000.0))
    assert run(runner.tick()) == 1                                   # the other timer is not held up
    for attempt in range(1, MAX_ATTEMPTS):
        t = run(store.get_timer("b:1"))
        assert (t.attempt, t.lease, t.due) == (attempt, "", clock.now + 2.0 ** attempt)
        clock.now = t.due - 0.01
        assert run(runner.tick()) == 0 and len(calls) == attempt     # backoff: not before
        clock.now = t.due
        run(runner.tick())
    assert calls == list(range(1, MAX_ATTEMPTS + 1))
    assert run(store.get_timer("b:1")) is None
    failed = [e for e in events(store) if e["type"] == "timer_failed"]
    assert failed == [{"type": "timer_failed", "key": "b:1", "kind": "broken", "error": "ticket store said no",
                       "at": clock.now}]
    assert fired == [("f:1", 0.0), ("b:1", "failed")]              # on_failed, not on_fired


def test_a_timer_of_a_kind_no_handler_is_registered_for_is_retried_then_failed():
    store, clock, runner, _ = setup()
    run(store.schedule_timer("old:1", "retired_kind", 1000.0, {}))   # e.g. scheduled by an older release
    for _ in range(MAX_ATTEMPTS):
        clock.now = max(clock.now, run(store.get_timer("old:1")).due)
        run(runner.tick())
    assert run(store.get_timer("old:1")) is None
    [failed] = events(store)
    assert failed["type"] == "timer_failed" and "no handler for timer kind 'retired_kind'" in failed["error"]


def test_a_handler_that_hangs_gives_its_slot_back_when_its_lease_ends():
    store, clock, runner, _ = setup(lease_seconds=0.3, concurrency=1)
    ran: List[str] = []

    async def hang(t: Timer) -> Fired:
        await asyncio.sleep(3600)
        return Fired()

    async def fine(t: Timer) -> Fired:
        ran.append(t.key)
        return Fired()

    runner.register("hang", hang)
    runner.register("fine", fine)
    run(runner.schedule("a:hang", "hang", 999.0))
    run(runner.schedule("b:fine", "fine", 1000.0))
    assert run(asyncio.wait_for(runner.tick(), 5.0)) == 1 and ran == ["b:fine"]
    t = run(store.get_timer("a:hang"))
    assert (t.lease, t.attempt, t.due) == ("", 1, clock.now + 2.0)  # given back for a retry, as a failure


def test_a_timer_claimed_more_than_max_attempts_times_without_completing_fails_without_running_again():
    """A handler that kills its process (or stalls past its lease) every time would otherwise be claimed
    forever, taking a process down each round."""
    store, clock, runner, fired = setup(lease_seconds=5.0)
    ran: List[int] = []

    async def poison(t: Timer) -> Fired:
        ran.append(t.attempt)
        return Fired(events=[(None, {"type": "poison_ran"})])

    runner.register("poison", poison)
    run(runner.schedule("p:1", "poison", 1000.0))
    for _ in range(MAX_ATTEMPTS):                                     # each claim's process "dies"
        assert len(run(store.claim_timers(clock.now, 5.0, 10))) == 1
        clock.now += 6.0
    assert run(runner.tick()) == 1 and ran == []
    [failed] = events(store)
    assert failed["type"] == "timer_failed" and failed["key"] == "p:1" and "claimed" in failed["error"]
    assert run(store.get_timer("p:1")) is None and fired == [("p:1", "failed")]


def test_the_metrics_count_firings_lateness_failures_and_pending_timers():
    from handoff.metrics import Metrics
    store, clock = MemoryStore(), Clock(1000.0)
    store.timer_clock = clock
    metrics = Metrics()
    runner = TimerRunner(store, on_fired=metrics.timer_fired, on_failed=metrics.timer_failed)

    async def ok(t: Timer) -> Fired:
        return Fired()

    async def bad(t: Timer) -> Fired:
        raise RuntimeError("no")

    runner.register("ok", ok)
    runner.register("bad", bad)
    for i in range(3):
        run(runner.schedule(f"ok:{i}", "ok", 999.0 + i))
    run(runner.schedule("ok:later", "ok", 2000.0))
    run(store.schedule_timer("bad:1", "bad", 1000.0, {}))
    run(metrics.read_timers(runner))
    sample = metrics.registry.get_sample_value
    assert [sample("handoff_timers_pending", {"state": s}) for s in ("scheduled", "due", "leased")] == [5, 3, 0]
    clock.now = 1001.5
    run(runner.tick())
    assert sample("handoff_timers_fired_total", {"kind": "ok"}) == 3
    assert sample("handoff_timer_lateness_seconds_count", {"kind": "ok"}) == 3
    assert sample("handoff_timer_lateness_seconds_sum", {"kind": "ok"}) == 2.5 + 1.5 + 0.5
    assert sample("handoff_timer_lateness_seconds_bucket", {"kind": "ok", "le": "1.0"}) == 1
    for _ in range(MAX_ATTEMPTS - 1):
        clock.now = run(store.get_timer("bad:1")).due
        run(runner.tick())
    assert sample("handoff_timers_failed_total", {"kind": "bad"}) == 1
    assert sample("handoff_timers_fired_total", {"kind": "bad"}) is None
    run(metrics.read_timers(runner))
    assert [sample("handoff_timers_pending", {"state": s}) for s in ("scheduled", "due", "leased")] == [1, 0, 0]
