"""Solved tickets close when the reopen window ends, on the timer service (handoff/clocks/autoclose.py), with a
controllable clock: on time, not when reopened, a new window after a new solve, and the slow scan for tickets no
timer was scheduled for."""
from __future__ import annotations

import asyncio
from typing import Any, Dict

import pytest

from common.routing import SkillGroups
from handoff.auth import Caller
from handoff.clocks import autoclose
from handoff.clocks.timers import TimerRunner
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from handoff.tickets.service import TicketService

T0 = 1_800_000_000.0
SUE = Caller("agent", "sue", "supervisor")


class World:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.now = T0
        self.store = MemoryStore()
        self.store.timer_clock = lambda: self.now
        self.tickets = TicketService(self.store, SkillGroups.load(), None, Metrics(), clock=lambda: self.now)
        self.runner = TimerRunner(self.store)
        self.autoclose = autoclose.AutoClose(self.tickets, self.runner, scan_seconds=600.0)
        self.runner.register(autoclose.KIND, self.autoclose.fire)
        self.runner.register(autoclose.SCAN_KIND, self.autoclose.scan)
        self.window = self.tickets.reopen_seconds

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def listen(self) -> None:
        self.tickets.hooks.on_ticket(self.autoclose.listen)

    def ticket(self, key: str) -> Any:
        t, _ = self.run(self.tickets.open_ticket(subject="Kettle broken", by="ann", source="api",
                                                 group="after_sales", requester={"conversation_id": key},
                                                 request_key=key))
        return t

    def state(self, t: Any) -> str:
        return self.run(self.store.ticket(t.id)).state.value

    def at(self, when: float) -> int:
        self.now = when
        return self.run(self.runner.tick())

    def timers(self) -> Dict[str, Any]:
        return {k: v for k, v in self.store._timer_state()["timers"].items()}


@pytest.fixture
def world():
    w = World()
    yield w
    w.loop.close()


def test_a_solved_ticket_closes_when_its_reopen_window_ends_with_its_timeline_entry(world):
    world.listen()
    t = world.ticket("c1")
    solved = world.run(world.tickets.set_state(SUE, t.label, "solved"))
    key = autoclose.timer_key(solved)
    assert world.run(world.store.get_timer(key)).due == T0 + world.window
    world.run(world.tickets.note(SUE, t.label, "asked about the refund"))   # told again: the same timer
    assert world.run(world.store.get_timer(key)).due == T0 + world.window
    world.at(T0 + world.window - 1)
    assert world.state(t) == "solved"
    world.at(T0 + world.window)
    assert world.state(t) == "closed" and world.run(world.store.get_timer(key)) is None
    last = world.run(world.store.timeline(t.id))[-1]
    assert (last["kind"], last["from"], last["to"], last["by"], last["at"]) == (
        "state", "solved", "closed", "system", T0 + world.window)
    [event] = [e.data for e in world.run(world.store.events("0-0", 0))
               if e.data.get("type") == "ticket" and e.data["ticket"]["state"] == "closed"]
    assert event["change"] == "state" and event["ticket"]["label"] == t.label


def test_a_reopened_ticket_stays_open_and_a_new_solve_gets_a_new_window(world):
    world.listen()
    t = world.ticket("c2")
    first = world.run(world.tickets.set_state(SUE, t.label, "solved"))
    world.now = T0 + 3600
    world.run(world.tickets.customer_message(t.label, "It broke again", "chat"))
    assert world.state(t) == "open"
    world.now = T0 + 7200
    second = world.run(world.tickets.set_state(SUE, t.label, "solved"))
    assert autoclose.timer_key(second) != autoclose.timer_key(first)
    world.at(T0 + world.window)                                        # the first solve's timer: nothing
    assert world.state(t) == "solved" and world.run(world.store.get_timer(autoclose.timer_key(first))) is None
    world.at(T0 + 7200 + world.window)
    assert world.state(t) == "closed"


def test_the_scan_closes_tickets_solved_without_a_timer_and_schedules_its_next_round(world):
    t = world.ticket("c3")                                   # no listener: as if solved before this release
    world.run(world.tickets.set_state(SUE, t.label, "solved"))
    assert world.timers() == {}
    world.listen()
    other = world.ticket("c4")                               # any change makes sure the scan is scheduled
    scan = world.run(world.store.get_timer(autoclose.SCAN_KEY))
    assert scan is not None and scan.due == T0 + 600
    assert world.at(T0 + 600) == 1 and world.state(t) == "solved"   # within the window: left alone
    nxt = world.run(world.store.get_timer(autoclose.SCAN_KEY)).due
    assert nxt == T0 + 1200
    end = T0 + world.window + autoclose.SCAN_GRACE
    while nxt < end:
        world.at(nxt)
        nxt = world.run(world.store.get_timer(autoclose.SCAN_KEY)).due
    world.at(nxt)
    assert world.state(t) == "closed" and world.state(other) == "new"


def test_a_ticket_reopened_just_before_its_window_ends_is_closed_neither_by_its_timer_nor_by_the_scan(world):
    """The close is a checked transition of the ticket as it is now: a reopen written before it wins."""
    world.listen()
    t = world.ticket("c5")
    world.run(world.tickets.set_state(SUE, t.label, "solved"))
    world.now = T0 + world.window - 10
    world.run(world.tickets.customer_message(t.label, "Still broken", "chat"))
    assert world.run(world.autoclose.close_if_due(t.id, T0 + world.window + 1, T0)) is False
    assert world.run(world.autoclose.close_if_due(t.id, T0 + world.window + 1)) is False   # the scan's way
    assert world.state(t) == "open"
