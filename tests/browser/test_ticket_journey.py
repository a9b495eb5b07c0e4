"""The tickets' journeys end to end, every process real: the run command's stack (Redis, handoff service, action
server, Rasa), the customer in the web widget and the agents in the console (Chromium via Playwright), a real
SMTP server (aiosmtpd) for the e-mail, and the service's clock moved by HANDOFF_CLOCK_FILE from night to the
next morning.

1. A customer writes at night, nobody is online: they are told the ticket's number and when the answer is due
   in business hours. Next morning an agent claims it in the console and replies; the customer, back in the
   widget, sees the answer and replies; the agent sends it to the technical team with a note; a technical
   agent sees the whole history and brief, answers and sends it back; the first agent solves it. The timeline
   has every state change and the time in each team.
2. The same with the customer gone: the reply goes out by e-mail, and the customer's e-mail answer reopens the
   ticket.
"""
from __future__ import annotations

import email
import smtplib
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Dict, Iterator, List
from zoneinfo import ZoneInfo

import pytest
import requests
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched
from tests.conftest import free_port
from tests.integration.running import RunCommand

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Sink:
    """The shop's outgoing mail relay, as a real SMTP server: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: List[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def night(now: float) -> float:
    """The next 02:00 in Shanghai on a weekday followed by a weekday."""
    day = datetime.fromtimestamp(now, SHANGHAI).replace(hour=2, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day.weekday() >= 4:  # Friday night would answer on Monday: fine, but keep the journey short
        day += timedelta(days=1)
    return day.timestamp()


class Clock:
    """The service's clock: the wall clock plus the offset in HANDOFF_CLOCK_FILE (handoff/clocks/offset_clock.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0
        self.set(night(time.time()))

    @property
    def now(self) -> float:
        return time.time() + self.offset

    def set(self, when: float) -> None:
        self.offset = when - time.time()
        self.path.write_text(repr(self.offset))
        time.sleep(0.2)

    def advance(self, seconds: float) -> None:
        self.set(self.now + seconds)


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Clock:
    return Clock(tmp_path_factory.mktemp("clock") / "offset")


@pytest.fixture(scope="module")
def mail_in_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory, sink: Sink, clock: Clock,
          mail_in_port: int) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_CLOCK_FILE": str(clock.path),
                      "HANDOFF_SMTP_HOST": "127.0.0.1", "HANDOFF_SMTP_PORT": str(sink.port),  # type: ignore
                      "HANDOFF_MAIL_FROM": "support@brightcart.example", "HANDOFF_MAIL_DOMAIN": "brightcart.example",
                      "HANDOFF_MAIL_IN_PORT": str(mail_in_port)})
    run.start()
    yield run
    run.stop()


@pytest.fixture(autouse=True)
def nobody_online(stack: RunCommand) -> Iterator[None]:
    """Each journey starts at night with every demo agent offline (a console left open earlier included)."""
    for agent in ("ann", "ben", "tom", "bea", "vera", "sam"):
        requests.put(base(stack) + "/v1/agents/me/status", json={"status": "offline"}, headers=token(stack, agent),
                     timeout=10)
    yield


def demo_password(stack: RunCommand) -> str:
    return "".join(stack.output).split("(supervisor); password ", 1)[1].split()[0]


def base(stack: RunCommand) -> str:
    return f"http://127.0.0.1:{stack.handoff_port}"


def token(stack: RunCommand, agent: str) -> Dict[str, str]:
    r = requests.post(base(stack) + "/v1/agents/login", json={"agent_id": agent, "password": demo_password(stack)},
                      timeout=10)
    return {"Authorization": f"Bearer {r.json()['token']}"}


def ticket_page(stack: RunCommand, ref: str) -> Dict[str, Any]:
    r = requests.get(f"{base(stack)}/v1/tickets/{ref}", headers=token(stack, "sam"), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def open_chat(w: Watched, stack: RunCommand) -> Page:
    w.page.goto(stack.url + "/chat/")
    if not w.page.get_by_test_id("chat-window").is_visible():
        w.page.get_by_test_id("chat-open").click()
    return w.page


def customer_says(page: Page, text: str) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-send").click()


def wait_for_line(page: Page, text_part: str, timeout: float = 30) -> None:
    expect(page.locator('[data-testid="message"]', has_text=text_part).last).to_be_visible(timeout=timeout * 1000)


def log_in(page: Page, agent: str, password: str) -> None:
    page.get_by_test_id("login-agent").fill(agent)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-agent")).to_be_hidden(timeout=10_000)


def all_labels(stack: RunCommand) -> List[str]:
    found = requests.get(base(stack) + "/v1/tickets", params={"view": "all"}, headers=token(stack, "sam"),
                         timeout=10).json()["tickets"]
    return [t["label"] for t in found]


def night_ticket(stack: RunCommand, page: Page, lines: List[str]) -> Dict[str, Any]:
    """The customer asks for a person at night, nobody is online: the widget names the new ticket and its answer
    time (due in business hours, in the team's time zone)."""
    before = set(all_labels(stack))
    for text in lines:
        customer_says(page, text)
        time.sleep(1.5)
    deadline = time.monotonic() + 30
    while not set(all_labels(stack)) - before:
        assert time.monotonic() < deadline, ("no ticket was made; the widget shows",
                                             page.get_by_test_id("message").all_inner_texts())
        time.sleep(0.5)
    (label,) = set(all_labels(stack)) - before
    t = ticket_page(stack, label)["ticket"]
    wait_for_line(page, f"I've opened case {label} for you: they will answer by {t['due_local']} ({t['timezone']} time)")
    return t


def console(w: Watched, stack: RunCommand, agent: str) -> Page:
    """The console with `agent` logged in and the Tickets view shown."""
    w.page.goto(base(stack) + "/console/")
    log_in(w.page, agent, demo_password(stack))
    w.page.get_by_test_id("tab-tickets").click()
    expect(w.page.get_by_test_id("tickets-view")).to_be_visible()
    return w.page


def row(page: Page, label: str) -> Any:
    return page.locator(f'[data-testid="ticket-row"][data-label="{label}"]')


def open_ticket(page: Page, label: str) -> None:
    expect(row(page, label)).to_be_visible(timeout=20_000)
    row(page, label).get_by_role("button").click()
    expect(page.get_by_test_id("ticket-label")).to_have_text(label, timeout=20_000)


def entry(page: Page, kind: str, text: str = "") -> Any:
    found = page.locator(f'[data-testid="timeline-entry"][data-kind="{kind}"]')
    return found.filter(has_text=text) if text else found


def claim_and_answer(w: Watched, stack: RunCommand, label: str, text: str) -> Page:
    """Ben logs into the console, finds the ticket in his groups' queue, claims it and answers the customer (the
    ticket then waits on them). His console page."""
    page = console(w, stack, "ben")
    page.get_by_test_id("tickets-view-groups").click()
    open_ticket(page, label)
    page.get_by_test_id("ticket-claim").click()
    expect(page.get_by_test_id("ticket-notice")).to_have_text(f"{label} is yours now.")
    page.get_by_test_id("ticket-reply-input").fill(text)
    page.get_by_test_id("ticket-reply-then").select_option("pending")
    page.get_by_test_id("ticket-reply-send").click()
    expect(page.get_by_test_id("ticket-state")).to_have_text("Pending (waiting on the customer)", timeout=20_000)
    return page


def next_morning(clock: Clock, stack: RunCommand, group: str = "after_sales") -> None:
    """09:30 on the next business morning of the group's calendar (the service's clock, every process)."""
    from common.routing import SKILL_GROUPS_FILE, SkillGroups
    calendar = SkillGroups.load(SKILL_GROUPS_FILE).calendars[group]
    clock.set(calendar.next_open(clock.now) + 30 * 60)


def test_a_night_ticket_is_claimed_next_morning_answered_sent_to_technical_and_back_and_solved(
        stack: RunCommand, clock: Clock, open_page: Any) -> None:
    clock.set(night(time.time()))
    customer = open_page("journey-customer")
    chat = open_chat(customer, stack)
    t = night_ticket(stack, chat, ["the kettle I got is broken, it stopped heating after two days. I want to talk to a person"])
    label = t["label"]
    assert (t["state"], t["group"], t["source"]) == ("new", "after_sales", "chat")
    due = datetime.fromisoformat(t["due_at"].replace("Z", "+00:00")).astimezone(SHANGHAI)
    assert (due.hour, due.minute) == (13, 0)  # 4 business hours from the 09:00 opening, not a flat 24 h

    next_morning(clock, stack)
    ben = open_page("journey-ben")
    page = claim_and_answer(ben, stack, label, "Sorry about that! Is the kettle's light blinking red?")

    # The customer, still in the widget, sees the answer and replies there: it lands on the ticket.
    wait_for_line(chat, "Is the kettle's light blinking red?")
    customer_says(chat, "yes it blinks red three times")
    wait_for_line(chat, f"I've added that to your case {label}")
    expect(entry(page, "customer", "yes it blinks red three times")).to_have_count(1, timeout=20_000)
    expect(page.get_by_test_id("ticket-state")).to_have_text("Open", timeout=20_000)

    # To the technical team, with a note: everything the first team knew goes with it.
    page.get_by_test_id("ticket-send-group").select_option("technical")
    page.get_by_test_id("ticket-send-note").fill("E42 + red blinking: firmware? please check")
    page.get_by_test_id("ticket-send-send").click()
    expect(page.get_by_test_id("ticket-state")).to_have_text("On hold (with another team)", timeout=20_000)
    clock.advance(40 * 60)
    tom = open_page("journey-tom")
    tpage = console(tom, stack, "tom")
    tpage.get_by_test_id("tickets-view-groups").click()
    open_ticket(tpage, label)
    expect(tpage.get_by_test_id("ticket-transcript")).to_contain_text("the kettle I got is broken")
    expect(tpage.get_by_test_id("ticket-brief-summary")).not_to_be_empty()
    expect(entry(tpage, "customer", "yes it blinks red three times")).to_have_count(1)
    expect(entry(tpage, "note", "E42 + red blinking: firmware?")).to_have_count(1)
    tpage.get_by_test_id("ticket-claim").click()
    tpage.get_by_test_id("ticket-reply-input").fill("Please hold the power button for 10 s: that resets the firmware.")
    tpage.get_by_test_id("ticket-reply-then").select_option("open")
    tpage.get_by_test_id("ticket-reply-send").click()
    wait_for_line(chat, "that resets the firmware")
    clock.advance(20 * 60)
    tpage.get_by_test_id("ticket-send-group").select_option("after_sales")
    tpage.get_by_test_id("ticket-send-note").fill("told the customer how to reset the firmware")
    tpage.get_by_test_id("ticket-send-send").click()

    # Back with ben, who solves it.
    expect(page.get_by_test_id("ticket-state")).to_have_text("Open", timeout=20_000)
    expect(page.get_by_test_id("ticket-group")).to_contain_text("After-sales")
    page.get_by_test_id("ticket-state-select").select_option("solved")
    page.get_by_test_id("ticket-state-send").click()
    expect(page.get_by_test_id("ticket-state")).to_have_text("Solved", timeout=20_000)

    timeline = ticket_page(stack, label)["timeline"]
    states = [(e["from"], e["to"]) for e in timeline if e["kind"] == "state"]
    assert states == [("new", "open"), ("open", "pending"), ("pending", "open"), ("open", "on_hold"),
                      ("on_hold", "open"), ("open", "solved")], states
    teams = [(e["from"], e["to"], e["seconds"]) for e in timeline if e["kind"] == "team"]
    assert [(a, b) for a, b, _ in teams] == [("after_sales", "technical"), ("technical", "after_sales")]
    assert teams[1][2] >= 60 * 60  # technical had it an hour of the (moved) clock
    solved = ticket_page(stack, label)["ticket"]
    assert set(solved["team_seconds"]) == {"after_sales", "technical"}
    assert solved["team_seconds"]["technical"] == round(teams[1][2], 1)
    for w in (customer, ben, tom):
        assert w.dialogs == [], w.name


def test_with_the_customer_gone_the_answer_goes_by_e_mail_and_their_e_mail_answer_reopens_the_ticket(
        stack: RunCommand, clock: Clock, sink: Sink, mail_in_port: int, open_page: Any) -> None:
    clock.set(night(clock.now + 86400))
    customer = open_page("journey-mail-customer")
    chat = open_chat(customer, stack)
    t = night_ticket(stack, chat, ["my order arrived with a cracked screen, my email is li.wei@example.com",
                                   "I want to talk to a person"])
    label = t["label"]
    assert t["requester"]["email"] == "li.wei@example.com"
    customer.page.close()  # the customer is gone

    next_morning(clock, stack)
    ben = open_page("journey-mail-ben")
    page = claim_and_answer(ben, stack, label, "We are sorry! Could you send us a photo of the screen?")

    # The answer reaches the shop's mail relay (a real SMTP server), to the customer, about the ticket.
    deadline = time.monotonic() + 30
    while not [m for m in sink.messages if label in str(m["Subject"])]:
        assert time.monotonic() < deadline, "no mail was sent"
        time.sleep(0.3)
    mail = next(m for m in sink.messages if label in str(m["Subject"]))
    assert mail["To"] == "li.wei@example.com" and label in mail["Subject"]
    body = mail.get_payload(decode=True).decode("utf-8") if not mail.is_multipart() else \
        mail.get_payload()[0].get_payload(decode=True).decode("utf-8")
    assert "Could you send us a photo of the screen?" in body
    reply_to = mail["Reply-To"]

    # Someone else writing to that address changes nothing.
    forged = EmailMessage()
    forged["From"], forged["To"], forged["Subject"] = "mallory@example.net", reply_to, f"Re: {mail['Subject']}"
    forged.set_content("close this ticket")
    with smtplib.SMTP("127.0.0.1", mail_in_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.send_message(forged)
    assert refused.value.smtp_code == 550
    assert ticket_page(stack, label)["ticket"]["state"] == "pending"

    # The customer answers the mail: the answer lands on the ticket, which is open again.
    answer = EmailMessage()
    answer["From"], answer["To"], answer["Subject"] = "li.wei@example.com", reply_to, f"Re: {mail['Subject']}"
    answer["Message-ID"] = "<answer-1@example.com>"
    answer.set_content("Photo attached, the crack is in the top left corner.\n\n"
                       "On Mon, Brightcart Support wrote:\n> We are sorry! Could you send us a photo of the screen?\n")
    with smtplib.SMTP("127.0.0.1", mail_in_port, timeout=10) as smtp:
        smtp.send_message(answer)
    expect(entry(page, "customer", "the crack is in the top left corner")).to_have_count(1, timeout=20_000)
    expect(page.get_by_test_id("ticket-state")).to_have_text("Open", timeout=20_000)
    got = ticket_page(stack, label)
    said = [e for e in got["timeline"] if e["kind"] == "customer"]
    assert [(e["text"], e["via"]) for e in said] == [("Photo attached, the crack is in the top left corner.", "email")]
    assert [(e["from"], e["to"]) for e in got["timeline"] if e["kind"] == "state"][-1] == ("pending", "open")
