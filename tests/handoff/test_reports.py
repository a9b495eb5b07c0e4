"""The reports' figures (handoff/reports/), each from records the real services wrote over the in-memory twin with a
fake clock, so every figure is known exactly; and the pure pieces (ranges, CSV) on their own."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from common.routing import SkillGroups
from handoff.clocks.timers import Fired
from handoff.metrics import Metrics
from handoff.reports import export, figures, read, summary as sm
from handoff.reports.rows import band
from handoff.store import Status
from handoff.tickets.flows import TicketFlows
from handoff.tickets.service import TicketService
from tests.handoff.requests import handoff_request
from tests.handoff.test_service import env  # noqa: F401  (the fixture)

TZ = "Asia/Shanghai"
DAY = 86400
MONDAY_0930 = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc).timestamp()  # Monday 09:30 in Shanghai
KEY = "{shop}:stats:conversations:"


def req(conversation, customer, topic, triggers=("explicit_request",)):
    body = handoff_request(conversation, topics=[topic], triggers=list(triggers))
    body["customer"]["id"] = customer
    return body


@pytest.fixture
def world(env):  # noqa: F811
    service, store, clock, run, agent = env
    clock.now = MONDAY_0930
    tickets = TicketService(store, service.groups, TicketFlows.load(groups=service.groups.groups), Metrics(), clock=clock)
    service.tickets = tickets
    ann = agent("ann", ["general", "after_sales", "billing"], max_chats=5)
    bob = agent("bob", ["general", "after_sales", "billing"], max_chats=5)
    sue = agent("sue", ["general"], role="supervisor")

    def chat(conv, customer, topic, wait=10.0, reply=5.0, handle=100.0, resolved=True, survey=None, triggers=("explicit_request",)):
        e = run(service.create(req(conv, customer, topic, triggers))).escalation
        who = ann if e.agent_id == "ann" else bob
        clock.now += wait
        run(service.accept(who, e.id))
        clock.now += reply
        run(service.message(who, e.id, "hello"))
        clock.now += handle
        run(service.finish(who, e.id, Status.CLOSED, "answered", {"resolved": resolved, "wrap_up": "answered"}))
        if survey is not None:
            clock.now += 60
            run(service.survey(e.id, survey))
        return run(store.get(e.id))

    def report(first="2026-11-23", last="2026-11-29", threshold=0.6):
        rng = sm.parse_range(first, last, TZ)
        rec = run(read.read(store, rng, KEY, clock.now))
        return sm.summary(rec.rows, rec.conversations, rec.topic_conversations, rng, threshold, rec.topics_counted)

    return {"service": service, "store": store, "clock": clock, "run": run, "tickets": tickets, "chat": chat,
            "report": report, "ann": ann, "bob": bob, "sue": sue}


def count(store, day, conversations, topic=None):
    key = f"{read.TOPIC_KEY}{day}:{topic}" if topic else f"{KEY}{day}"
    store.conversations.setdefault(key, set()).update(conversations)


def test_first_contact_resolution_across_the_bot_and_people(world):
    w, clock = world, world["clock"]
    count(w["store"], "2026-11-23", [f"c{i}" for i in range(10)])       # 10 bot conversations, 4 handed off
    w["chat"]("c1", "alice", "order_status")                            # solved at first contact
    w["chat"]("c2", "bert", "refund_time", survey={"resolved": False, "rating": 2})  # the survey says not solved
    w["chat"]("c3", "cleo", "warranty")
    clock.now += 3 * DAY
    w["chat"]("c4", "cleo", "warranty")                                 # cleo back on the same topic within 7 days
    s = w["report"]()
    assert s["fcr"] == {"rate": round((6 + 2) / 10, 4), "problems": 10, "bot_contained": 6, "human_contacts": 4,
                        "human_first_contact": 2, "human_rate": 0.5}  # c1 and c4 (c3 had a follow-up, c2 not solved)


def test_a_transfer_or_a_ticket_is_not_first_contact_and_a_return_after_7_days_is_a_new_problem(world):
    w, clock, run = world, world["clock"], world["run"]
    count(w["store"], "2026-11-23", ["a", "b", "c"])
    e = w["service"].create(req("a", "alice", "order_status"))
    e = run(e).escalation
    run(w["service"].accept(w["ann"] if e.agent_id == "ann" else w["bob"], e.id))
    run(w["service"].transfer(w["sue"], e.id, "billing", None, "billing question"))
    e = run(w["store"].get(e.id))
    run(w["service"].accept(w["ann"] if e.agent_id == "ann" else w["bob"], e.id))
    run(w["service"].finish(w["sue"], e.id, Status.CLOSED, "answered", {"resolved": True, "wrap_up": "answered"}))
    b = w["chat"]("b", "bert", "refund_time", resolved=False)
    run(w["tickets"].from_escalation(b.id, "ann", "agent", assignee="ann"))
    w["chat"]("c", "cleo", "coupons")
    clock.now += 8 * DAY
    w["chat"]("c-again", "cleo", "coupons")                             # outside the range and past 7 days
    s = w["report"]()
    assert (s["fcr"]["human_contacts"], s["fcr"]["human_first_contact"]) == (3, 1)


def test_containment_and_handoff_rate_by_topic_from_the_bots_counts(world):
    w = world
    count(w["store"], "2026-11-23", [f"o{i}" for i in range(8)] + ["r1", "r2"])
    count(w["store"], "2026-11-23", [f"o{i}" for i in range(8)], "order_status")
    count(w["store"], "2026-11-23", ["r1", "r2"], "refund_time")
    w["chat"]("o1", "alice", "order_status")
    w["chat"]("r1", "bert", "refund_time")
    w["chat"]("r2", "cleo", "refund_time")
    c = w["report"]()["containment"]
    assert (c["conversations"], c["handoffs"], c["handoff_rate"], c["containment"]) == (10, 3, 0.3, 0.7)
    assert c["by_topic_counted"] is True
    assert c["by_topic"] == [
        {"topic": "refund_time", "conversations": 2, "handoffs": 2, "handoff_rate": 1.0, "containment": 0.0},
        {"topic": "order_status", "conversations": 8, "handoffs": 1, "handoff_rate": 0.125, "containment": 0.875}]


def test_without_the_bots_topic_counts_containment_by_topic_is_unknown(world):
    count(world["store"], "2026-11-23", ["o1", "o2"])
    world["chat"]("o1", "alice", "order_status")
    c = world["report"]()["containment"]
    assert c["by_topic_counted"] is False and c["by_topic"][0]["conversations"] is None
    assert c["by_topic"][0]["containment"] is None and c["containment"] == 0.5


def fire_log(store, run, subject, entries):
    """Clock-log entries written as the timers write them (an atomic completion under a lease)."""
    for i, entry in enumerate(entries):
        run(store.schedule_timer(f"t:{subject}:{i}", "test", 0.0, {}))
        (timer,) = run(store.claim_timers(1.0, 30.0, 1))
        assert run(store.complete_timer(timer, Fired(log=[(subject, entry)])))


def test_sla_attainment_per_group_band_and_target_from_the_clock_log(world):
    w, run, store = world, world["run"], world["store"]
    late = w["chat"]("a", "alice", "order_status", wait=40)
    w["chat"]("b", "bert", "order_status")
    vip = w["chat"]("c", "cleo", "order_status")
    fire_log(store, run, f"chat:{late.id}", [{"kind": "sla_warning", "at": 1, "target": "first_response"},
                                             {"kind": "sla_breach", "at": 2, "target": "first_response"}])
    fire_log(store, run, f"chat:{vip.id}", [{"kind": "sla_breach", "at": 3, "target": "next_response"}])
    s = w["report"]()["sla"]
    assert s["targets"] == [
        {"target": "first_response", "records": 3, "breached": 1, "attainment": 0.6667},
        {"target": "next_response", "records": 1, "breached": 1, "attainment": 0.0},
        {"target": "resolution", "records": 3, "breached": 0, "attainment": 1.0}]
    group = late.skill_group
    cell = next(c for c in s["cells"] if (c["group"], c["target"]) == (group, "first_response"))
    assert (cell["kind"], cell["band"], cell["breached"]) == ("chat", "normal", 1)
    assert (band(10), band(30), band(59), band(60)) == ("normal", "high", "high", "urgent")


def test_first_response_and_resolution_p50_p90_and_the_resolution_ends_at_the_close_not_the_survey(world):
    w = world
    for i, (wait, reply, handle) in enumerate([(10, 5, 100), (20, 10, 200), (30, 20, 300)]):
        w["chat"](f"c{i}", f"cust{i}", "order_status", wait=wait, reply=reply, handle=handle,
                  survey={"resolved": True, "rating": 5})
    t = w["report"]()["times"]["chat"]
    assert t["wait"] == {"count": 3, "p50": 20.0, "p90": 28.0}
    assert t["first_response"] == {"count": 3, "p50": 30.0, "p90": 46.0}
    assert t["resolution"] == {"count": 3, "p50": 230.0, "p90": 326.0}  # the survey 60 s later does not count


def test_reopen_rate_and_time_per_team_in_ticket_flows(world):
    clock, run, tickets, ann = world["clock"], world["run"], world["tickets"], world["ann"]
    t1, _ = run(tickets.open_ticket(subject="a", requester={"customer_id": "x"}, by="bot", source="api",
                                    group="general", brief={"topics": ["warranty"]}))
    t2, _ = run(tickets.open_ticket(subject="b", requester={"customer_id": "y"}, by="bot", source="api",
                                    group="general", brief={"topics": ["warranty"]}))
    run(tickets.claim(ann, t1.label))
    run(tickets.claim(ann, t2.label))
    clock.now += 600
    run(tickets.reply(ann, t1.label, "on it", "open"))
    run(tickets.send(ann, t1.label, "please check", "billing"))
    clock.now += 3600
    run(tickets.send(world["sue"], t1.label, "done", "general"))
    clock.now += 100
    run(tickets.set_state(ann, t1.label, "solved"))
    run(tickets.set_state(ann, t2.label, "solved"))
    clock.now += 50
    run(tickets.customer_message(t2.label, "again", "chat", "m1"))     # reopened
    run(tickets.set_state(ann, t2.label, "solved"))
    s = world["report"]()
    assert s["reopens"] == {"solved": 2, "reopened": 1, "rate": 0.5}
    assert s["teams"]["tickets_moved"] == 1 and s["teams"]["cross_team_seconds"] == 3600.0
    assert {g["group"]: g["seconds"] for g in s["teams"]["per_team"]} == {"general": 700.0 + 4300.0, "billing": 3600.0}
    assert s["times"]["ticket"]["first_response"] == {"count": 1, "p50": 600.0, "p90": 600.0}
    assert s["fcr"]["human_contacts"] == 2 and s["fcr"]["human_first_contact"] == 0  # a team move; a reopen


def test_top_problems_with_solve_rates_flag_those_below_the_threshold(world):
    w = world
    for i in range(3):
        w["chat"](f"d{i}", f"d{i}", "damaged_item", resolved=(i == 0), triggers=("negative_sentiment",))
    w["chat"]("o1", "o1", "order_status")
    top = w["report"](threshold=0.5)["top"]
    assert top["topics"] == [
        {"name": "damaged_item", "count": 3, "solved": 1, "solve_rate": 0.3333, "flagged": True},
        {"name": "order_status", "count": 1, "solved": 1, "solve_rate": 1.0, "flagged": False}]
    assert [(r["name"], r["flagged"]) for r in top["reasons"]] == [("negative_sentiment", True), ("explicit_request", False)]
    assert w["report"](threshold=0.3)["top"]["topics"][0]["flagged"] is False


def test_the_heat_map_is_in_the_business_time_zone(world):
    world["chat"]("a", "alice", "order_status", wait=12)
    h = world["report"]()["heat_map"]
    assert h["timezone"] == TZ and h["volume"][0][9] == 1 and h["wait_p50"][0][9] == 12.0  # Monday 09:30 local
    assert sum(map(sum, h["volume"])) == 1


def test_trends_per_day_and_week(world):
    w, clock = world, world["clock"]
    count(w["store"], "2026-11-23", ["a", "x"])
    w["chat"]("a", "alice", "order_status")
    clock.now += DAY
    w["chat"]("b", "bert", "order_status")
    tr = w["report"]("2026-11-23", "2026-11-30")["trends"]
    assert [(d["date"], d["handoffs"], d["conversations"]) for d in tr["days"][:3]] == \
        [("2026-11-23", 1, 2), ("2026-11-24", 1, 0), ("2026-11-25", 0, 0)]
    assert [(x["week"], x["days"], x["handoffs"]) for x in tr["weeks"]] == [("2026-W48", 7, 2), ("2026-W49", 1, 0)]


def test_satisfaction_per_group_and_agent_with_the_unresolved_answers(world):
    w = world
    a = w["chat"]("a", "alice", "order_status", survey={"resolved": True, "rating": 5})
    b = w["chat"]("b", "bert", "order_status", survey={"resolved": False, "rating": 1, "comment": "still lost"})
    sat = w["report"]()["satisfaction"]
    assert (sat["responses"], sat["average_rating"], sat["resolved_share"]) == (2, 3.0, 0.5)
    assert {g["name"]: g["responses"] for g in sat["agents"]} == {a.agent_id: 1, b.agent_id: 1} or a.agent_id == b.agent_id
    assert [(u["ref"], u["comment"], u["rating"]) for u in sat["unresolved"]] == [("b", "still lost", 1)]


def test_csv_export_escapes_formulas_and_has_one_line_per_chat(world):
    w = world
    w["chat"]("a", "alice", "order_status", survey={"resolved": False, "rating": 1, "comment": "=HYPERLINK(\"http://x\")"})
    w["chat"]("b", "bert", "order_status", survey={"resolved": True, "rating": 5, "comment": "@SUM(1)"})
    rng = sm.parse_range("2026-11-23", "2026-11-29", TZ)
    rows = w["run"](read.rows_of(w["store"], rng.start, rng.end, w["clock"].now))
    lines = list(csv.DictReader(io.StringIO(export.to_csv(rows, "chats"))))
    assert [x["conversation_id"] for x in lines] == ["a", "b"]
    assert [x["survey_comment"] for x in lines] == ["'=HYPERLINK(\"http://x\")", "'@SUM(1)"]
    assert lines[0]["first_contact_resolution"] == "no" and lines[1]["first_contact_resolution"] == "yes"
    assert export.to_csv(rows, "tickets").strip().count("\r\n") == 0  # the header only
    assert [export.safe(x) for x in ("-1", "+1", "\tx", "ok", None)] == ["'-1", "'+1", "'\tx", "ok", ""]


@pytest.mark.parametrize("first,last,message", [
    ("2026-11-23", None, "to: a date YYYY-MM-DD, not None"),
    ("23.11.2026", "2026-11-29", "from: a date YYYY-MM-DD, not '23.11.2026'"),
    ("2026-02-30", "2026-03-01", "from: '2026-02-30' is not a calendar date"),
    ("2026-11-29", "2026-11-23", "to (2026-11-23) is before from (2026-11-29)"),
    ("2026-01-01", "2026-12-31", "the range has 365 days; at most 92"),
    ("0001-01-01", "0001-01-02", "from: a date from 2000 to 2100, not 0001-01-01"),
    ("2026-11-23", "９９９９-12-31", "to: a date YYYY-MM-DD, not '９９９９-12-31'"),
])
def test_a_bad_range_says_what_is_wrong(first, last, message):
    with pytest.raises(sm.ReportInvalid) as e:
        sm.parse_range(first, last, TZ)
    assert str(e.value) == message


def test_weeks_are_iso_weeks_in_the_business_time_zone():
    r = sm.parse_week("2026-W48", TZ)
    assert (r.first.isoformat(), r.last.isoformat(), sm.week_name(sm.previous_week(r).first)) == \
        ("2026-11-23", "2026-11-29", "2026-W47")
    assert r.start == datetime(2026, 11, 22, 16, tzinfo=timezone.utc).timestamp()
    for bad in ("2026-48", "2026-W54", None, "9999-W52", "٢٠٢٦-W48"):
        with pytest.raises(sm.ReportInvalid):
            sm.parse_week(bad, TZ)


def test_compare_gives_the_change_of_each_headline():
    this = {"containment": {"handoffs": 12, "containment": 0.8}, "fcr": {"rate": None}}
    before = {"containment": {"handoffs": 10, "containment": 0.75}, "fcr": {"rate": 0.5}}
    changes = {c["name"]: c for c in sm.compare(this, before)}
    assert changes["handoffs"]["change"] == 2 and changes["containment"]["change"] == 0.05
    assert changes["fcr"] == {"name": "fcr", "value": None, "before": 0.5, "change": None}


def test_figures_of_nothing_are_unknown_not_zero():
    assert figures.containment([], 0, {})["containment"] is None
    assert figures.fcr([], 0)["rate"] is None
    assert figures.times([])["chat"]["wait"] == {"count": 0, "p50": None, "p90": None}


def test_the_business_time_zone_is_the_default_calendars():
    from handoff.reports.routes import business_timezone
    assert business_timezone(SkillGroups.load()) == TZ
