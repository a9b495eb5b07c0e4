"""An agent sees the SLA warning appear on a chat, the supervisor sees it on the dashboard,
and the breach raises the priority: the real stack (redis-server, a handoff-service process with its SLA engine,
Chromium), nothing injected. The SLA policy is the shipped policy/sla.yml with the chat's first response made
short (12 s, warning at half: "First response due in 6 s") so the test waits seconds, not minutes; the service
clock is moved into business hours (HANDOFF_CLOCK_FILE), since the clocks count business time only.

tests/browser/test_clocks_console.py tests the ticket's pages and the clocks' display with events written through
the store's timer API.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
import yaml
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.test_clocks_console import NAMES, TEAM, WAIT, accept_offer, hand_off, in_thread, no_errors, online, page_for
from tests.conftest import ROOT
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request

TARGET_SECONDS = 12
WARN_AT = 0.5
GROUPS = ("general", "after_sales")


def fast_policy(folder: Path) -> Path:
    """policy/sla.yml with the chat's first response at TARGET_SECONDS, the warning at WARN_AT and its breach
    raising the priority only (no re-offer: the chat stays with the agent who took it)."""
    doc: Dict[str, Any] = yaml.safe_load((ROOT / "policy" / "sla.yml").read_text())
    doc["warn_at"] = WARN_AT
    doc["targets"]["chat"]["first_response"] = TARGET_SECONDS
    doc["actions"]["chat"]["first_response"] = {"raise_priority": 20, "notify_supervisor": True}
    for name in GROUPS:  # a group's own chat first_response would win over the one set here
        own = ((doc.get("groups") or {}).get(name) or {}).get("targets", {}).get("chat", {})
        assert "first_response" not in own, f"policy/sla.yml gives {name} its own chat first_response: adapt this test"
    path = folder / "sla.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def business_offset() -> float:
    """Seconds to move the service clock by so that it is 10:00 on the next day every group of GROUPS works
    (policy/skill_groups.yml business_hours), with an hour of work ahead."""
    from common.business_hours import calendars_for
    doc = yaml.safe_load((ROOT / "policy" / "skill_groups.yml").read_text())
    names = list(doc["groups"])
    calendars = [c for name, c in calendars_for(doc, names).items() if name in GROUPS]
    zone = dt.timezone.utc
    from zoneinfo import ZoneInfo
    if calendars:
        zone = ZoneInfo(calendars[0].timezone)  # type: ignore[assignment]
    day = dt.datetime.now(zone).date()
    for n in range(1, 60):
        at = dt.datetime.combine(day + dt.timedelta(days=n), dt.time(10, 0), zone).timestamp()
        if all(c.is_open(at) and c.is_open(at + 3600) for c in calendars):
            return at - time.time()
    raise AssertionError("no working day for the groups in the next 60 days")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("clocks-sla-live")
    (folder / "clock").write_text(repr(business_offset()))
    cluster = Cluster(folder, HANDOFF_SLA_FILE=str(fast_policy(folder)), HANDOFF_CLOCK_FILE=str(folder / "clock"))
    try:
        cluster.start_redis()
        in_thread(cluster.add_agents, TEAM)
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()


def test_the_engines_warning_reaches_agent_and_supervisor_and_its_breach_raises_the_priority(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    ann = page_for(contexts, browser, svc, "/console/", "ann", "clocks-live-console")
    online(ann)
    sue = page_for(contexts, browser, svc, "/dashboard/", "sue", "clocks-live-dashboard")
    expect(sue.page.get_by_test_id("clock-events")).to_contain_text("No warning or breach since this page opened.", timeout=WAIT)

    chat = hand_off(svc, "web-live-clock")
    before = chat["priority"]
    group = NAMES[chat["skill_group"]]
    accept_offer(ann.page, chat["id"])  # and no reply: the first response is missed
    item = ann.page.locator(f'[data-testid="chat-item"][data-escalation="{chat["id"]}"]')
    # the record's clock, running, before any warning
    expect(item.get_by_test_id("sla-clock").filter(has_text="First response")).to_be_visible(timeout=WAIT)

    # The warning, from the engine's timer: on the agent's chat and on the dashboard.
    alert = ann.page.locator(f'[data-testid="sla-alert"][data-id="{chat["id"]}"]')
    expect(alert).to_have_attribute("data-state", "warning", timeout=TARGET_SECONDS * 1000)
    expect(alert.get_by_test_id("sla-alert-text")).to_have_text(re.compile(r"^First response (due in \d s|overdue by \d s)$"))
    expect(alert).to_contain_text(f"chat in {group}")
    row = sue.page.locator(f'[data-testid="clock-event"][data-id="{chat["id"]}"]')
    expect(row).to_have_attribute("data-kind", "sla_warning", timeout=WAIT)
    for text in ("Warning", group, "Ann Baker", "First response"):
        expect(row).to_contain_text(text)
    ann.screenshot("warning")
    sue.screenshot("warning")

    # The breach: the chat is marked, its priority raised in the store, and the console shows the store's number.
    expect(alert).to_have_attribute("data-state", "breached", timeout=TARGET_SECONDS * 1000)
    expect(row).to_have_attribute("data-kind", "sla_breach", timeout=WAIT)
    expect(row.get_by_test_id("clock-event-action")).to_contain_text("priority raised to")
    deadline = time.monotonic() + 10
    while True:
        record = requests.get(f"{svc.urls[0]}/v1/handoffs/{chat['id']}", headers=bearer(svc.login("sue")), timeout=10).json()
        if record["priority"] > before or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert record["priority"] > before, record["priority"]
    raised = record["priority"]
    expect(alert.get_by_test_id("sla-alert-priority")).to_have_text(f"priority now {raised}", timeout=WAIT)
    expect(item).to_contain_text(f"P{raised}")
    expect(item.get_by_test_id("sla-clock").filter(has_text="First response")).to_have_attribute("data-state", "breached")
    ann.screenshot("breach")
    sue.screenshot("breach")
    no_errors(ann, sue)


def test_a_tickets_clocks_from_the_engine_show_in_its_row_and_on_its_page(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    requests.put(svc.urls[0] + "/v1/agents/me/status", headers=bearer(svc.login("ann")), json={"status": "offline"},
                 timeout=10).raise_for_status()
    r = requests.post(svc.urls[0] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                      json=handoff_request("web-live-ticket", "technical"))  # nobody online: a ticket
    assert r.status_code == 201 and r.json()["status"] == "ticket", r.text
    label = r.json()["ticket"]["label"]
    sue = page_for(contexts, browser, svc, f"/console/#{label}", "sue", "clocks-live-ticket")
    expect(sue.page.get_by_test_id("ticket-label")).to_have_text(label, timeout=WAIT)
    clocks = sue.page.get_by_test_id("ticket-clocks").get_by_test_id("sla-clock")
    expect(clocks.filter(has_text="First response")).to_have_attribute("data-state", "running")
    expect(clocks.filter(has_text="Resolution")).to_contain_text(re.compile(r"Resolution · \d h \d\d min left · on time"))
    sue.page.get_by_test_id("tickets-view-all").click()
    row = sue.page.locator(f'[data-testid="ticket-row"][data-label="{label}"]')
    expect(row.get_by_test_id("ticket-row-clock").get_by_test_id("sla-clock")).to_have_attribute("data-state", "running", timeout=WAIT)
    sue.screenshot("ticket")
    no_errors(sue)
