"""The pages in Chinese in a real browser (Debian's Chromium, headless), over the whole stack.

The agent console and the supervisor dashboard in Chinese by `?lang=zh`, by the switch (remembered on the next
visit) and by the browser's language; the customer widget the same, sending the page language with each message;
times in the business calendar's zone (Asia/Shanghai), not the browser's; and a Chinese customer handed to a
Chinese-reading agent, who answers in Chinese. Screenshots go to artifacts/browser/ (fonts-noto-cjk draws them).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Watched
from tests.browser.test_pages import customer_says, demo_password, handoff_base, log_in, set_status, wait_for_line
from tests.conftest import ROOT
from tests.integration.running import RunCommand


def new_page(browser: Browser, contexts: List[BrowserContext], name: str, **options: Any) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    contexts.append(context)
    return Watched(context, name)


def open_widget(page: Page) -> None:
    if not page.get_by_test_id("chat-window").is_visible():
        page.get_by_test_id("chat-open").click()
    expect(page.get_by_test_id("chat-window")).to_be_visible()


def test_console_in_chinese_by_the_address_and_by_the_switch_which_is_remembered(
        stack: RunCommand, browser: Browser, contexts: List[BrowserContext]) -> None:
    base, password = handoff_base(stack), demo_password(stack)
    w = new_page(browser, contexts, "zh-console", locale="en-US")
    page = w.page
    page.goto(base + "/console/?lang=zh")
    expect(page.get_by_role("heading", name="客服登录")).to_be_visible()
    expect(page.get_by_test_id("login-submit")).to_have_text("登录")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    log_in(page, "ann", password)
    for text in ("我的会话", "我的队列", "案情摘要"):
        expect(page.get_by_role("heading", name=text)).to_be_visible()
    expect(page.get_by_test_id("tab-tickets")).to_have_text("工单")
    expect(page.get_by_test_id("status-select").locator("option[value=online]")).to_have_text("在线")
    expect(page.get_by_test_id("reply-input")).to_have_attribute("placeholder", "回复客户（Enter 发送，Shift+Enter 换行）")
    expect(page.get_by_test_id("lang-zh")).to_have_attribute("aria-pressed", "true")
    assert page.title().startswith("客服工作台")
    w.screenshot("logged-in")

    # The switch: English now, and English again on a later visit without ?lang= (localStorage "lang").
    page.get_by_test_id("lang-en").click()
    expect(page.get_by_role("heading", name="My chats")).to_be_visible(timeout=15_000)
    assert page.evaluate("localStorage.getItem('lang')") == "en"
    page.goto(base + "/console/")
    expect(page.get_by_role("heading", name="My chats")).to_be_visible(timeout=15_000)
    page.get_by_test_id("lang-zh").click()
    expect(page.get_by_role("heading", name="我的会话")).to_be_visible(timeout=15_000)
    page.goto(base + "/console/?lang=en")  # the switch's choice wins over the address
    expect(page.get_by_role("heading", name="我的会话")).to_be_visible(timeout=15_000)
    assert w.errors == [], w.errors


def test_dashboard_in_chinese_for_a_chinese_browser(stack: RunCommand, browser: Browser,
                                                    contexts: List[BrowserContext]) -> None:
    base, password = handoff_base(stack), demo_password(stack)
    w = new_page(browser, contexts, "zh-dashboard", locale="zh-CN")
    page = w.page
    page.goto(base + "/dashboard/")  # no ?lang=, nothing stored: navigator.languages is zh-CN
    expect(page.get_by_role("heading", name="主管登录")).to_be_visible()
    log_in(page, "sam", password)
    expect(page.locator("#kpi-title")).to_contain_text("最近 24 小时")
    for text in ("队列", "客服", "转人工主要原因", "热门话题"):
        expect(page.get_by_role("heading", name=text, exact=False).first).to_be_visible()
    expect(page.get_by_test_id("kpi-fcr")).to_contain_text("首次解决率")
    expect(page.get_by_test_id("agents")).to_contain_text("离线", timeout=15_000)
    expect(page.get_by_test_id("connection")).to_have_text("实时", timeout=15_000)
    expect(page.get_by_test_id("updated")).to_contain_text("更新于", timeout=15_000)
    w.screenshot("logged-in")
    assert w.errors == [], w.errors


def test_times_are_shown_in_the_configured_zone_not_the_browsers(stack: RunCommand, browser: Browser,
                                                                  contexts: List[BrowserContext]) -> None:
    """policy/skill_groups.yml's calendar is in Asia/Shanghai; this browser is in New York (UTC-5 in March)."""
    base = handoff_base(stack)
    w = new_page(browser, contexts, "zh-zone", timezone_id="America/New_York")
    w.page.goto(base + "/console/?lang=zh")
    expect(w.page.get_by_test_id("login-submit")).to_have_text("登录")
    shown = w.page.evaluate("""async () => {
        const m = await import("/web/common.js");
        return [m.timeZone(), m.fmtTime("2026-03-03T01:05:00Z"), m.fmtSeconds(185),
                new Date("2026-03-03T01:05:00Z").toLocaleString("en-US", {hour: "2-digit", hour12: false})];
    }""")
    assert shown[0] == "Asia/Shanghai"
    assert shown[1] == "3月3日 09:05"  # 01:05 UTC = 09:05 in Shanghai, 20:05 the day before in New York
    assert shown[2] == "3 分 05 秒"
    assert shown[3].strip() == "20"  # the browser's own zone is New York indeed


def test_widget_in_chinese_sends_the_page_language_with_each_message(
        stack: RunCommand, browser: Browser, contexts: List[BrowserContext]) -> None:
    w = new_page(browser, contexts, "zh-widget", locale="en-US")
    page = w.page
    sent: List[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.goto(stack.url + "/chat/?lang=zh")
    open_widget(page)
    expect(page.get_by_test_id("chat-send")).to_have_text("发送")
    expect(page.get_by_test_id("chat-input")).to_have_attribute("placeholder", "请输入您的问题…")
    expect(page.get_by_test_id("suggestion").first).to_have_text("我的订单到哪了？")
    expect(page.get_by_test_id("chat-lang")).to_have_text("EN")
    expect(page.get_by_role("heading", name="秋季必备好物")).to_be_visible()  # the shop page around it
    customer_says(page, "你好")
    expect(page.locator('[data-testid="message"][data-speaker="customer"]', has_text="你好")).to_be_visible()
    expect(page.locator('[data-testid="message"][data-speaker="bot"]').first).to_be_visible(timeout=30_000)
    uttered = [f for f in sent if "user_uttered" in f]
    assert uttered, sent
    frame = uttered[0]
    data = json.loads(frame[frame.index("["):])[1]
    assert data["customData"]["language"] == "zh"
    w.screenshot("chinese")

    # The switch in the header: English, remembered; the conversation stays.
    page.get_by_test_id("chat-lang").click()
    expect(page.get_by_test_id("chat-send")).to_have_text("Send", timeout=15_000)
    expect(page.get_by_test_id("chat-lang")).to_have_text("中文")
    expect(page.locator('[data-testid="message"][data-speaker="customer"]', has_text="你好")).to_be_visible()
    assert page.evaluate("localStorage.getItem('lang')") == "en"
    assert w.errors == [], w.errors


# -- a Chinese customer and a Chinese-reading agent ------------------------------------------------------------
def chinese_agent() -> Optional[Dict[str, Any]]:
    """The first agent of the demo team who reads Chinese (handoff/demo_team.yml `languages`), if any."""
    team = yaml.safe_load((ROOT / "handoff" / "demo_team.yml").read_text(encoding="utf-8")) or {}
    for agent in team.get("agents") or []:
        if "zh" in (agent.get("languages") or []) and agent.get("role", "agent") == "agent":
            return agent
    return None


@pytest.mark.skipif(chinese_agent() is None or not (ROOT / "data" / "nlu" / "zh").is_dir(),
                    reason="needs a Chinese-reading demo agent (t-route) and Chinese training data (t-zhdata)")
def test_a_chinese_customer_is_handed_to_a_chinese_reading_agent(
        stack: RunCommand, browser: Browser, contexts: List[BrowserContext]) -> None:
    base, password = handoff_base(stack), demo_password(stack)
    reader = chinese_agent()
    assert reader is not None

    # An English-only colleague of the same group is online too: the chat must still go to the reader.
    ann = new_page(browser, contexts, "zh-handoff-ann", locale="en-US")
    ann.page.goto(base + "/console/")
    log_in(ann.page, "ann", password)
    set_status(ann.page, "online")
    agent = new_page(browser, contexts, "zh-handoff-agent", locale="zh-CN")
    agent.page.goto(base + "/console/")
    log_in(agent.page, reader["id"], password)
    set_status(agent.page, "online")

    customer = new_page(browser, contexts, "zh-handoff-customer", locale="zh-CN")
    chat = customer.page
    chat.goto(stack.url + "/chat/")
    open_widget(chat)
    expect(chat.get_by_test_id("chat-send")).to_have_text("发送")
    customer_says(chat, "亲，我要转人工")

    expect(agent.page.get_by_test_id("offer-banner")).to_be_visible(timeout=60_000)
    expect(agent.page.get_by_test_id("offer-banner")).to_contain_text("新会话")
    agent.page.get_by_test_id("offer-accept").click()
    expect(agent.page.get_by_test_id("chat-item")).to_have_count(1, timeout=15_000)
    transcript = agent.page.get_by_test_id("transcript")
    expect(transcript).to_contain_text("亲，我要转人工")
    expect(agent.page.get_by_test_id("case-brief")).to_contain_text("中文")  # the chat's language in the brief
    assert ann.page.get_by_test_id("chat-item").count() == 0

    agent.page.get_by_test_id("reply-input").fill(f"亲，您好！我是{reader['name']}，请问有什么可以帮您？")
    agent.page.get_by_test_id("reply-send").click()
    wait_for_line(chat, "agent", "请问有什么可以帮您")
    line = chat.locator('[data-testid="message"][data-speaker="agent"]').last
    assert line.get_attribute("data-agent-name") == reader["name"]
    expect(chat.get_by_test_id("chat-with")).to_contain_text("正在为您服务")
    customer_says(chat, "我的快递三天了还没到，单号 10234568")
    expect(transcript).to_contain_text("我的快递三天了还没到", timeout=15_000)
    agent.page.get_by_test_id("reply-input").fill("好的亲，我帮您查一下 10234568 的物流，请稍等～")
    agent.page.get_by_test_id("reply-send").click()
    wait_for_line(chat, "agent", "请稍等")
    time.sleep(0.5)
    customer.screenshot("conversation")
    agent.screenshot("console")
    assert customer.errors == [] and agent.errors == [], (customer.errors, agent.errors)
    set_status(agent.page, "offline")
    set_status(ann.page, "offline")


def test_screenshots_exist_as_artifacts() -> None:
    """The screenshots above are kept (CI uploads artifacts/browser/)."""
    folder = ROOT / "artifacts" / "browser"
    names = {p.name for p in folder.glob("zh-*.png")} if folder.is_dir() else set()
    assert {"zh-console-logged-in.png", "zh-dashboard-logged-in.png", "zh-widget-chinese.png"} <= names, names
    assert all(Path(folder / n).stat().st_size > 10_000 for n in names)
