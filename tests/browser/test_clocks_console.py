"""Service clocks on the agent console and the supervisor dashboard, in a real browser (Debian's Chromium,
headless) against a real handoff service and redis-server.

The events a clock's timer fires (``sla_warning``, ``sla_breach``, ``sla_action``, ``surge_started``, ``surge_ended``,
in the shapes docs/clocks-console.md lists) are written here the way every timer writes them: scheduled, claimed and
completed through the store's own timer API (``complete_timer`` writes them to the event stream atomically with the
timer's deletion), so the service's hub delivers them to the agent and the supervisors as it does the SLA engine's.
The acceptance test that waits for the SLA engine's own events is tests/browser/test_clocks_sla_live.py.

Why one module: the tests share one service process, one redis-server and one browser.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import re
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from handoff.clocks.timers import Fired
from handoff.redis_store import RedisStore
from tests.browser.conftest import XSS, Watched
from tests.handoff.cluster import BOT_TOKEN, PASSWORD, Cluster, bearer
from tests.handoff.requests import handoff_request

TEAM = [{"id": "ann", "name": "Ann Baker", "skills": ["general", "after_sales"], "max_chats": 3},
        {"id": "ben", "name": "Ben Ortiz", "skills": ["after_sales"], "max_chats": 3},
        {"id": "sue", "name": "Sue Park", "skills": ["general"], "max_chats": 3, "role": "supervisor"}]
WAIT = 15_000
NAMES = {"general": "General support", "after_sales": "After-sales", "technical": "Technical support"}
INJECT_KIND = "test_contract_event"  # no service handles it: the test claims and completes its own timers


def in_thread(fn: Any, *args: Any) -> Any:
    """Run `fn(*args)` in a thread of its own: it may run an event loop, and Playwright's runs in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("clocks-console")
    cluster = Cluster(folder)
    try:
        cluster.start_redis()
        in_thread(cluster.add_agents, TEAM)
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()


async def _fire(redis_url: str, events: List[Tuple[Optional[str], Dict[str, Any]]],
                log: List[Tuple[str, Dict[str, Any]]]) -> float:
    """Schedule a timer, claim it and complete it with `events` and `log` through the store's timer API; the
    store's time it fired at. The timer is due in 1970, so this claim (the earliest first) takes it at once; should
    a service process claim it in between (a race of a millisecond), its lease wins and this tries again."""
    store = RedisStore.from_url(redis_url)
    try:
        for _ in range(20):
            now = await store.timer_now()
            key = f"test:contract:{uuid.uuid4().hex}"
            await store.schedule_timer(key, INJECT_KIND, 1.0, {})
            claimed = await store.claim_timers(1.0, now + 60.0, 1)  # the lease: a minute from now
            mine = [t for t in claimed if t.key == key]
            stamped = [(to, {**e, "at": now}) for to, e in events]
            if mine and await store.complete_timer(mine[0], Fired(events=stamped, log=[(s, {**x, "at": now}) for s, x in log])):
                return now
            await store.cancel_timer(key)
        raise AssertionError("a service process claimed the test's timer 20 times in a row")
    finally:
        await store.close()


def fire(svc: Cluster, events: List[Tuple[Optional[str], Dict[str, Any]]], log: List[Tuple[str, Dict[str, Any]]] = ()) -> float:
    return in_thread(asyncio.run, _fire(svc.redis_url, events, list(log)))


def sla_event(kind: str, chat: Dict[str, Any], **fields: Any) -> Dict[str, Any]:
    """An sla_warning / sla_breach of a chat's first response, as the SLA engine shapes it."""
    return {"type": kind, "subject": "chat", "escalation": chat["id"], "conversation_id": chat["conversation_id"],
            "group": chat["skill_group"], "agent": chat.get("agent_id") or "ann", "target": "first_response",
            "target_seconds": 30, "due": 0, "priority": chat["priority"], **fields}


def page_for(contexts: List[BrowserContext], browser: Browser, svc: Cluster, path: str, agent: str, name: str) -> Watched:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    contexts.append(ctx)
    w = Watched(ctx, name)
    w.page.goto(svc.urls[0] + path)
    w.page.get_by_test_id("login-agent").fill(agent)
    w.page.get_by_test_id("login-password").fill(PASSWORD)
    w.page.get_by_test_id("login-submit").click()
    expect(w.page.get_by_test_id("login-agent")).to_be_hidden(timeout=WAIT)
    return w


def online(w: Watched) -> None:
    expect(w.page.get_by_test_id("connection")).to_have_text("● Live", timeout=WAIT)
    w.page.get_by_test_id("status-select").select_option("online")
    expect(w.page.get_by_test_id("status-select")).to_have_value("online")


def hand_off(svc: Cluster, conversation: str, group: str = "general") -> Dict[str, Any]:
    r = requests.post(svc.urls[0] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                      json=handoff_request(conversation, group))
    assert r.status_code == 201, r.text
    return r.json()


def accept_offer(page: Page, escalation: str) -> None:
    expect(page.get_by_test_id("offer-banner")).to_have_attribute("data-escalation", escalation, timeout=WAIT)
    page.get_by_test_id("offer-accept").click()
    expect(page.locator(f'[data-testid="chat-item"][data-escalation="{escalation}"]')).to_be_visible(timeout=WAIT)


def no_errors(*pages: Watched) -> None:
    for w in pages:
        assert w.errors == [], (w.name, w.errors)  # CSP violations and script errors show here
        assert w.dialogs == [], (w.name, w.dialogs)


def test_a_tickets_warning_opens_the_ticket_and_foreign_text_stays_text(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    requests.put(svc.urls[0] + "/v1/agents/me/status", headers=bearer(svc.login("ann")), json={"status": "offline"},
                 timeout=10).raise_for_status()
    r = requests.post(svc.urls[0] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                      json=handoff_request("web-clock-ticket", "after_sales"))  # nobody online there: a ticket
    assert r.status_code == 201 and r.json()["status"] == "ticket", r.text
    ticket = r.json()["ticket"]
    ann = page_for(contexts, browser, svc, "/console/", "ann", "clocks-ticket")
    expect(ann.page.get_by_test_id("connection")).to_have_text("● Live", timeout=WAIT)
    sue = page_for(contexts, browser, svc, "/dashboard/", "sue", "clocks-ticket-dashboard")
    expect(sue.page.get_by_test_id("connection")).to_have_text("live", timeout=WAIT)

    warning = {"type": "sla_warning", "subject": "ticket", "ticket": ticket["id"], "label": ticket["label"],
               "conversation_id": f"web-clock-ticket {XSS}", "group": "after_sales", "agent": "ann", "target": "resolution",
               "target_seconds": 7200, "due": 0, "left_seconds": 1440, "priority": 10}
    fire(svc, [("ann", warning)], [(f"ticket:{ticket['id']}", {"kind": "sla_warning", "target": "resolution"})])
    alert = ann.page.get_by_test_id("sla-alert")
    expect(alert).to_have_attribute("data-subject", "ticket", timeout=WAIT)
    expect(alert.get_by_test_id("sla-alert-text")).to_have_text(re.compile(r"^Resolution due in 2[34] min \d\d s$"))
    expect(alert).to_contain_text(f"ticket {ticket['label']}")
    row = sue.page.locator(f'[data-testid="clock-event"][data-id="{ticket["id"]}"]')
    expect(row).to_contain_text(f"ticket {ticket['label']}", timeout=WAIT)
    expect(row).to_contain_text("After-sales")
    # a label the console did not make (any text in an event) shows as text: no element, nothing runs
    fire(svc, [("ann", {**warning, "target": "next_response", "label": XSS, "left_seconds": 60})])
    expect(ann.page.get_by_text(XSS, exact=False)).to_have_count(1, timeout=WAIT)
    expect(sue.page.get_by_text(XSS, exact=False)).to_have_count(1, timeout=WAIT)
    assert ann.page.locator('img[src="x"]').count() == 0 and sue.page.locator('img[src="x"]').count() == 0

    ann.page.locator('[data-testid="sla-alert"][data-id="%s"]' % ticket["id"]).filter(
        has_text="Resolution").get_by_test_id("sla-alert-open").click()
    expect(ann.page.get_by_test_id("tickets-view")).to_be_visible()
    expect(ann.page.get_by_test_id("ticket-label")).to_have_text(ticket["label"], timeout=WAIT)
    no_errors(ann, sue)


VIEW = """async (clocks) => {
    const m = await import('/web/clocks.js');
    await m.loadWords(new URLSearchParams(location.search).get('lang') || 'en');
    const strip = m.clockStrip(m.viewClocks({clocks}));
    strip.id = 'probe';
    document.body.append(strip);
    return [...strip.children].map(b => [b.dataset.target, b.dataset.state, b.textContent]);
}"""


def iso(seconds_from_now: float) -> str:
    import datetime as dt
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("lang,words", [
    ("en", {"running": "left · on time", "warning": "left · due soon", "paused": "left · paused", "met": "met",
            "breached": "over · breached"}),
    ("zh", {"running": "剩余", "warning": "即将到期", "paused": "已暂停", "met": "已达成", "breached": "超时"})])
def test_the_clocks_of_a_view_count_down_pause_and_turn_in_the_page(browser: Browser, svc: Cluster, contexts: List[BrowserContext],
                                                                   lang: str, words: Dict[str, str]) -> None:
    """The `clocks` field of a chat or ticket view (the SLA engine's shape) as the console draws it: the states in
    words and icons, in English and Chinese, a running clock turning "warning" at warn_at and "breached" at zero
    on the browser's own clock, a paused one frozen."""
    ctx = browser.new_context()
    contexts.append(ctx)
    w = Watched(ctx, f"clocks-view-{lang}")
    w.page.goto(f"{svc.urls[0]}/console/?lang={lang}")
    clocks = [
        {"target": "first_response", "target_seconds": 30, "due_at": iso(2.5), "warn_at": iso(1.2), "state": "running", "left_seconds": 2.5,
         "warn_in_seconds": 1.2, "due_in_seconds": 2.5, "counting": True},
        {"target": "next_response", "target_seconds": 60, "due_at": iso(10), "warn_at": iso(-2), "state": "warning", "left_seconds": 10,
         "warn_in_seconds": 0, "due_in_seconds": 10, "counting": True},
        {"target": "resolution", "target_seconds": 7200, "due_at": iso(3600), "warn_at": iso(2160), "state": "paused", "left_seconds": 3600,
         "warn_in_seconds": None, "due_in_seconds": None, "counting": False},
        {"target": "first_response", "target_seconds": 30, "due_at": iso(-5), "warn_at": iso(-11), "state": "met", "left_seconds": 12,
         "warn_in_seconds": None, "due_in_seconds": None, "counting": False},
        {"target": "resolution", "target_seconds": 7200, "due_at": iso(-90), "warn_at": iso(-1530), "state": "breached", "left_seconds": -90,
         "warn_in_seconds": 0, "due_in_seconds": 0, "counting": True},
        # 8 business hours opened at 13:00 (warning at half): the warning at 17:00, 4 wall hours away, but the due
        # time after a night, 23 wall hours away; 7 h 59 min of business time left: on time, not "due soon".
        {"target": "resolution", "target_seconds": 28800, "due_at": iso(82740), "warn_at": iso(14340), "state": "running",
         "left_seconds": 28740, "warn_in_seconds": 14340, "due_in_seconds": 82740, "counting": True},
    ]
    drawn = w.page.evaluate(VIEW, clocks)
    assert [s for _, s, _ in drawn] == ["running", "warning", "paused", "met", "breached", "running"], drawn
    for (_, state, text) in drawn:
        assert words[state] in text, (state, text)
    badges = w.page.locator("#probe [data-testid=sla-clock]")
    expect(badges.nth(0)).to_have_attribute("data-state", "warning", timeout=3_000)  # at warn_at
    expect(badges.nth(0)).to_have_attribute("data-state", "breached", timeout=4_000)  # at zero
    paused = badges.nth(2).inner_text()
    w.page.wait_for_timeout(1_500)
    assert badges.nth(2).inner_text() == paused  # frozen while paused
    assert badges.nth(5).get_attribute("data-state") == "running"  # on time: the warning is hours away
    assert re.search(r"7 h 5\d min" if lang == "en" else r"7 小时 5\d 分", badges.nth(5).inner_text())  # durations in the page language
    if lang == "en":
        expect(badges.nth(2)).to_have_text("‖Resolution · 1 h 00 min left · paused")
        expect(badges.nth(4)).to_contain_text(re.compile(r"Resolution · 1 min 3\d s over · breached"))
        w.screenshot("states")
    else:
        expect(badges.nth(2)).to_have_text("‖解决 · 剩余 1 小时 00 分 · 已暂停")  # durations in Chinese too (common.json)
    assert w.errors == [], w.errors
