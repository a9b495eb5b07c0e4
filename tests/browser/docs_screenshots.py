"""The documentation's screenshots, taken by a real browser on the real stack.

    .venv/bin/python -m tests.browser.docs_screenshots [--out docs/images]

Starts the whole assistant with the run command (as the browser tests do: its own ports, Redis and folders,
the model in models/), then plays one short afternoon in Debian's Chromium, headless, at 1280x800:

- a customer asks for help while nobody is online: the chat becomes a ticket;
- Ann goes online in the agent console; a second customer asks the bot a question, gets angry about a late
  order and is handed to Ann, who accepts and answers;
- Sam, the supervisor, opens the dashboard; Ann opens the ticket, claims it and replies.

It writes ``chat.png`` (the customer's chat page), ``console.png`` (Ann's console with the chat),
``dashboard.png`` (the supervisor's dashboard) and ``tickets.png`` (the console's ticket view), each a PNG of
the browser's window, reduced to a palette when it would be over ~250 KB. Not a test (pytest does not collect
it): it fails loudly, naming the step, when the stack or a page does not do what it says.
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List

from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import chromium_path
from tests.browser.test_pages import (customer_says, demo_password, handoff_base, kpi_number, log_in, set_status,
                                     wait_for_line)
from tests.conftest import ROOT, free_port
from tests.integration.running import RunCommand, responses_texts

VIEWPORT = {"width": 1280, "height": 800}
MAX_BYTES = 250_000
WAIT_MS = 30_000
FAQ = "How long does shipping take?"
ANGRY = ["Where is my order 10234568?",
         "This is ridiculous, it is two weeks late and nobody answers my emails",
         "I want to talk to a human now"]
NIGHT = "My blender arrived with a cracked jug, order 10234571. I want to talk to a person."


def save_png(page: Page, path: Path) -> int:
    """The browser window as a PNG at `path`; quantized to 256 colours when the full-colour file is too big
    (UI screenshots have few colours, so this is invisible). Its size in bytes."""
    raw = page.screenshot(full_page=False)
    image = Image.open(io.BytesIO(raw))
    data = raw
    if len(raw) > MAX_BYTES:
        out = io.BytesIO()
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        data = out.getvalue()
    path.write_bytes(data)
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{path} is {len(data)} bytes, over {MAX_BYTES}")
    print(f"    {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(data) // 1024} KB", flush=True)
    return len(data)


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="Europe/London")
    return context.new_page()


def night_ticket(stack: RunCommand) -> None:
    """A customer asks for a person while the whole team is offline: the service makes the chat a ticket."""
    said = " ".join(stack.say("docs-night-customer", NIGHT))
    if "T-" not in said:
        raise SystemExit(f"the night customer's handoff did not become a ticket; the bot said: {said!r}")


def afternoon(browser: Browser, stack: RunCommand, out: Path) -> None:
    password = demo_password(stack)
    base = handoff_base(stack)

    print("==> A ticket made while nobody is online", flush=True)
    night_ticket(stack)

    print("==> Ann goes online; a customer is handed to her", flush=True)
    ann = new_page(browser)
    ann.goto(base + "/console/")
    log_in(ann, "ann", password)
    set_status(ann, "online")

    chat = new_page(browser)
    chat.goto(stack.url + "/chat/")
    if not chat.get_by_test_id("chat-window").is_visible():
        chat.get_by_test_id("chat-open").click()
    customer_says(chat, FAQ)
    wait_for_line(chat, "bot", responses_texts("utter_faq/shipping_time")[0][:40])
    for line in ANGRY:
        customer_says(chat, line)
        time.sleep(1.0)
    expect(ann.get_by_test_id("offer-banner")).to_be_visible(timeout=WAIT_MS)
    ann.get_by_test_id("offer-accept").click()
    expect(ann.get_by_test_id("chat-item")).to_have_count(1, timeout=WAIT_MS)
    wait_for_line(chat, "system", "Ann Baker")
    ann.get_by_test_id("reply-input").fill("Hi, I'm Ann from After-sales. I'm sorry about the wait: "
                                           "I can see order 10234568 and I'm checking with the courier now.")
    ann.get_by_test_id("reply-send").click()
    wait_for_line(chat, "agent", "checking with the courier")
    customer_says(chat, "Thank you. It was supposed to arrive last Monday.")
    expect(ann.get_by_test_id("transcript")).to_contain_text("last Monday", timeout=WAIT_MS)
    ann.get_by_test_id("reply-input").fill("The courier has it at the Leeds depot: it goes out tomorrow morning, "
                                           "and I've refunded the shipping fee.")
    ann.get_by_test_id("reply-send").click()
    wait_for_line(chat, "agent", "Leeds depot")
    time.sleep(0.5)  # the last line's slide-in
    save_png(chat, out / "chat.png")
    save_png(ann, out / "console.png")

    print("==> The supervisor's dashboard", flush=True)
    dashboard = new_page(browser)
    dashboard.goto(base + "/dashboard/")
    log_in(dashboard, "sam", password)
    expect(dashboard.get_by_test_id("kpi-handoffs")).to_be_visible(timeout=WAIT_MS)
    deadline = time.monotonic() + 30
    while kpi_number(dashboard, "kpi-handoffs") < 2 and time.monotonic() < deadline:  # the ticket's and Ann's chat
        time.sleep(0.5)
    if kpi_number(dashboard, "kpi-handoffs") < 2:
        raise SystemExit("the dashboard does not count the two handoffs")
    expect(dashboard.locator('[data-testid="agents"]')).to_contain_text("Ann Baker", timeout=WAIT_MS)
    time.sleep(1.5)  # the charts' first drawing
    save_png(dashboard, out / "dashboard.png")

    print("==> The ticket in Ann's console", flush=True)
    ann.get_by_test_id("tab-tickets").click()
    expect(ann.get_by_test_id("tickets-view")).to_be_visible()
    rows = ann.locator('[data-testid="ticket-row"]')
    expect(rows.first).to_be_visible(timeout=WAIT_MS)
    label = rows.first.get_attribute("data-label") or ""
    rows.first.get_by_role("button").click()
    expect(ann.get_by_test_id("ticket-label")).to_have_text(label, timeout=WAIT_MS)
    if ann.get_by_test_id("ticket-claim").is_visible():
        ann.get_by_test_id("ticket-claim").click()
        expect(ann.get_by_test_id("ticket-assignee")).to_contain_text("Ann Baker", timeout=WAIT_MS)
    ann.get_by_test_id("ticket-reply-input").fill("I'm sorry the jug arrived cracked. A new one is on its way; "
                                                  "could you send us a photo of the crack for the courier?")
    ann.get_by_test_id("ticket-reply-then").select_option("pending")
    ann.get_by_test_id("ticket-reply-send").click()
    expect(ann.locator('[data-testid="timeline-entry"]').filter(has_text="photo of the crack")).to_be_visible(
        timeout=WAIT_MS)
    ann.locator("body").click(position={"x": 5, "y": 300})  # the reply box lets go of the focus
    ann.evaluate("() => window.scrollTo(0, 0)")  # the queue and the ticket's head, not the end of its timeline
    time.sleep(0.3)
    save_png(ann, out / "tickets.png")


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="docs-screenshots-"))
    stack = RunCommand(None, scratch / "run", {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(scratch / "data"),
                                               "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_POSITION_SECONDS": "1"})
    print("==> Starting the assistant (the run command)", flush=True)
    stack.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True,
                                        args=["--no-sandbox", "--disable-background-networking",
                                              "--disable-dev-shm-usage"])
            try:
                afternoon(browser, stack, args.out)
            finally:
                browser.close()
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print("==> Done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
