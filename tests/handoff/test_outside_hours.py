"""Chats outside the team's business hours: with `tickets.outside_business_hours: ticket` they become tickets even
when an agent is online (the shop's rule: nobody serves live at night), at the handoff and in the sweep; with the
default `queue`, an online agent gets them."""
from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from common.routing import SkillGroups
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from handoff.service import HandoffService
from handoff.store import Status
from handoff.tickets.service import TicketService
from tests.handoff.requests import handoff_request

NIGHT = datetime(2026, 12, 8, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # a Tuesday, 03:00
DAY = datetime(2026, 12, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


@pytest.fixture
def make():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def build(mode: str, now: float):
        groups = SkillGroups.load()
        groups.outside_business_hours = mode
        store, clock = MemoryStore(), [now]
        service = HandoffService(store, groups, Metrics(), clock=lambda: clock[0])
        service.tickets = TicketService(store, groups, None, service.metrics, clock=lambda: clock[0])
        run = loop.run_until_complete
        run(store.save_account("ann", {"id": "ann", "name": "Ann", "role": "agent", "skills": "after_sales,general",
                                       "max_chats": "3"}))
        run(service.set_status("ann", "online"))
        return service, store, clock, run

    yield build
    loop.close()


def test_at_night_a_chat_becomes_a_ticket_although_an_agent_is_online(make):
    service, store, clock, run = make("ticket", NIGHT)
    created = run(service.create(handoff_request("night-1", "after_sales")))
    e = created.escalation
    assert e.status == Status.TICKET and e.agent_id is None
    assert e.history[-1]["detail"] == "outside the business hours of after_sales"
    body = created.as_dict()
    assert body["ticket"]["label"].startswith("T-") and body["ticket"]["due_local"] == "2026-12-08 13:00"
    again = run(service.create(handoff_request("night-1", "after_sales")))  # the bot's retry
    assert again.escalation.id == e.id and again.as_dict()["ticket"]["label"] == body["ticket"]["label"]


def test_in_business_hours_or_with_the_default_queue_the_online_agent_gets_it(make):
    service, _store, _clock, run = make("ticket", DAY)
    assert run(service.create(handoff_request("day-1", "after_sales"))).escalation.status == Status.OFFERED
    service, _store, _clock, run = make("queue", NIGHT)
    assert run(service.create(handoff_request("night-2", "after_sales"))).escalation.status == Status.OFFERED


def test_the_sweep_turns_chats_still_waiting_at_closing_time_into_tickets(make):
    service, store, clock, run = make("ticket", DAY)
    for i in range(4):  # ann takes 3; the 4th waits
        run(service.create(handoff_request(f"late-{i}", "after_sales")))
    (waiting,) = run(store.waiting("after_sales"))
    clock[0] = datetime(2026, 12, 8, 18, 5, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # closed at 18:00
    run(service.sweep())
    e = run(store.get(waiting))
    assert e.status == Status.TICKET and e.history[-1]["detail"] == "outside the business hours of after_sales"
    assert e.outcome["ticket"].startswith("T-")
