"""The faster check of action server responses accepts and refuses exactly what Rasa's own check does."""
import importlib

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot.rasa_speedups import ORIGINAL, fast_validate_action_result


def test_the_original_is_rasas_and_the_fix_is_installed_by_the_channels():
    importlib.import_module("bot.channels")  # what the Rasa server imports
    assert ORIGINAL is not fast_validate_action_result and ORIGINAL.__module__ == "rasa.core.actions.action"
    assert RemoteAction._validate_action_result is fast_validate_action_result

GOOD = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "sentiment", "value": {"latest": -0.5}, "timestamp": None}],
     "responses": [{"response": "utter_handoff_requested", "group_name": "Billing"}]},
    {},
]
BAD = [
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [1, 2]},
    {"events": [{"event": "slot"}]},
]


@pytest.mark.parametrize("result", GOOD)
def test_accepts_what_rasa_accepts(result):
    action = RemoteAction("action_x", None)
    assert ORIGINAL(action, result) is True
    assert fast_validate_action_result(action, result) is True


@pytest.mark.parametrize("result", BAD)
def test_refuses_what_rasa_refuses_with_the_same_message(result):
    action = RemoteAction("action_x", None)
    with pytest.raises(ValidationError) as theirs:
        ORIGINAL(action, result)
    with pytest.raises(ValidationError) as ours:
        fast_validate_action_result(action, result)
    assert ours.value.message == theirs.value.message


def test_event_types_resolve_to_the_same_classes():
    from rasa.shared.core.events import Event, SlotSet, UserUttered
    from rasa.shared.utils.common import all_subclasses

    from bot.rasa_speedups import ORIGINAL_RESOLVE, fast_resolve_by_type

    original = ORIGINAL_RESOLVE.__func__
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) >= 20
    for name in names:
        assert fast_resolve_by_type(name) is original(name)
    assert fast_resolve_by_type("topic") is None
    assert fast_resolve_by_type("nope", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'nope'"):
        fast_resolve_by_type("nope")
    assert Event.resolve_by_type("user") is UserUttered
    # a subclass defined after the table was built is still found
    class LateEvent(SlotSet):
        type_name = "late_event_for_test"
    assert fast_resolve_by_type("late_event_for_test") is LateEvent


def test_endpoint_sessions_are_kept_per_endpoint_and_loop():
    import asyncio

    from rasa.utils.endpoints import EndpointConfig

    importlib.import_module("bot.channels")  # installs the speed-ups

    a, b = EndpointConfig("http://127.0.0.1:1/webhook"), EndpointConfig("http://127.0.0.1:2/webhook", headers={"X": "1"})

    async def sessions():
        async with a.session() as s1:
            pass
        async with a.session() as s2:
            pass
        async with b.session() as s3:
            pass
        assert not s1.closed  # kept open for the next call
        result = (s1, s2, s3, dict(s3.headers))
        for s in {s1, s3}:
            await s.close()
        return result

    s1, s2, s3, headers = asyncio.run(sessions())
    assert s1 is s2 and s1 is not s3
    assert headers == {"X": "1"}  # configured like Rasa's own session
    assert s1.timeout.total == 300 and s1._json_serialize("x/ü") == '"x\\/\\u00fc"'  # ujson, still ASCII JSON
    s4, _, _, _ = asyncio.run(sessions())  # a new event loop gets a new session
    assert s4 is not s1


def test_the_rasa_server_runs_blas_and_openmp_on_one_thread():
    from threadpoolctl import threadpool_info

    importlib.import_module("bot.channels")  # what the Rasa server imports
    pools = threadpool_info()
    assert any(p["user_api"] == "blas" for p in pools)
    assert all(p["num_threads"] == 1 for p in pools), pools
