"""The timer store contract (handoff/clocks/timers.py TimerStore), run against the in-memory twin and the Redis
store (a real redis-server): schedule, replace, cancel, once, claim, lease takeover, completion only under the live
lease, retry and the counts."""
import pytest

from handoff.clocks.timers import Fired, Schedule, Timer
from tests.handoff.stores import store, loop, run  # noqa: F401  (store, loop: fixtures)


def events(store):
    return [(e.to, e.data) for e in run(store.events("0-0", 0))]


def test_a_scheduled_timer_is_stored_and_scheduling_its_key_again_replaces_it(store):
    assert run(store.schedule_timer("sla:chat:e1:warn", "sla", 100.0, {"target": "first_response"})) is True
    assert run(store.get_timer("sla:chat:e1:warn")) == Timer("sla:chat:e1:warn", "sla", 100.0,
                                                              {"target": "first_response"}, 0, "")
    assert run(store.schedule_timer("sla:chat:e1:warn", "sla", 150.0, {"target": "resolution"})) is True
    assert run(store.get_timer("sla:chat:e1:warn")).due == 150.0
    assert run(store.get_timer("sla:chat:e1:warn")).payload == {"target": "resolution"}
    assert run(store.claim_timers(120.0, 30.0, 10)) == []            # the replaced due time counts
    assert [t.key for t in run(store.claim_timers(150.0, 30.0, 10))] == ["sla:chat:e1:warn"]
    assert run(store.get_timer("never")) is None


def test_cancel_drops_the_timer_and_says_whether_there_was_one(store):
    run(store.schedule_timer("k1", "sla", 100.0, {}))
    assert run(store.cancel_timer("k1")) is True
    assert run(store.cancel_timer("k1")) is False
    assert run(store.get_timer("k1")) is None
    assert run(store.claim_timers(1000.0, 30.0, 10)) == []
    # a claimed one too: its completion then writes nothing
    run(store.schedule_timer("k2", "sla", 100.0, {}))
    [claimed] = run(store.claim_timers(100.0, 30.0, 10))
    assert run(store.cancel_timer("k2")) is True
    assert run(store.complete_timer(claimed, Fired(events=[(None, {"type": "x"})]))) is False
    assert events(store) == [] and run(store.timer_counts(1000.0)) == {"scheduled": 0, "due": 0, "leased": 0}


def test_once_is_declined_the_second_time_even_after_the_first_fired(store):
    assert run(store.schedule_timer("sla:chat:e1:fr:100:warn", "sla", 100.0, {"n": 1}, once=True)) is True
    assert run(store.schedule_timer("sla:chat:e1:fr:100:warn", "sla", 200.0, {"n": 2}, once=True)) is False
    t = run(store.get_timer("sla:chat:e1:fr:100:warn"))
    assert (t.due, t.payload) == (100.0, {"n": 1})                  # declined: nothing changed
    [claimed] = run(store.claim_timers(100.0, 30.0, 10))
    assert run(store.complete_timer(claimed, Fired())) is True
    assert run(store.schedule_timer("sla:chat:e1:fr:100:warn", "sla", 300.0, {}, once=True)) is False
    assert run(store.get_timer("sla:chat:e1:fr:100:warn")) is None
    # a key never scheduled with once is not remembered
    run(store.schedule_timer("plain", "sla", 100.0, {}))
    assert run(store.schedule_timer("plain", "sla", 100.0, {}, once=True)) is True


def test_claim_takes_due_timers_earliest_first_up_to_the_limit_each_under_its_own_lease(store):
    for key, due in [("c", 30.0), ("a", 10.0), ("d", 40.0), ("b", 20.0), ("later", 500.0)]:
        run(store.schedule_timer(key, "k", due, {"key": key}))
    first = run(store.claim_timers(100.0, 30.0, 3))
    assert [t.key for t in first] == ["a", "b", "c"]
    assert all(t.attempt == 1 and t.lease for t in first) and len({t.lease for t in first}) == 3
    assert [t.payload for t in first] == [{"key": "a"}, {"key": "b"}, {"key": "c"}]
    assert run(store.get_timer("a")).lease == first[0].lease
    assert [t.key for t in run(store.claim_timers(100.0, 30.0, 3))] == ["d"]   # claimed ones are not due again
    assert run(store.claim_timers(100.0, 30.0, 3)) == []
    assert run(store.timer_counts(100.0)) == {"scheduled": 1, "due": 0, "leased": 4}
    assert run(store.timer_counts(500.0)) == {"scheduled": 1, "due": 1, "leased": 4}


def test_a_lapsed_lease_is_taken_over_with_a_new_token_and_the_old_lease_writes_nothing(store):
    run(store.schedule_timer("k", "drill", 10.0, {}))
    [old] = run(store.claim_timers(10.0, 2.0, 10))
    assert run(store.claim_timers(11.9, 2.0, 10)) == []                 # the lease holds until 12.0
    [new] = run(store.claim_timers(12.5, 2.0, 10))
    assert (new.key, new.attempt) == ("k", 2) and new.lease != old.lease
    assert run(store.complete_timer(old, Fired(events=[(None, {"type": "old"})]))) is False
    assert run(store.retry_timer(old, 50.0)) is False
    assert run(store.get_timer("k")).lease == new.lease
    assert run(store.complete_timer(new, Fired(events=[(None, {"type": "new"})]))) is True
    assert events(store) == [([], {"type": "new"})]
    assert run(store.complete_timer(new, Fired(events=[(None, {"type": "again"})]))) is False   # once only
    assert events(store) == [([], {"type": "new"})]


def test_complete_writes_events_log_and_follow_ups_at_once_and_deletes_the_timer(store):
    run(store.schedule_timer("sla:chat:e1:warn", "sla", 10.0, {}))
    [t] = run(store.claim_timers(10.0, 30.0, 10))
    fired = Fired(events=[("ann", {"type": "sla_warning", "escalation": "e1", "agent": "ann", "at": 10.5}),
                          (None, {"type": "sla_action", "escalation": "e1", "agent": None, "at": 10.5})],
                  log=[("chat:e1", {"kind": "sla_warning", "at": 10.5, "target": "first_response"}),
                       ("chat:e1", {"kind": "sla_action", "at": 10.5, "detail": "raise_priority"})],
                  schedule=[Schedule("sla:chat:e1:breach", "sla", 30.0, {"step": "breach"})])
    assert run(store.complete_timer(t, fired)) is True
    assert run(store.get_timer("sla:chat:e1:warn")) is None
    # None values are left out, as the store's own events do (both stores alike)
    assert events(store) == [(["ann"], {"type": "sla_warning", "escalation": "e1", "agent": "ann", "at": 10.5}),
                             ([], {"type": "sla_action", "escalation": "e1", "at": 10.5})]
    assert run(store.clock_log("chat:e1")) == [{"kind": "sla_warning", "at": 10.5, "target": "first_response"},
                                               {"kind": "sla_action", "at": 10.5, "detail": "raise_priority"}]
    assert run(store.clock_log("chat:other")) == []
    assert run(store.get_timer("sla:chat:e1:breach")) == Timer("sla:chat:e1:breach", "sla", 30.0, {"step": "breach"})
    assert run(store.timer_counts(30.0)) == {"scheduled": 1, "due": 1, "leased": 0}


def test_replacing_a_claimed_timer_makes_the_old_lease_write_nothing_and_the_new_one_fires(store):
    run(store.schedule_timer("k", "sla", 10.0, {"v": 1}))
    [old] = run(store.claim_timers(10.0, 30.0, 10))
    run(store.schedule_timer("k", "sla", 20.0, {"v": 2}))
    assert run(store.get_timer("k")) == Timer("k", "sla", 20.0, {"v": 2}, 0, "")
    assert run(store.complete_timer(old, Fired(events=[(None, {"type": "old"})],
                                               log=[("chat:e", {"kind": "old"})],
                                               schedule=[Schedule("follow", "sla", 5.0)]))) is False
    assert events(store) == [] and run(store.clock_log("chat:e")) == [] and run(store.get_timer("follow")) is None
    assert run(store.retry_timer(old, 99.0)) is False
    assert run(store.get_timer("k")).due == 20.0
    assert run(store.timer_counts(15.0)) == {"scheduled": 1, "due": 0, "leased": 0}
    [new] = run(store.claim_timers(20.0, 30.0, 10))
    assert (new.payload, new.attempt) == ({"v": 2}, 1)
    assert run(store.complete_timer(new, Fired(events=[(None, {"type": "new"})]))) is True
    assert events(store) == [([], {"type": "new"})]


def test_retry_gives_the_timer_back_due_later_with_its_attempts_kept(store):
    run(store.schedule_timer("k", "sla", 10.0, {"p": 1}))
    [t] = run(store.claim_timers(10.0, 30.0, 10))
    assert run(store.retry_timer(t, 14.0)) is True
    assert run(store.get_timer("k")) == Timer("k", "sla", 14.0, {"p": 1}, 1, "")
    assert run(store.complete_timer(t, Fired(events=[(None, {"type": "x"})]))) is False   # given back: lease gone
    assert run(store.claim_timers(13.9, 30.0, 10)) == []
    [again] = run(store.claim_timers(14.0, 30.0, 10))
    assert again.attempt == 2 and again.lease != t.lease
    assert run(store.timer_counts(14.0)) == {"scheduled": 0, "due": 0, "leased": 1}


@pytest.mark.parametrize("payload", [{}, {"nested": {"list": [1, 2.5, "x"], "empty": []}, "text": "é ✓"}])
def test_payloads_and_follow_up_payloads_come_back_as_given(store, payload):
    run(store.schedule_timer("k", "sla", 1.0, payload))
    [t] = run(store.claim_timers(1.0, 30.0, 10))
    assert t.payload == payload
    assert run(store.complete_timer(t, Fired(schedule=[Schedule("k2", "sla", 2.0, payload)]))) is True
    assert run(store.get_timer("k2")).payload == payload


def test_lapsed_leases_are_taken_over_before_scheduled_timers_in_both_stores(store):
    """The twins agree on the order: timers whose lease lapsed first (by lease deadline), then due ones by due."""
    run(store.schedule_timer("held", "k", 10.0, {}))
    run(store.claim_timers(10.0, 2.0, 10))                       # leased until 12.0
    run(store.schedule_timer("early", "k", 5.0, {}))
    run(store.schedule_timer("late", "k", 11.0, {}))
    assert [t.key for t in run(store.claim_timers(13.0, 2.0, 1))] == ["held"]
    assert [t.key for t in run(store.claim_timers(13.0, 2.0, 5))] == ["early", "late"]


def test_a_completion_may_schedule_its_own_key_again_for_a_periodic_timer(store):
    run(store.schedule_timer("scan", "scan", 10.0, {"round": 1}))
    [t] = run(store.claim_timers(10.0, 30.0, 10))
    assert run(store.complete_timer(t, Fired(schedule=[Schedule("scan", "scan", 70.0, {"round": 2})]))) is True
    assert run(store.get_timer("scan")) == Timer("scan", "scan", 70.0, {"round": 2}, 0, "")
    assert run(store.timer_counts(10.0)) == {"scheduled": 1, "due": 0, "leased": 0}


def test_a_sorted_set_member_whose_timer_hash_is_gone_is_dropped_not_handed_out_garbled(store):
    """Only reachable in Redis (a key deleted by hand, or evicted): the claim must not shift every later field."""
    if not hasattr(store, "r"):
        pytest.skip("the in-memory twin keeps a timer in one place")
    for key, due in [("a", 1.0), ("gone", 2.0), ("c", 3.0)]:
        run(store.schedule_timer(key, "k", due, {"key": key}))
    run(store.r.delete(f"{store.p}timer:gone"))
    claimed = run(store.claim_timers(10.0, 30.0, 10))
    assert [(t.key, t.kind, t.payload) for t in claimed] == [("a", "k", {"key": "a"}), ("c", "k", {"key": "c"})]
    assert run(store.timer_counts(10.0)) == {"scheduled": 0, "due": 0, "leased": 2}
