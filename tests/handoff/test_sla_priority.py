"""The breach action "raise priority" on a chat (handoff/clocks/priority_store.py), in both stores: at least N,
re-ranked in its queue, idempotent, refused for a chat no longer open."""
import pytest

from handoff.store import Conflict, NotFound, Status
from tests.handoff.stores import store, loop, run  # noqa: F401  (store, loop: fixtures)

SPP = 10.0  # seconds of waiting one priority point is worth


def test_raising_a_waiting_chats_priority_moves_it_up_its_queue_once(store):  # noqa: F811
    a, _ = run(store.create("c-a", "billing", 10, {"request": {}}, 1000.0, SPP))
    b, _ = run(store.create("c-b", "billing", 10, {"request": {}}, 1100.0, SPP))
    assert run(store.waiting("billing")) == [a.id, b.id]
    assert run(store.raise_chat_priority(b.id, 25, SPP)) is True  # 15 points = 150 s: ahead of a (100 s older)
    assert run(store.get(b.id)).priority == 25
    assert run(store.waiting("billing")) == [b.id, a.id]
    assert run(store.raise_chat_priority(b.id, 25, SPP)) is False  # a second try changes nothing
    assert run(store.raise_chat_priority(b.id, 20, SPP)) is False  # never lowers
    assert run(store.get(b.id)).priority == 25 and run(store.waiting("billing")) == [b.id, a.id]


def test_a_chat_that_ended_or_does_not_exist_is_refused(store):  # noqa: F811
    a, _ = run(store.create("c-a", "billing", 10, {"request": {}}, 1000.0, SPP))
    run(store.leave_queue(a.id, Status.ABANDONED, 1010.0, "the customer left"))
    with pytest.raises(Conflict):
        run(store.raise_chat_priority(a.id, 30, SPP))
    assert run(store.get(a.id)).priority == 10
    with pytest.raises(NotFound):
        run(store.raise_chat_priority("nope", 30, SPP))
