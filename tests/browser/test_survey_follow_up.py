"""The satisfaction survey end to end, every process real (the run command's stack, Chromium via Playwright): a
customer chats with an agent, the agent closes the chat as resolved; the widget says so at once and the
satisfaction survey arrives after the group's delay (6 s here, tests/data/survey_soon.yml); the customer answers
"not solved": the widget names the follow-up case and its agent, the agent's console lists the follow-up ticket
assigned to them, and the dashboard's first-contact resolution drops (read before and after the answer)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.test_pages import (conversation, customer_says, demo_password, fill_or_select, handoff_base,
                                      kpi_number, log_in, set_status, wait_for_line)
from tests.conftest import ROOT, free_port
from tests.integration.running import RunCommand

DELAY = 6.0


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_POSITION_SECONDS": "1",
                      "HANDOFF_SURVEY_FILE": str(ROOT / "tests" / "data" / "survey_soon.yml")})
    run.start()
    yield run
    run.stop()


def fcr(page) -> float:
    """The dashboard's first-contact resolution in percent, once it shows a number (it refreshes every 5 s)."""
    expect(page.get_by_test_id("kpi-fcr")).to_contain_text("%", timeout=20_000)
    return kpi_number(page, "kpi-fcr")


def test_not_solved_opens_the_follow_up_for_the_same_agent_and_moves_first_contact_resolution(
        stack: RunCommand, open_page) -> None:
    base, password = handoff_base(stack), demo_password(stack)
    dashboard = open_page("survey-dashboard")
    dashboard.page.goto(base + "/dashboard/")
    log_in(dashboard.page, "sam", password)
    tom = open_page("survey-console-tom")
    tom.page.goto(base + "/console/")
    log_in(tom.page, "tom", password)
    set_status(tom.page, "online")
    customer = open_page("survey-chat")
    chat = customer.page
    chat.goto(stack.url + "/chat/")
    if not chat.get_by_test_id("chat-window").is_visible():
        chat.get_by_test_id("chat-open").click()
    customer_says(chat, "I want to talk to a human")
    expect(tom.page.get_by_test_id("offer-banner")).to_be_visible(timeout=30_000)
    tom.page.get_by_test_id("offer-accept").click()
    wait_for_line(chat, "system", "Tom Reyes")
    tom.page.get_by_test_id("reply-input").fill("Hello, Tom here: I have reset your password.")
    tom.page.get_by_test_id("reply-send").click()
    wait_for_line(chat, "agent", "reset your password")

    # Tom closes it as resolved: the widget says so at once; the survey comes after the delay, not with it.
    escalation = tom.page.get_by_test_id("chat-item").first.get_attribute("data-escalation")
    fill_or_select(tom.page, "close-wrapup", "answered")
    fill_or_select(tom.page, "close-resolved", "yes")
    tom.page.get_by_test_id("close-send").click()
    closed_at = time.monotonic()
    wait_for_line(chat, "*", "has closed this chat")
    assert not any("did we solve your problem" in text for _, text in conversation(chat))
    wait_for_line(chat, "*", "did we solve your problem", timeout=DELAY + 30)
    waited = time.monotonic() - closed_at
    assert waited >= DELAY - 1.0, waited  # (the close's notice took part of it: a second of slack)
    expect(chat.get_by_test_id("quick-reply").filter(has_text="I need more help").last).to_be_visible()

    before = fcr(dashboard.page)  # the closed, resolved chat counts as solved at first contact
    assert before == 100.0, before

    # "Not solved": the widget names the follow-up case, its agent and when they will answer.
    chat.get_by_test_id("quick-reply").filter(has_text="No").last.click()
    wait_for_line(chat, "*", "from 1 (poor) to 5")
    chat.get_by_test_id("quick-reply").filter(has_text="2").last.click()
    wait_for_line(chat, "*", "I've opened case T-")
    said = next(text for _, text in reversed(conversation(chat)) if "I've opened case T-" in text)
    label = said.split("I've opened case ", 1)[1].split()[0]
    assert f"I've opened case {label} with Tom Reyes; they will answer by " in said, said
    customer.screenshot("follow-up")

    # Tom's console lists the follow-up ticket, assigned to him, in the chat's group.
    tom.page.get_by_test_id("tab-tickets").click()
    expect(tom.page.get_by_test_id("tickets-view")).to_be_visible()
    row = tom.page.locator(f'[data-testid="ticket-row"][data-label="{label}"]')
    expect(row).to_be_visible(timeout=20_000)
    expect(row.get_by_test_id("ticket-row-assignee")).to_contain_text("Tom")
    tom.screenshot("follow-up-ticket")

    # The dashboard's first-contact resolution moves with the customer's answer.
    deadline = time.monotonic() + 20
    while fcr(dashboard.page) >= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert fcr(dashboard.page) == 0.0
    dashboard.screenshot("fcr-after-survey")

    token = requests.post(base + "/v1/agents/login", json={"agent_id": "sam", "password": password},
                          timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    record = requests.get(f"{base}/v1/handoffs/{escalation}", headers=headers, timeout=10).json()
    assert {k: record["outcome"]["survey"][k] for k in ("resolved", "rating")} == {"resolved": False, "rating": 2}
    assert [t["label"] for t in record["tickets"]] == [label]
    ticket = requests.get(f"{base}/v1/tickets/{label}", headers=headers, timeout=10).json()["ticket"]
    assert (ticket["assignee"], ticket["group"], ticket["source"]) == ("tom", record["skill_group"], "follow_up")
    assert ticket["priority"] == record["priority"] + 20 and ticket["escalations"] == [escalation]
