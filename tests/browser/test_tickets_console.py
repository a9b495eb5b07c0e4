# Over 400 lines: the tests share one service, one redis-server and one browser; start-up is most of their time.
"""The console's Tickets view in a real browser (Debian's Chromium, headless) against a real handoff service
and redis-server: tickets are born from chats nobody could take (the bot's token, nobody online), then agents
work them in the page: the queue, a claim (and a colleague's late claim refused with the service's words), a
public reply, an internal note, a send to technical, whose agent sees the ticket arrive live (the WebSocket)
with its whole timeline and the chat's transcript; a hostile customer text shows as text; a phone-sized screen.
"""
from __future__ import annotations

import concurrent.futures
import re
import time
from datetime import datetime
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import XSS, Watched
from tests.handoff.cluster import BOT_TOKEN, PASSWORD, Cluster, bearer
from tests.handoff.requests import handoff_request

TEAM = [{"id": "ann", "name": "Ann Baker", "skills": ["general", "after_sales"], "max_chats": 3},
        {"id": "ben", "name": "Ben Ortiz", "skills": ["after_sales"], "max_chats": 3},
        {"id": "tom", "name": "Tom Reyes", "skills": ["technical"], "max_chats": 3},
        {"id": "sue", "name": "Sue Park", "skills": ["general"], "max_chats": 3, "role": "supervisor"}]
WAIT = 15_000
OUTSIDE = """() => [...document.querySelectorAll('[data-testid=ticket-page]')].flatMap(card => {
    const edge = card.getBoundingClientRect().right + 0.5;
    return [...card.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > edge)
        .map(e => `${e.tagName}.${e.className}[${e.dataset.testid || ''}] ${Math.round(e.getBoundingClientRect().right)} > ${Math.round(edge)}`);
})"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("tickets-console")
    (folder / "clock").write_text("0")
    cluster = Cluster(folder, HANDOFF_CLOCK_FILE=str(folder / "clock"))
    try:
        cluster.start_redis()
        # In a thread of its own: add_agents runs an event loop, and Playwright's may already run in this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(cluster.add_agents, TEAM).result()
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()


def night_ticket(svc: Cluster, conversation: str, group: str = "after_sales", text: str = "I want a person") -> Dict[str, Any]:
    """A handoff while nobody is online: the chat becomes a ticket (as in tests/handoff/test_tickets_api.py)."""
    r = requests.post(svc.urls[0] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                      json=handoff_request(conversation, group, text=text))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "ticket", r.json()
    return r.json()["ticket"]


def customer_writes(svc: Cluster, label: str, text: str, message_id: str) -> None:
    r = requests.post(f"{svc.urls[0]}/v1/tickets/{label}/customer_messages", headers=bearer(BOT_TOKEN), timeout=10,
                      json={"text": text, "via": "chat", "message_id": message_id})
    assert r.status_code == 200, r.text


def console(contexts: List[BrowserContext], browser: Browser, svc: Cluster, agent: str, name: str,
            **context: Any) -> Watched:
    """A fresh browser context with the console open, `agent` logged in and the Tickets view shown."""
    ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context})
    contexts.append(ctx)
    w = Watched(ctx, name)
    w.page.goto(svc.urls[0] + "/console/")
    w.page.get_by_test_id("login-agent").fill(agent)
    w.page.get_by_test_id("login-password").fill(PASSWORD)
    w.page.get_by_test_id("login-submit").click()
    expect(w.page.get_by_test_id("connection")).to_have_text(re.compile(r"● (Live|已连接)"), timeout=WAIT)  # en or zh
    w.page.get_by_test_id("tab-tickets").click()
    expect(w.page.get_by_test_id("tickets-view")).to_be_visible()
    return w


def row(page: Page, label: str):
    return page.locator(f'[data-testid="ticket-row"][data-label="{label}"]')


def entry(page: Page, kind: str, text: str = ""):
    found = page.locator(f'[data-testid="timeline-entry"][data-kind="{kind}"]')
    return found.filter(has_text=text) if text else found


def open_ticket(page: Page, label: str) -> None:
    row(page, label).get_by_role("button").click()
    expect(page.get_by_test_id("ticket-label")).to_have_text(label, timeout=WAIT)


def no_errors(*pages: Watched, refused: Tuple[int, ...] = ()) -> None:
    """No script error, CSP violation or dialog on the pages; the browser's own line for an API answer with a
    status in `refused` (one the test provoked and checked the page shows) is not one."""
    expected = tuple(f"the server responded with a status of {code} " for code in refused)
    for w in pages:
        errors = [e for e in w.errors if not (e.startswith("Failed to load resource") and any(x in e for x in expected))]
        assert errors == [], (w.name, w.errors)  # CSP violations and script errors show here
        assert w.dialogs == [], (w.name, w.dialogs)


def test_the_queue_a_claim_race_a_reply_a_note_and_a_send_to_technical_seen_live(browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    label = night_ticket(svc, "web-1", text=f"my K-200 shows E42 {XSS}")["label"]
    customer_writes(svc, label, f"still broken {XSS}", "c-1")
    other = night_ticket(svc, "web-2")["label"]

    ann = console(contexts, browser, svc, "ann", "tickets-ann")
    ben = console(contexts, browser, svc, "ben", "tickets-ben")
    tom = console(contexts, browser, svc, "tom", "tickets-tom")

    # The queue of ann's groups: both new tickets, unassigned, with their state and due time.
    for w in (ann, ben):
        expect(row(w.page, label)).to_be_visible(timeout=WAIT)
        expect(row(w.page, label).get_by_test_id("ticket-row-assignee")).to_have_text("unassigned")
        expect(row(w.page, label).get_by_test_id("ticket-row-state")).to_have_text("New")
        expect(row(w.page, label)).to_contain_text("due ")
    expect(row(ann.page, other)).to_be_visible()
    expect(row(tom.page, label)).to_have_count(0)  # not technical's (yet)

    # Both open it; ann claims first, ben's claim is refused in the service's own words.
    open_ticket(ben.page, label)
    open_ticket(ann.page, label)
    ann.page.get_by_test_id("ticket-claim").click()
    expect(ann.page.get_by_test_id("ticket-notice")).to_have_text(f"{label} is yours now.")
    expect(ann.page.get_by_test_id("ticket-assignee")).to_have_text("You (Ann Baker)")
    expect(ann.page.get_by_test_id("ticket-claim")).to_be_hidden()
    expect(ben.page.get_by_test_id("ticket-assignee")).to_have_text("Ann Baker", timeout=WAIT)  # live, by name
    ben.page.get_by_test_id("ticket-claim").click()
    expect(ben.page.get_by_test_id("ticket-error")).to_have_text(f"{label} is already with ann")

    # A public reply (then: pending) and an internal note, apart in the timeline.
    ann.page.get_by_test_id("ticket-reply-input").fill("Which firmware version is on it?")
    ann.page.get_by_test_id("ticket-reply-then").select_option("pending")
    ann.page.get_by_test_id("ticket-reply-send").click()
    reply = entry(ann.page, "reply", "Which firmware version is on it?")
    expect(reply).to_have_attribute("data-public", "true", timeout=WAIT)
    expect(reply).to_contain_text("the customer sees this")
    expect(ann.page.get_by_test_id("ticket-state")).to_have_text("Pending (waiting on the customer)")
    expect(ann.page.get_by_test_id("ticket-reply-input")).to_have_value("")
    ann.page.get_by_test_id("ticket-note-input").fill("probably the 2.0 firmware bug")
    ann.page.get_by_test_id("ticket-note-send").click()
    note = entry(ann.page, "note", "probably the 2.0 firmware bug")
    expect(note).to_have_attribute("data-public", "false", timeout=WAIT)
    expect(note).to_have_class("entry internal note")
    expect(note).to_contain_text("internal")

    # Sent to technical: tom's list shows it without a reload (the WebSocket), with after-sales as the owner.
    tom.page.evaluate("window.__same_page = true")
    ann.page.get_by_test_id("ticket-send-group").select_option("technical")
    ann.page.get_by_test_id("ticket-send-note").fill("E42 on a K-200: firmware?")
    ann.page.get_by_test_id("ticket-send-send").click()
    expect(ann.page.get_by_test_id("ticket-state")).to_have_text("On hold (with another team)", timeout=WAIT)
    expect(row(tom.page, label)).to_be_visible(timeout=WAIT)
    assert tom.page.evaluate("window.__same_page") is True
    expect(row(tom.page, label).get_by_test_id("ticket-row-group")).to_have_text("Technical support (owner: After-sales)")

    # Tom opens it: the whole timeline, the time after-sales spent, the transcript and the brief.
    open_ticket(tom.page, label)
    team = entry(tom.page, "team")
    expect(team.get_by_test_id("entry-change")).to_have_text("After-sales → Technical support")
    expect(team.get_by_test_id("entry-seconds")).to_contain_text("in After-sales")
    expect(entry(tom.page, "reply", "Which firmware version is on it?").get_by_test_id("entry-by")).to_have_text("Ann Baker")
    expect(entry(tom.page, "note", "probably the 2.0 firmware bug")).to_have_count(1)
    expect(entry(tom.page, "note", "E42 on a K-200: firmware?")).to_have_count(1)
    expect(entry(tom.page, "customer", f"still broken {XSS}")).to_have_attribute("data-public", "true")
    states = tom.page.locator('[data-testid="timeline-entry"][data-kind="state"] [data-testid="entry-change"]')
    expect(states).to_have_text(["New → Open", "Open → Pending (waiting on the customer)",
                                 "Pending (waiting on the customer) → On hold (with another team)"])
    transcript = tom.page.get_by_test_id("ticket-transcript")
    expect(transcript).to_contain_text("where is my order 123456?")
    expect(tom.page.get_by_test_id("ticket-brief-summary")).to_contain_text("Customer asks where order 123456 is")
    expect(tom.page.get_by_test_id("ticket-owner-group")).to_have_text("After-sales")
    expect(tom.page.get_by_test_id("ticket-assignee")).to_have_text("unassigned")
    expect(tom.page.get_by_test_id("ticket-owner-agent")).to_have_text("Ann Baker")

    # The hostile customer text: shown as text in the transcript and the timeline, no element made, nothing ran.
    expect(tom.page.get_by_text(XSS, exact=False)).to_have_count(2)
    assert tom.page.locator('img[src="x"]').count() == 0
    tom.screenshot("ticket-page")

    # Tom claims it and sends it back: it returns to ann, who sees it live in "Mine".
    tom.page.get_by_test_id("ticket-claim").click()
    expect(tom.page.get_by_test_id("ticket-assignee")).to_have_text("You (Tom Reyes)", timeout=WAIT)
    ann.page.get_by_test_id("ticket-back").click()
    ann.page.get_by_test_id("tickets-view-mine").click()
    tom.page.get_by_test_id("ticket-send-group").select_option("after_sales")
    tom.page.get_by_test_id("ticket-send-note").fill("flashed 2.1, fixed; please confirm")
    tom.page.get_by_test_id("ticket-send-send").click()
    expect(row(ann.page, label).get_by_test_id("ticket-row-state")).to_have_text("Open", timeout=WAIT)
    expect(row(ann.page, label).get_by_test_id("ticket-row-assignee")).to_have_text("You (Ann Baker)")
    expect(tom.page.get_by_test_id("ticket-notice")).to_have_text(
        f"{label} went to After-sales: it is no longer in your groups.")
    expect(row(tom.page, label)).to_have_count(0, timeout=WAIT)
    no_errors(ann, ben, tom, refused=(409,))


def test_search_state_change_merge_and_an_error_from_the_service(browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    first = night_ticket(svc, "web-search-1")
    dup = night_ticket(svc, "web-search-2")
    ann = console(contexts, browser, svc, "ann", "tickets-search")

    ann.page.get_by_test_id("tickets-search").fill(first["label"].lower())
    ann.page.get_by_test_id("tickets-search-go").click()
    expect(ann.page.get_by_test_id("ticket-row")).to_have_count(1, timeout=WAIT)
    expect(row(ann.page, first["label"])).to_be_visible()
    ann.page.get_by_test_id("tickets-search").fill("cust-web-search-2")  # the customer's id
    ann.page.get_by_test_id("tickets-search-go").click()
    expect(row(ann.page, dup["label"])).to_be_visible(timeout=WAIT)
    expect(ann.page.get_by_test_id("ticket-row")).to_have_count(1)
    ann.page.get_by_test_id("tickets-search").fill("nothing-like-this")
    ann.page.get_by_test_id("tickets-search-go").click()
    expect(ann.page.get_by_test_id("tickets-empty")).to_have_text("No ticket matches “nothing-like-this”.", timeout=WAIT)

    ann.page.get_by_test_id("tickets-view-groups").click()
    open_ticket(ann.page, first["label"])
    ann.page.get_by_test_id("ticket-state-select").select_option("closed")
    ann.page.get_by_test_id("ticket-state-send").click()  # new -> closed is not a move the service allows
    expect(ann.page.get_by_test_id("ticket-error")).to_contain_text(f"{first['label']} cannot go from new to closed")
    ann.page.get_by_test_id("ticket-state-select").select_option("on_hold")
    ann.page.get_by_test_id("ticket-state-reason").fill("waiting for the courier")
    ann.page.get_by_test_id("ticket-state-send").click()
    expect(ann.page.get_by_test_id("ticket-state")).to_have_text("On hold (with another team)", timeout=WAIT)
    expect(entry(ann.page, "state", "waiting for the courier")).to_have_count(1)

    open_ticket(ann.page, dup["label"])
    ann.page.get_by_test_id("ticket-merge-into").fill(first["label"])
    ann.page.get_by_test_id("ticket-merge-send").click()
    expect(ann.page.get_by_test_id("ticket-notice")).to_have_text(f"Merged into {first['label']}.", timeout=WAIT)
    expect(ann.page.get_by_test_id("ticket-label")).to_have_text(first["label"])
    expect(entry(ann.page, "merged")).to_contain_text(dup["label"])
    no_errors(ann, refused=(409,))


def test_on_a_phone_the_list_then_the_ticket_then_back(browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    label = night_ticket(svc, "web-phone", text=XSS)["label"]
    phone = console(contexts, browser, svc, "ben", "tickets-phone", viewport={"width": 390, "height": 844},
                    is_mobile=True, has_touch=True, device_scale_factor=2)
    page = phone.page
    # Nothing wider than the phone, and nothing sticking out of its card (the list's, or the ticket page's).
    fits = """() => document.documentElement.scrollWidth <= window.innerWidth &&
        [...document.querySelectorAll('[data-testid=tickets-list-pane], [data-testid=ticket-page]')].every(card => {
            const edge = card.getBoundingClientRect().right + 0.5;
            return [...card.querySelectorAll('*')].every(e => e.getBoundingClientRect().right <= edge);
        })"""
    expect(row(page, label)).to_be_visible(timeout=WAIT)
    expect(page.get_by_test_id("ticket-page")).to_be_hidden()
    assert page.evaluate(fits), "the list is wider than the phone"
    phone.screenshot("phone-list")

    open_ticket(page, label)
    expect(page.get_by_test_id("tickets-list-pane")).to_be_hidden()
    expect(page.get_by_test_id("ticket-back")).to_be_visible()
    expect(page.get_by_test_id("ticket-reply-send")).to_be_visible()
    expect(page.get_by_test_id("ticket-transcript")).to_contain_text(XSS)
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate(fits), ("the ticket page is wider than the phone", page.evaluate(OUTSIDE))
    box = page.get_by_test_id("timeline").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    phone.screenshot("phone-ticket")

    page.go_back()  # the phone's own back button
    expect(page.get_by_test_id("tickets-list-pane")).to_be_visible()
    expect(page.get_by_test_id("ticket-page")).to_be_hidden()
    open_ticket(page, label)
    page.get_by_test_id("ticket-back").click()  # the page's
    expect(page.get_by_test_id("tickets-list-pane")).to_be_visible()
    expect(page.get_by_test_id("ticket-page")).to_be_hidden()
    assert page.url.endswith("/console/#tickets")
    page.get_by_test_id("tab-chats").click()
    expect(page.get_by_test_id("chat-list")).to_be_attached()
    expect(page.get_by_test_id("tickets-view")).to_be_hidden()
    no_errors(phone)


def test_the_tickets_view_speaks_chinese_in_a_chinese_browser_and_all_is_for_supervisors(browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    label = night_ticket(svc, "web-zh")["label"]
    zh = console(contexts, browser, svc, "ann", "tickets-zh", locale="zh-CN")
    expect(zh.page.get_by_test_id("tab-tickets")).to_have_text("工单")
    expect(zh.page.get_by_test_id("tickets-view-groups")).to_have_text("我的组")
    expect(row(zh.page, label).get_by_test_id("ticket-row-assignee")).to_have_text("未分配", timeout=WAIT)
    expect(zh.page.get_by_test_id("tickets-view-all")).to_have_count(0)
    sue = console(contexts, browser, svc, "sue", "tickets-sue")
    sue.page.get_by_test_id("tickets-view-all").click()
    expect(row(sue.page, label)).to_be_visible(timeout=WAIT)
    expect(zh.page.get_by_test_id("ticket-assign-form")).to_have_count(0)

    # A link to the ticket opens it after the log-in; a supervisor assigns it.
    tab = Watched(sue.page.context, "tickets-linked")  # a new tab: a session of its own (sessionStorage)
    linked = tab.page
    linked.goto(f"{svc.urls[0]}/console/#{label}")
    linked.get_by_test_id("login-agent").fill("sue")
    linked.get_by_test_id("login-password").fill(PASSWORD)
    linked.get_by_test_id("login-submit").click()
    expect(linked.get_by_test_id("ticket-label")).to_have_text(label, timeout=WAIT)
    linked.get_by_test_id("ticket-assign-agent").fill("ben")
    linked.get_by_test_id("ticket-assign-send").click()
    expect(linked.get_by_test_id("ticket-notice")).to_have_text(f"{label} is with Ben Ortiz now.", timeout=WAIT)
    expect(linked.get_by_test_id("ticket-assignee")).to_have_text("Ben Ortiz")
    expect(row(zh.page, label).get_by_test_id("ticket-row-assignee")).to_have_text("Ben Ortiz", timeout=WAIT)  # live
    no_errors(zh, sue, tab)


def test_a_live_chat_followed_up_as_a_ticket_one_per_chat_while_the_chat_stays_open(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    """Ann takes a live chat, makes a ticket of it with a note (a wrong flow first: the service's words), opens it
    by its link in the Tickets view (transcript, brief, note), asks again (the same ticket), then closes the chat."""
    ann = console(contexts, browser, svc, "ann", "followup-ann")
    page = ann.page
    page.get_by_test_id("tab-chats").click()
    page.get_by_test_id("status-select").select_option("online")
    expect(page.get_by_test_id("status-select")).to_have_value("online")
    try:
        r = requests.post(svc.urls[0] + "/v1/handoffs", headers=bearer(BOT_TOKEN), timeout=10,
                          json=handoff_request("web-followup", "general", text=f"the parcel never came {XSS}"))
        assert r.status_code == 201 and r.json()["status"] != "ticket", r.text
        chat = r.json()["id"]
        page.get_by_test_id("offer-accept").click()
        expect(page.locator(f'[data-testid="chat-item"][data-escalation="{chat}"]')).to_be_visible(timeout=WAIT)
        page.get_by_test_id("reply-input").fill("I am looking into it now.")
        page.get_by_test_id("reply-send").click()
        expect(page.get_by_test_id("transcript")).to_contain_text("I am looking into it now.", timeout=WAIT)

        expect(page.get_by_test_id("chat-ticket-group").locator("option").first).to_have_text(
            "Team: this chat's (After-sales)")  # the service routed it there (order status)
        page.get_by_test_id("chat-ticket-flow").fill("no-such-flow")
        page.get_by_test_id("chat-ticket-send").click()
        expect(page.get_by_test_id("chat-ticket-error")).to_contain_text("unknown ticket flow 'no-such-flow'", timeout=WAIT)
        expect(page.get_by_test_id("chat-ticket-result")).to_be_hidden()
        page.get_by_test_id("chat-ticket-flow").fill("")
        page.get_by_test_id("chat-ticket-note").fill("courier claim filed; call her back on Monday")
        page.get_by_test_id("chat-ticket-send").click()
        result = page.get_by_test_id("chat-ticket-result")
        expect(result).to_have_text(re.compile(r"^T-\d+ made from this chat\. The chat stays open\.$"), timeout=WAIT)
        expect(page.get_by_test_id("chat-ticket-error")).to_be_hidden()
        label = page.get_by_test_id("chat-ticket-link").inner_text()
        ann.screenshot("chat-follow-up")

        # The chat is still open and still ann's.
        expect(page.get_by_test_id("chat-ended")).to_be_hidden()
        expect(page.get_by_test_id("reply-input")).to_be_enabled()
        expect(page.locator(f'[data-testid="chat-item"][data-escalation="{chat}"]')).not_to_have_class(re.compile("ended"))

        # Asking again: the same ticket (one per chat).
        page.get_by_test_id("chat-ticket-send").click()
        expect(result).to_have_text(f"This chat has its ticket already: {label}.", timeout=WAIT)
        mine = requests.get(svc.urls[0] + "/v1/tickets?view=mine", headers=bearer(svc.login("ann")), timeout=10).json()
        assert [t["label"] for t in mine["tickets"] if t["requester"].get("conversation_id") == "web-followup"] == [label]

        # The link opens it in the Tickets view: the chat's transcript (the bot's part and ann's reply), brief, note.
        page.get_by_test_id("chat-ticket-link").click()
        expect(page.get_by_test_id("ticket-label")).to_have_text(label, timeout=WAIT)
        expect(page.get_by_test_id("tickets-view")).to_be_visible()
        assert page.url.endswith(f"/console/#{label}")
        expect(page.get_by_test_id("ticket-assignee")).to_have_text("You (Ann Baker)")
        expect(page.get_by_test_id("ticket-group")).to_have_text("After-sales")
        transcript = page.get_by_test_id("ticket-transcript")
        expect(transcript).to_contain_text("where is my order 123456?")
        expect(transcript).to_contain_text(f"the parcel never came {XSS}")
        expect(transcript).to_contain_text("I am looking into it now.")
        expect(page.get_by_test_id("ticket-brief-summary")).to_contain_text("Customer asks where order 123456 is")
        note = entry(page, "note", "courier claim filed; call her back on Monday")
        expect(note).to_have_attribute("data-public", "false")
        expect(note.get_by_test_id("entry-by")).to_have_text("You (Ann Baker)")
        assert page.locator('img[src="x"]').count() == 0

        # Back in the Chats view: the chat is there, open; ann closes it; the link stays.
        page.get_by_test_id("tab-chats").click()
        expect(page.get_by_test_id("reply-input")).to_be_enabled()
        page.get_by_test_id("close-wrapup").select_option(index=1)
        page.get_by_test_id("close-resolved").select_option("no")
        page.get_by_test_id("close-send").click()
        expect(page.get_by_test_id("chat-ended")).to_be_visible(timeout=WAIT)
        expect(page.get_by_test_id("chat-ticket-link")).to_have_text(label)
        expect(page.get_by_test_id("chat-ticket-send")).to_be_disabled()
        no_errors(ann, refused=(422,))  # the unknown flow
    finally:  # the other tests' tickets are born with nobody online
        requests.put(svc.urls[0] + "/v1/agents/me/status", headers=bearer(svc.login("ann")), json={"status": "offline"},
                     timeout=10).raise_for_status()


def test_next_step_follows_the_repair_flow_to_technical_and_back_to_the_first_agent(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    """policy/ticket_flows.yml's repair: after_sales -> technical -> after_sales, moved by the "Next step" button."""
    r = requests.post(svc.urls[0] + "/v1/tickets", headers=bearer(BOT_TOKEN), timeout=10,
                      json={"subject": "K-200 does not start", "flow": "repair",
                            "requester": {"customer_id": "cust-flow", "email": "flow@example.com"}})
    assert r.status_code == 201, r.text
    label = r.json()["label"]
    ben = console(contexts, browser, svc, "ben", "tickets-flow-ben")
    tom = console(contexts, browser, svc, "tom", "tickets-flow-tom")

    open_ticket(ben.page, label)
    expect(ben.page.get_by_test_id("ticket-flow")).to_have_text("repair: step 1 of 3 (After-sales)")
    ben.page.get_by_test_id("ticket-claim").click()
    expect(ben.page.get_by_test_id("ticket-assignee")).to_have_text("You (Ben Ortiz)", timeout=WAIT)
    expect(ben.page.get_by_test_id("ticket-next-step")).to_have_text("Next step (Technical support)")
    ben.page.get_by_test_id("ticket-next-step").click()  # without the note the next team reads first: refused here
    expect(ben.page.get_by_test_id("ticket-error")).to_have_text("Write a note for the team: they read it first.")
    ben.page.get_by_test_id("ticket-send-note").fill("does not power on; please diagnose")
    ben.page.get_by_test_id("ticket-next-step").click()
    # Ben still sees it (after-sales owns it), on hold with technical, step 2.
    expect(ben.page.get_by_test_id("ticket-flow")).to_have_text("repair: step 2 of 3 (Technical support)", timeout=WAIT)
    expect(ben.page.get_by_test_id("ticket-state")).to_have_text("On hold (with another team)")
    expect(ben.page.get_by_test_id("ticket-group")).to_have_text("Technical support")

    expect(row(tom.page, label)).to_be_visible(timeout=WAIT)  # live
    open_ticket(tom.page, label)
    expect(tom.page.get_by_test_id("ticket-flow")).to_have_text("repair: step 2 of 3 (Technical support)")
    expect(tom.page.get_by_test_id("ticket-owner-agent")).to_have_text("Ben Ortiz")
    expect(entry(tom.page, "note", "does not power on").get_by_test_id("entry-by")).to_have_text("Ben Ortiz")
    tom.page.get_by_test_id("ticket-claim").click()
    expect(tom.page.get_by_test_id("ticket-assignee")).to_have_text("You (Tom Reyes)", timeout=WAIT)
    expect(tom.page.get_by_test_id("ticket-next-step")).to_have_text("Next step (After-sales)")
    tom.page.get_by_test_id("ticket-send-note").fill("board replaced under warranty; send it back")
    tom.page.get_by_test_id("ticket-next-step").click()
    expect(tom.page.get_by_test_id("ticket-notice")).to_have_text(
        f"{label} went to After-sales: it is no longer in your groups.", timeout=WAIT)

    # Back with ben, live: open again and his, the last step (no next one).
    expect(ben.page.get_by_test_id("ticket-flow")).to_have_text("repair: step 3 of 3 (After-sales)", timeout=WAIT)
    expect(ben.page.get_by_test_id("ticket-state")).to_have_text("Open")
    expect(ben.page.get_by_test_id("ticket-assignee")).to_have_text("You (Ben Ortiz)")
    expect(ben.page.get_by_test_id("ticket-next-step")).to_be_hidden()
    expect(entry(ben.page, "team").get_by_test_id("entry-change")).to_have_text(
        ["After-sales → Technical support", "Technical support → After-sales"])
    expect(entry(ben.page, "team").get_by_test_id("entry-by")).to_have_text(["You (Ben Ortiz)", "Tom Reyes"])
    no_errors(ben, tom)


def test_due_soon_and_overdue_follow_the_services_clock(browser: Browser, svc: Cluster,
                                                         contexts: List[BrowserContext]) -> None:
    """Last in this module: it moves the service's clock (HANDOFF_CLOCK_FILE), then puts it back."""
    ticket = night_ticket(svc, "web-due")
    label = ticket["label"]
    clock = svc.workdir / "clock"
    left = datetime.fromisoformat(ticket["due_at"].replace("Z", "+00:00")).timestamp() - time.time()
    ann = console(contexts, browser, svc, "ann", "tickets-due")
    try:
        clock.write_text(str(left - 3600))  # an hour before it is due
        ann.page.get_by_test_id("tickets-view-due").click()
        expect(row(ann.page, label)).to_be_visible(timeout=WAIT)
        expect(row(ann.page, label).get_by_test_id("ticket-overdue")).to_have_count(0)
        ann.page.get_by_test_id("tickets-view-overdue").click()
        expect(ann.page.get_by_test_id("tickets-heading")).to_have_text("Overdue")
        expect(row(ann.page, label)).to_have_count(0)

        clock.write_text(str(left + 3600))  # an hour late
        ann.page.get_by_test_id("tickets-view-groups").click()
        ann.page.get_by_test_id("tickets-view-overdue").click()
        expect(row(ann.page, label).get_by_test_id("ticket-overdue")).to_have_text("overdue", timeout=WAIT)
        open_ticket(ann.page, label)
        expect(ann.page.get_by_test_id("ticket-page-overdue")).to_have_text("overdue")
    finally:
        clock.write_text("0")
    no_errors(ann)


def test_a_supervisor_sees_every_ticket_a_page_at_a_time(browser: Browser, svc: Cluster,
                                                          contexts: List[BrowserContext]) -> None:
    import redis as redis_lib
    for i in range(55):  # more than one page (50)
        r = requests.post(f"{svc.urls[0]}/v1/tickets", headers=bearer(BOT_TOKEN), timeout=10,
                          json={"subject": f"paged {i}", "request_key": f"web-page-{i}"})
        assert r.status_code in (200, 201), r.text
    total = redis_lib.Redis.from_url(svc.redis_url).zcard("{ho}:t:ix:all")
    sue = console(contexts, browser, svc, "sue", "tickets-paged")
    sue.page.get_by_test_id("tickets-view-all").click()
    rows = sue.page.get_by_test_id("ticket-row")
    expect(sue.page.get_by_test_id("tickets-more")).to_be_visible(timeout=WAIT)  # the first page of All is in
    expect(rows).to_have_count(50)
    while sue.page.get_by_test_id("tickets-more").is_visible():
        before = rows.count()
        sue.page.get_by_test_id("tickets-more").click()
        expect(rows).not_to_have_count(before, timeout=WAIT)
    labels = [rows.nth(i).get_attribute("data-label") for i in range(rows.count())]
    assert len(labels) == len(set(labels)) == total  # every ticket, once, newest first
    expect(rows.first.get_by_test_id("ticket-row-subject")).to_have_text("paged 54")
    no_errors(sue)


def test_the_views_tabs_wait_for_the_console_to_be_ready_so_an_early_click_is_not_lost(
        browser: Browser, svc: Cluster, contexts: List[BrowserContext]) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    contexts.append(ctx)
    w = Watched(ctx, "tabs-early")
    held: List[Any] = []
    w.page.route("**/v1/meta", lambda route: held.append(route))  # a slow service: the console is still starting
    w.page.goto(svc.urls[0] + "/console/")
    w.page.get_by_test_id("login-agent").fill("ann")
    w.page.get_by_test_id("login-password").fill(PASSWORD)
    w.page.get_by_test_id("login-submit").click()
    expect(w.page.get_by_test_id("login-agent")).to_be_hidden(timeout=WAIT)
    tab = w.page.get_by_test_id("tab-tickets")
    expect(tab).to_be_disabled()  # a click now would go nowhere: it cannot be made
    w.page.wait_for_timeout(300)
    assert held, "the console asked for /v1/meta"
    held[0].continue_()
    tab.click()  # waits until the tab is enabled, then works
    expect(w.page.get_by_test_id("tickets-view")).to_be_visible(timeout=WAIT)
    no_errors(w)
