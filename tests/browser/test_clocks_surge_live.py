"""The surge rule's own events in the pages (its notices on the console and the dashboard): a real handoff service sweeping its surge rule
over redis-server, Chromium for the pages, nothing injected. Technical's queue passes its threshold: ann, on standby
for technical, gets the banner with the queue; ben, not on standby, gets none; the supervisor's dashboard shows the
group in a surge (its table and the queues table). The customers leave, the queue drains: the surge ends on the
dashboard.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.test_clocks_console import TEAM, WAIT, in_thread, no_errors, page_for
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request

POLICY = """
version: 1
default:
  start: {waiting_at_least: 2}
  stop: {waiting_at_most: 0, for_seconds: 1}
  overflow_to: null
groups:
  technical:
    standby: [ann]
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("clocks-surge-live")
    (folder / "surge.yml").write_text(POLICY)
    cluster = Cluster(folder, HANDOFF_SWEEP_SECONDS="0.2", HANDOFF_SURGE_FILE=str(folder / "surge.yml"))
    try:
        cluster.start_redis()
        in_thread(cluster.add_agents, TEAM + [{"id": "tom", "name": "Tom Reyes", "skills": ["technical"], "max_chats": 1}])
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()


def technical_chat(svc: Cluster, n: int) -> Dict[str, Any]:
    r = requests.post(svc.urls[0] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                      json=handoff_request(f"web-surge-{n}", categories={"system_error": "error 500"}))
    assert r.status_code == 201, r.text
    assert r.json()["skill_group"] == "technical", r.json()
    return r.json()


def test_a_real_surge_alerts_the_standby_agent_and_shows_on_the_dashboard_until_the_queue_drains(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    ann = page_for(contexts, browser, svc, "/console/", "ann", "clocks-surge-live-ann")
    ben = page_for(contexts, browser, svc, "/console/", "ben", "clocks-surge-live-ben")
    sue = page_for(contexts, browser, svc, "/dashboard/", "sue", "clocks-surge-live-dashboard")
    for w in (ann, ben):
        expect(w.page.get_by_test_id("connection")).to_have_text("● Live", timeout=WAIT)
    expect(sue.page.get_by_test_id("connection")).to_have_text("live", timeout=WAIT)
    requests.put(svc.urls[0] + "/v1/agents/me/status", headers=bearer(svc.login("tom")), json={"status": "online"},
                 timeout=10).raise_for_status()

    chats = [technical_chat(svc, n) for n in range(3)]  # tom is offered the first; two wait: the threshold
    assert [c["status"] for c in chats] == ["offered", "waiting", "waiting"], chats

    banner = ann.page.locator('[data-testid="surge-banner"][data-group="technical"]')
    expect(banner).to_be_visible(timeout=WAIT)
    expect(banner).to_contain_text("Surge in Technical support")
    expect(banner.get_by_test_id("surge-queue")).to_contain_text("2 waiting")
    expect(banner).to_contain_text("You are on standby for this group")
    row = sue.page.locator('[data-testid="surge-row"][data-group="technical"]')
    expect(row).to_be_visible(timeout=WAIT)
    expect(row.get_by_test_id("surge-waiting")).to_have_text("2")
    expect(row).to_contain_text("Ann Baker")
    queue = sue.page.locator('[data-testid="queue-row"][data-group="technical"]')
    expect(queue.get_by_test_id("queue-surge")).to_be_visible(timeout=WAIT)
    ann.screenshot("surge")
    sue.screenshot("surge")
    expect(ben.page.get_by_test_id("surge-banner")).to_have_count(0)

    for chat in chats[1:]:  # the waiting customers leave: the queue drains
        requests.post(f"{svc.urls[0]}/v1/handoffs/{chat['id']}/abandon", headers=bearer(BOT_TOKEN), json={},
                      timeout=10).raise_for_status()
    expect(banner).to_have_count(0, timeout=WAIT)
    expect(row).to_have_count(0, timeout=WAIT)
    expect(sue.page.get_by_test_id("surge-panel")).to_contain_text("No group is in a surge.")
    expect(queue.get_by_test_id("queue-surge")).to_have_count(0, timeout=WAIT)
    no_errors(ann, ben, sue)
