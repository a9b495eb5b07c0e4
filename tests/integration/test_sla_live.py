"""SLA clocks with every process real: one redis-server, two handoff-service processes, the service clock moved by
HANDOFF_CLOCK_FILE, a test SLA policy (HANDOFF_SLA_FILE) and a team calendar with a holiday (HANDOFF_SKILL_GROUPS).

- A chat offered at 09:00 on a Friday to a team working 09:00-18:00 on weekdays, with a 10-business-hour
  resolution target: the warning comes at 17:00 that Friday (8 h, 80 %), the breach not over the weekend nor on
  the Monday holiday but at 10:00 on Tuesday; the breach raises the chat's priority; each is recorded once,
  though two processes run the timers.
- A ticket pending on the customer: its resolution clock stops (days later, no breach), and when the customer
  answers it runs on with the time that was left.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import redis as redis_lib
import requests

from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request
from tests.handoff.test_sla_clocks import ZONE, at, skill_groups_file

SLA = """version: 1
warn_at: 0.8
targets:
  chat: {first_response: 45s, next_response: 1h, resolution: 10h}
  ticket: {first_response: 10h, next_response: 10h, resolution: 3h}
actions:
  chat:
    resolution: {raise_priority: 25, notify_supervisor: true}
  ticket:
    resolution: {raise_priority: 10}
"""


class Clock:
    """The services' clock: the wall clock plus the seconds in the HANDOFF_CLOCK_FILE (handoff/clocks/offset_clock.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, when: float) -> None:
        self.path.write_text(repr(when - time.time()))


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple]:
    clock = Clock(tmp_path / "offset")
    clock.set(at("2026-12-11 08:59:50"))  # a Friday morning
    (tmp_path / "sla.yml").write_text(SLA)
    cluster = Cluster(tmp_path, HANDOFF_CLOCK_FILE=str(clock.path), HANDOFF_SLA_FILE=str(tmp_path / "sla.yml"),
                      HANDOFF_SKILL_GROUPS=str(skill_groups_file(tmp_path)), HANDOFF_SWEEP_SECONDS="0.5")
    try:
        cluster.start_redis()
        cluster.add_agents([{"id": "ann", "skills": ["after_sales", "general"], "max_chats": 3},
                            {"id": "sue", "skills": ["general"], "max_chats": 3, "role": "supervisor"}])
        cluster.start_service()
        cluster.start_service()
        yield cluster, clock
    finally:
        cluster.stop()


def call(method: str, url: str, token: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    r = requests.request(method, url, json=body, headers=bearer(token), timeout=10)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    return r.json()


def until(what: Callable[[], Any], seconds: float = 10.0) -> Any:
    """``what()`` once it is truthy; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stream(cluster: Cluster) -> List[Dict[str, Any]]:
    r = redis_lib.Redis.from_url(cluster.redis_url, decode_responses=True)
    try:
        return [json.loads(fields["e"]) for _, fields in r.xrange("{ho}:events")]
    finally:
        r.close()


def sla_events(cluster: Cluster, key: str, value: str) -> List[Dict[str, Any]]:
    return [e for e in stream(cluster) if e["type"].startswith("sla_") and e.get(key) == value]


def quiet(check: Callable[[], Any], rounds: float = 1.0) -> None:
    """Nothing shows for a while: several timer rounds (every 0.2 s) of both processes."""
    deadline = time.monotonic() + rounds
    while time.monotonic() < deadline:
        assert not check()
        time.sleep(0.1)


def iso_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, ZONE).strftime("%a %Y-%m-%d %H:%M")


def test_a_chat_offered_friday_9am_warns_at_17_and_breaches_tuesday_10_after_the_weekend_and_holiday(live):
    cluster, clock = live
    a, b = cluster.urls
    ann, sue = cluster.login("ann"), cluster.login("sue")
    call("PUT", a + "/v1/agents/me/status", ann, {"status": "online"})
    clock.set(at("2026-12-11 09:00"))
    created = call("POST", a + "/v1/handoffs", BOT_TOKEN, handoff_request("live-1", topics=["order_status"]))
    eid = created["id"]
    assert created["status"] == "offered"
    call("POST", b + f"/v1/handoffs/{eid}/accept", ann)
    call("POST", a + f"/v1/handoffs/{eid}/messages", ann, {"text": "Hello, I am on it"})
    priority = call("GET", a + f"/v1/handoffs/{eid}", sue)["priority"]
    # the dashboard's first-response watch takes its target from the SLA file too
    assert call("GET", b + "/v1/meta", ann)["first_response_target_seconds"] == 45
    assert call("GET", a + "/v1/stats/today", sue)["sla"]["first_response_target_seconds"] == 45

    def logged(kind: str) -> List[Dict[str, Any]]:
        return [x for x in call("GET", b + f"/v1/handoffs/{eid}", sue)["clock_log"] if x["kind"] == kind]

    clock.set(at("2026-12-11 16:59:58"))
    quiet(lambda: logged("sla_warning"))
    clock.set(at("2026-12-11 17:00:01"))
    (warning,) = until(lambda: logged("sla_warning"))
    assert warning["target"] == "resolution" and abs(warning["left_seconds"] - 2 * 3600) < 10
    for moment in ("2026-12-12 12:00", "2026-12-14 12:00", "2026-12-15 09:59:57"):  # Saturday, holiday Monday
        clock.set(at(moment))
        quiet(lambda: logged("sla_breach"), 0.6)
    clock.set(at("2026-12-15 10:00:01"))
    (breach,) = until(lambda: logged("sla_breach"))
    assert breach["target"] == "resolution" and local(breach["due"]) == "Tue 2026-12-15 10:00"
    record = until(lambda: (lambda r: r if len([x for x in r["clock_log"] if x["kind"] == "sla_action"]) == 2
                            else None)(call("GET", a + f"/v1/handoffs/{eid}", sue)))
    assert record["priority"] == priority + 25 and record["status"] == "assigned"
    assert [x["action"] for x in record["clock_log"] if x["kind"] == "sla_action"] == ["raise_priority",
                                                                                      "notify_supervisor"]
    clocks = {c["target"]: c for c in record["clocks"]}
    assert clocks["resolution"]["state"] == "breached" and clocks["first_response"]["state"] == "met"
    events = sla_events(cluster, "escalation", eid)
    assert [(e["type"], e.get("target"), e.get("action")) for e in events] == [
        ("sla_warning", "resolution", None), ("sla_breach", "resolution", None),
        ("sla_action", None, "raise_priority"), ("sla_action", None, "notify_supervisor")]
    assert events[1]["agent"] == "ann" and events[1]["group"] == "after_sales" and events[1]["target_seconds"] == 36000
    mine = call("GET", b + "/v1/agents/me/handoffs", ann)["handoffs"]
    assert {c["target"]: c["state"] for c in mine[0]["clocks"]}["resolution"] == "breached"


def test_a_pending_tickets_clock_stops_and_runs_on_with_the_time_left_when_the_customer_answers(live):
    cluster, clock = live
    a, b = cluster.urls
    ann = cluster.login("ann")
    clock.set(at("2026-12-11 09:00"))
    t = call("POST", a + "/v1/tickets", BOT_TOKEN, {"subject": "kettle leaks", "skill_group": "general",
                                                    "requester": {"customer_id": "k-1", "channel": "api"}})
    label = t["label"]
    clock.set(at("2026-12-11 10:00"))
    call("POST", b + f"/v1/tickets/{label}/replies", ann, {"text": "Please send a photo", "state": "pending"})

    def detail() -> Dict[str, Any]:
        return call("GET", a + f"/v1/tickets/{label}", ann)

    def logged(kind: str) -> List[Dict[str, Any]]:
        return [x for x in detail()["timeline"] if x["kind"] == kind]

    for moment in ("2026-12-11 17:00", "2026-12-15 16:00"):  # the 3 h would be long gone if it ran
        clock.set(at(moment))
        quiet(lambda: logged("sla_warning") or logged("sla_breach"), 0.6)
    resolution = {c["target"]: c for c in detail()["ticket"]["clocks"]}["resolution"]
    assert resolution["state"] == "paused" and abs(resolution["left_seconds"] - 2 * 3600) < 1
    assert resolution["due_at"] is None
    clock.set(at("2026-12-15 15:30"))
    call("POST", b + f"/v1/tickets/{label}/customer_messages", BOT_TOKEN, {"text": "here is the photo"})
    resolution = {c["target"]: c for c in detail()["ticket"]["clocks"]}["resolution"]
    assert resolution["state"] == "running"
    # 2 h left: 15:30-17:30 Tuesday (to the second: the requests took some real milliseconds)
    assert abs(iso_epoch(resolution["due_at"]) - at("2026-12-15 17:30")) < 2
    clock.set(at("2026-12-15 17:00"))  # 80 % of 3 h = 2 h 24 min used: 1 h 24 min after the answer, 16:54
    (warning,) = until(lambda: logged("sla_warning"))
    assert warning["target"] == "resolution"
    clock.set(at("2026-12-15 17:29:57"))
    quiet(lambda: logged("sla_breach"), 0.6)
    clock.set(at("2026-12-15 17:30:01"))
    (breach,) = until(lambda: logged("sla_breach"))
    assert abs(breach["due"] - at("2026-12-15 17:30")) < 2
    assert until(lambda: detail()["ticket"]["priority"] == t["priority"] + 10)
    assert [e["type"] for e in sla_events(cluster, "ticket", t["id"])] == ["sla_warning", "sla_breach",
                                                                          "sla_action"]
