"""The surge rule's pure part (common/surge.py, policy/surge.yml): thresholds, hysteresis, the policy's errors."""
from pathlib import Path

import pytest

from common.config import ConfigError
from common.surge import Load, Rule, SurgePolicy, SurgeState, decide, estimated_wait
from common.tables import load_tables

SHIPPED = Path(__file__).resolve().parents[2] / "policy" / "surge.yml"
RULE = Rule(start_waiting=5, start_wait_seconds=600, stop_waiting=1, stop_wait_seconds=120, calm_seconds=60.0,
            overflow_to="general", standby=("ann", "sam"))


@pytest.fixture(scope="module")
def groups():
    return load_tables().skill_groups.groups


def run(loads, start=1000.0, every=10.0, rule=RULE):
    """The actions of the rule over a series of (waiting, wait_seconds), one sweep every ``every`` seconds."""
    state, actions = None, []
    for i, (waiting, wait) in enumerate(loads):
        step = decide("technical", rule, Load(waiting, wait), state, start + i * every)
        actions.append(step.action)
        state = None if step.action == "stop" else step.state
    return actions


def test_it_starts_at_the_queue_length_or_the_estimated_wait_whichever_comes_first():
    assert run([(4, 480)]) == ["idle"]
    assert run([(5, 480)]) == ["start"]
    assert run([(2, 600)]) == ["start"]
    assert run([(4, None)]) == ["idle"]  # nobody online: the wait is unknown, the queue length still counts
    assert run([(9, None)]) == ["start"]


def test_a_new_surge_carries_the_group_the_time_the_queue_and_whom_to_call():
    step = decide("technical", RULE, Load(6, 960), None, 1234.5)
    assert step.action == "start"
    assert step.state == SurgeState("technical", 1234.5, "general", ("ann", "sam"), 6, 960, None)


def test_it_stops_only_after_the_queue_stayed_under_the_lower_mark_for_the_calm_time():
    # 10 s sweeps, 60 s calm: under the mark at t=20..80, stop on the sweep 60 s after the first calm one
    assert run([(6, 900), (3, 400), (1, 100), (1, 100), (0, 0), (0, 0), (0, 0), (1, 0), (0, 0)]) == \
        ["start", "continue", "continue", "continue", "continue", "continue", "continue", "continue", "stop"]


def test_a_queue_bobbing_above_the_lower_mark_restarts_the_calm_time():
    loads = [(6, 900), (1, 100), (1, 100), (1, 100), (2, 100), (1, 100), (1, 100), (1, 100), (1, 100), (1, 100),
             (1, 100), (1, 100)]
    actions = run(loads)
    assert actions[:6] == ["start", "continue", "continue", "continue", "continue", "continue"]
    assert actions.index("stop") == 11  # calm again from the sweep at index 5: 60 s later


def test_between_the_marks_it_neither_starts_nor_stops():
    assert run([(3, 300)] * 20) == ["idle"] * 20
    assert run([(5, 600)] + [(3, 300)] * 20) == ["start"] + ["continue"] * 20
    # the wait's lower mark counts too: a short queue that still waits long is not calm
    assert run([(5, 600)] + [(1, 480)] * 20) == ["start"] + ["continue"] * 20


def test_the_calm_time_is_kept_in_the_state_so_any_process_can_end_it():
    first = decide("technical", RULE, Load(6, 900), None, 0.0).state
    calm = decide("technical", RULE, Load(0, 0), first, 10.0)
    assert (calm.action, calm.state.calm_since) == ("continue", 10.0)
    again = decide("technical", RULE, Load(0, 0), calm.state, 69.0)
    assert (again.action, again.state.calm_since) == ("continue", 10.0)
    end = decide("technical", RULE, Load(0, 0), calm.state, 70.0)
    assert (end.action, end.state.waiting, end.state.since) == ("stop", 0, 0.0)


def test_a_rule_turned_off_never_starts_and_ends_a_lasting_surge():
    off = Rule(None, None, 0, None, 60.0, None, (), off=True)
    assert decide("technical", off, Load(100, 9999), None, 0.0).action == "idle"
    lasting = SurgeState("technical", 0.0, "general", (), 9, 900)
    assert decide("technical", off, Load(100, 9999), lasting, 1.0).action == "stop"


def test_the_estimated_wait_is_the_one_a_customer_joining_now_would_be_told():
    assert estimated_wait(waiting=3, online=1, capacity=1, free=0, handle_seconds=480) == 1440
    assert estimated_wait(waiting=3, online=2, capacity=4, free=0, handle_seconds=300) == 300
    assert estimated_wait(waiting=1, online=1, capacity=2, free=1, handle_seconds=300) == 0
    assert estimated_wait(waiting=7, online=0, capacity=0, free=0, handle_seconds=300) is None


def test_the_shipped_policy_fills_each_group_from_the_default(groups):
    policy = SurgePolicy.load(groups, SHIPPED)
    assert set(policy.groups()) == set(groups)
    technical = policy.rule("technical")
    assert (technical.start_waiting, technical.stop_waiting, technical.overflow_to, technical.standby) == \
        (4, 2, "general", ("ann",))
    assert policy.rule("after_sales").overflow_to == "general"  # "fallback": its fallback group
    assert policy.rule("vip").overflow_to == "after_sales"
    assert policy.rule("general").overflow_to is None


@pytest.mark.parametrize("text, where, message", [
    ("version: 1\ndefault:\n  start: {waiting_at_least: 3}\n  stop: {waiting_at_most: 3}\n",
     "line 4, default.stop.waiting_at_most", "must be below start.waiting_at_least (3)"),
    ("version: 1\ndefault:\n  start: {waiting_at_least: 3}\ngroups:\n  nosuch: {standby: [ann]}\n",
     "line 5, groups.nosuch", "unknown skill group 'nosuch'"),
    ("version: 1\ndefault:\n  start: {waiting_at_least: 3}\ngroups:\n  technical:\n    overflow_to: technical\n",
     "line 6, groups.technical.overflow_to", "cannot overflow to itself"),
    ("version: 1\ndefault:\n  start: {waiting_at_least: 3}\n  overflow_to: nowhere\n",
     "line 4, default.overflow_to", "unknown skill group 'nowhere'"),
    ("version: 1\ndefault:\n  stop: {waiting_at_most: 0}\n", "line 2, default.start", "give waiting_at_least"),
    ("version: 1\ndefault:\n  start: {waiting_at_least: 0}\n", "line 3, default.start.waiting_at_least",
     "less than the minimum"),
    ("version: 1\ndefault:\n  start: {waiting_at_least: 3}\n  standby: [Ann]\n", "line 4, default.standby[0]",
     "does not match"),
])
def test_a_bad_policy_is_refused_with_its_line_and_key(tmp_path, groups, text, where, message):
    path = tmp_path / "surge.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        SurgePolicy.load(groups, path)
    assert info.value.key == where
    assert message in info.value.message


def test_a_surge_started_by_the_wait_alone_does_not_end_while_the_wait_stays_long():
    only_queue_mark = Rule(start_waiting=None, start_wait_seconds=600, stop_waiting=2, stop_wait_seconds=None,
                           calm_seconds=60.0, overflow_to=None, standby=())
    assert run([(2, 960)] * 20, rule=only_queue_mark) == ["start"] + ["continue"] * 19
    assert run([(2, 960)] + [(2, 100)] * 7, rule=only_queue_mark)[-1] == "stop"
