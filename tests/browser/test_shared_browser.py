"""A shared browser (one profile, one tab): the next shopper, or the same browser signed out, does not see the
previous shopper's chat. The shop's page hands the widget a signed customer token (data-customer-token); here
the test serves the chat page with that attribute added, as a shop page would."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Optional

import jwt
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.conftest import free_port
from tests.integration.running import RunCommand, responses_texts

SECRET = "shared-browser-customer-secret-0123456789"


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "CUSTOMER_TOKEN_SECRET": SECRET})
    run.start()
    yield run
    run.stop()


def token(customer: str) -> str:
    return jwt.encode({"sub": customer, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


def open_shop(page: Page, url: str, customer_token: Optional[str]) -> None:
    """The chat page as the shop serves it to this shopper (signed in: with their token)."""
    def serve(route: Route) -> None:
        original = route.fetch()
        html = original.text()
        if customer_token:
            html = html.replace('data-open="true"', f'data-open="true" data-customer-token="{customer_token}"')
        route.fulfill(response=original, body=html)

    page.unroute("**/chat/")
    page.route("**/chat/", serve)
    page.goto(url + "/chat/")
    if not page.get_by_test_id("chat-window").is_visible():
        page.get_by_test_id("chat-open").click()


def test_the_next_shopper_on_the_same_browser_does_not_see_the_previous_chat(stack: RunCommand,
                                                                              browser: Browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        open_shop(page, stack.url, token("ann-1"))
        page.get_by_test_id("chat-input").fill("where is my order")
        page.get_by_test_id("chat-send").click()
        asked = page.locator('[data-testid="message"][data-speaker="bot"]',
                             has_text=responses_texts("utter_ask_order_number")[0][:20])
        expect(asked.last).to_be_visible(timeout=30_000)
        open_shop(page, stack.url, token("ann-1"))  # ann reloads: her chat is still there
        expect(page.locator('[data-testid="message"]', has_text="where is my order")).to_have_count(1)

        for shopper in (token("bob-2"), None):  # then bob on the same browser; then nobody signed in
            open_shop(page, stack.url, shopper)
            page.wait_for_timeout(3000)  # session confirmed, history (if any) asked for and shown
            expect(page.locator('[data-testid="message"]', has_text="where is my order")).to_have_count(0)
            stored = page.evaluate("() => Object.keys(localStorage).concat(Object.keys(sessionStorage))")
            assert len([k for k in stored if k.startswith("brightcart_chat_session")]) == 1, stored
            page.get_by_test_id("chat-input").fill("hi")
            page.get_by_test_id("chat-send").click()
            expect(page.locator('[data-testid="message"][data-speaker="bot"]').last).to_be_visible(timeout=30_000)
            expect(page.locator('[data-testid="message"]', has_text="where is my order")).to_have_count(0)
        # No CSP violation. (A page fulfilled by the test has no address space of its own, so Chromium's local
        # network checks block its WebSocket to 127.0.0.1 and it long-polls: not so for the real page.)
        assert not [e for e in errors if "Content Security Policy" in e or "Refused to" in e], errors
    finally:
        context.close()
