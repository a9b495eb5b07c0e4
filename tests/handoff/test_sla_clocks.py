"""SLA clocks over the in-memory store with a fake clock (handoff/clocks/sla.py): warnings and breaches fire at
the business time policy/sla.yml sets, once; a target met in time cancels them; a pending ticket's clock stops and
runs on with the time left; the breach actions (priority, re-offer, supervisor) happen; the views show it all."""
from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from common.routing import SkillGroups
from common.sla import SlaPolicy
from handoff.auth import Caller
from handoff.clocks.sla import SlaClocks, timer_key
from handoff.clocks.timers import TimerRunner
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from handoff.service import HandoffService
from handoff.store import Status
from handoff.tickets.service import TicketService
from tests.handoff.requests import handoff_request
from tests.handoff.stores import Clock

POLICY = Path(__file__).resolve().parents[2] / "policy"
ZONE = ZoneInfo("Asia/Shanghai")
BOT = Caller("bot", None, "bot")
# Weekdays 09:00-18:00 in Shanghai; Monday 2026-12-14 a holiday (tests/integration/test_sla_live.py uses it too).
HOURS = {"default": {"timezone": "Asia/Shanghai", "week": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                     "holidays": ["2026-12-14"]}}


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


def skill_groups_file(folder: Path) -> Path:
    doc = yaml.safe_load((POLICY / "skill_groups.yml").read_text())
    doc["business_hours"] = HOURS
    path = folder / "skill_groups.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def sla_file(folder: Path) -> Path:
    """The shipped policy with a ticket's resolution at 2 h: the timings of these tests are chosen for it."""
    doc = yaml.safe_load((POLICY / "sla.yml").read_text())
    doc["targets"]["ticket"]["resolution"] = "2h"
    path = folder / "sla.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def env(tmp_path):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clock = Clock(at("2026-12-09 10:00"))  # a Wednesday morning
    store = MemoryStore()
    store.timer_clock = clock  # the timers' server time is the same fake clock
    groups = SkillGroups.load(skill_groups_file(tmp_path))
    metrics = Metrics()
    service = HandoffService(store, groups, metrics, reservation_seconds=30.0, clock=clock)
    tickets = TicketService(store, groups, None, metrics, clock=clock)
    service.tickets, tickets.hooks = tickets, service.hooks
    timers = TimerRunner(store)
    SlaClocks(SlaPolicy.load(groups.groups, sla_file(tmp_path)), service, tickets, timers, metrics).install()

    def run(coro):
        return loop.run_until_complete(coro)

    def agent(agent_id, skills, max_chats=2):
        run(store.save_account(agent_id, {"id": agent_id, "name": agent_id.title(), "role": "agent",
                                          "skills": ",".join(skills), "max_chats": str(max_chats)}))
        run(service.set_status(agent_id, "online"))
        return Caller("agent", agent_id, "agent")

    def fire(seconds_later: float):
        """Move the clock and fire what is due; the SLA events recorded since the start."""
        clock.now += seconds_later
        run(timers.tick())
        return [(e.to, e.data) for e in run(store.events("0", 0)) if e.data["type"].startswith("sla_")]

    yield service, tickets, store, clock, run, agent, fire, metrics
    loop.close()


def of(events, type_, key, value):
    return [data for _, data in events if data["type"] == type_ and data.get(key) == value]


def test_a_waiting_chat_is_warned_at_80_percent_then_breached_raised_and_reoffered_once(env):
    service, _, store, clock, run, agent, fire, metrics = env
    ann, _ = agent("ann", ["after_sales"], max_chats=1), agent("gil", ["general"], max_chats=1)
    first = run(service.create(handoff_request("c0", topics=["order_status"]))).escalation
    run(service.accept(ann, first.id))
    run(service.message(ann, first.id, "hello"))  # its first response is met
    e = run(service.create(handoff_request("c1", topics=["order_status"]))).escalation
    assert (e.status, e.skill_group, e.priority) == (Status.WAITING, "after_sales", 10)  # ann is full
    assert of(fire(23.9), "sla_warning", "escalation", e.id) == []
    warned = of(fire(0.1), "sla_warning", "escalation", e.id)
    assert [(w["target"], w["target_seconds"], w["left_seconds"], w["group"], w.get("agent")) for w in warned] == \
        [("first_response", 30, 6.0, "after_sales", None)]
    events = fire(6)
    (breach,) = of(events, "sla_breach", "escalation", e.id)
    assert (breach["target"], breach["over_seconds"], breach["due"]) == ("first_response", 0.0, e.created_at + 30)
    actions = [a["action"] for a in of(events, "sla_action", "escalation", e.id)]
    assert actions == ["raise_priority", "reoffer", "notify_supervisor"]
    moved = run(store.get(e.id))
    assert (moved.priority, moved.skill_group, moved.status, moved.agent_id) == (30, "general", Status.OFFERED, "gil")
    again = fire(600)
    assert len(of(again, "sla_breach", "escalation", e.id)) == 1 and len(of(again, "sla_warning", "escalation", e.id)) == 1
    log = run(store.clock_log(f"chat:{e.id}"))
    assert [x["kind"] for x in log] == ["sla_warning", "sla_breach", "sla_action", "sla_action", "sla_action"]
    assert metrics.sla_breaches.labels("after_sales", "first_response", "chat")._value.get() == 1
    record = run(service.record(run(store.get(e.id))))
    assert [x["kind"] for x in record["clock_log"]] == [x["kind"] for x in log]
    clocks = {c["target"]: c for c in record["clocks"]}
    assert clocks["first_response"]["state"] == "breached" and clocks["first_response"]["left_seconds"] < 0
    assert clocks["resolution"]["state"] == "running" and clocks["resolution"]["target_seconds"] == 7200


def test_a_first_reply_in_time_cancels_the_timers_and_a_customer_message_starts_next_response(env):
    service, _, store, clock, run, agent, fire, _ = env
    ann = agent("ann", ["after_sales"])
    e = run(service.create(handoff_request("c1", topics=["order_status"]))).escalation
    run(service.accept(ann, e.id))
    key = timer_key("chat", e.id, "first_response", e.created_at, 30, "breach")
    assert run(store.get_timer(key)).due == e.created_at + 30
    clock.now += 10
    run(service.message(ann, e.id, "I am looking at it"))
    assert run(store.get_timer(key)) is None
    clock.now += 10
    run(service.message(BOT, e.id, "and?"))
    asked = clock.now
    assert run(store.get_timer(timer_key("chat", e.id, "next_response", asked, 60, "warn"))).due == asked + 48
    events = fire(50)
    assert [(d["type"], d["target"]) for d in of(events, "sla_warning", "escalation", e.id)] == \
        [("sla_warning", "next_response")]
    assert of(events, "sla_warning", "escalation", e.id)[0]["agent"] == "ann"
    assert [to for to, d in events if d["type"] == "sla_warning"] == [["ann"]]  # to the assignee
    run(service.message(ann, e.id, "found it"))
    assert of(fire(3600), "sla_breach", "escalation", e.id) == []
    clocks = {c["target"]: c["state"] for c in run(service.my_handoffs("ann"))[0]["clocks"]}
    assert clocks == {"first_response": "met", "next_response": "met", "resolution": "running"}


def test_a_pending_tickets_clock_stops_and_the_rest_runs_after_the_customer_answers(env):
    service, tickets, store, clock, run, agent, fire, _ = env
    ann = agent("ann", ["general"])
    t, _ = run(tickets.open_ticket(subject="broken kettle", requester={"customer_id": "k1", "channel": "api"},
                                   by="bot", source="api", group="general"))
    clock.now += 1800
    run(tickets.reply(ann, t.label, "send a photo please"))  # pending on the customer after 30 min
    assert run(store.ticket(t.id)).state.value == "pending"
    events = fire(at("2026-12-10 12:00") - clock.now)  # Thursday noon: the 2 h would be long gone if it ran
    assert of(events, "sla_breach", "ticket", t.id) == [] and of(events, "sla_warning", "ticket", t.id) == []
    run(tickets.customer_message(t.label, "here it is", "api"))  # open again: 90 business minutes left
    detail = run(tickets.detail(Caller("agent", "ann", "supervisor"), t.label))
    res = {c["target"]: c for c in detail["ticket"]["clocks"]}["resolution"]
    assert res["state"] == "running" and res["left_seconds"] == 5400
    assert res["due_at"] == "2026-12-10T05:30:00.000Z" and res["warn_at"] == "2026-12-10T05:06:00.000Z"  # 13:30, 13:06
    assert [w["target"] for w in of(fire(at("2026-12-10 12:48") - clock.now), "sla_warning", "ticket", t.id)] == \
        ["next_response"]  # the customer wrote at 12:00: 48 of 60 minutes
    assert [b["target"] for b in of(fire(at("2026-12-10 13:00") - clock.now), "sla_breach", "ticket", t.id)] == \
        ["next_response"]
    assert run(store.ticket(t.id)).priority == 15  # + 5 (next_response)
    assert [w["target"] for w in of(fire(at("2026-12-10 13:06") - clock.now), "sla_warning", "ticket", t.id)] == \
        ["next_response", "resolution"]
    events = fire(at("2026-12-10 13:30") - clock.now)
    assert [b["target"] for b in of(events, "sla_breach", "ticket", t.id)] == ["next_response", "resolution"]
    after = run(store.ticket(t.id))
    assert after.priority == 20  # 10 + 10 (resolution); the next_response breach raised it to 15 first
    detail = run(tickets.detail(Caller("agent", "ann", "supervisor"), t.label))
    kinds = [x["kind"] for x in detail["timeline"]]
    assert kinds.count("sla_breach") == 2 and kinds.count("priority") == 2 and "sla_warning" in kinds
    assert kinds.index("sla_breach") > kinds.index("customer")  # merged by time


def test_the_service_does_not_start_with_a_bad_sla_file_or_an_old_target_that_disagrees(tmp_path):
    from common.config import ConfigError
    from handoff.app import create_app
    from handoff.settings import Settings
    bad = tmp_path / "sla.yml"
    bad.write_text("version: 1\ntargets:\n  chat: {first_response: 30s}\n")
    with pytest.raises(ConfigError, match=r"sla.yml: line 3, targets.chat: targets.chat.next_response is missing"):
        create_app(Settings(bot_token="b" * 16, token_secret="s" * 32, sla_file=bad))
    doc = yaml.safe_load((POLICY / "skill_groups.yml").read_text())
    doc["sla"] = {"first_response_seconds": 45}
    old = tmp_path / "skill_groups.yml"
    old.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"first_response_seconds: 45 s, but the SLA targets moved to"):
        create_app(Settings(bot_token="b" * 16, token_secret="s" * 32, skill_groups_file=old))


def test_a_chat_whose_priority_reaches_a_band_is_measured_by_the_bands_target_and_breached_once(env):
    service, _, store, clock, run, agent, fire, _ = env
    agent("ann", ["after_sales"], max_chats=1)
    run(service.create(handoff_request("c0", topics=["order_status"])))  # ann's one slot
    e = run(service.create(handoff_request("c1", topics=["order_status"]))).escalation
    clock.now += 5
    run(store.raise_chat_priority(e.id, 40, service.seconds_per_point))  # urgent: first response 20 s, not 30 s
    run(service.reconcile())  # the sweep tells the clocks again
    warned = of(fire(11), "sla_warning", "escalation", e.id)
    assert [(w["target"], w["target_seconds"]) for w in warned] == [("first_response", 20)]  # at 16 s
    breached = of(fire(4), "sla_breach", "escalation", e.id)
    assert [(b["target"], b["target_seconds"]) for b in breached] == [("first_response", 20)]
    events = fire(600)  # the timers of the 30 s target come and find their clock re-targeted
    assert len(of(events, "sla_warning", "escalation", e.id)) == 1 and len(of(events, "sla_breach", "escalation", e.id)) == 1
