"""The web chat shows a message once, however often it arrives: the real widget (bot/web/widget.js) in Chromium,
fed socket.io events by a stand-in socket (the transport only: what is asserted is what the widget shows).
The whole stack, with a real socket, is in test_pages.py."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest
from playwright.sync_api import Page, Route

from tests.conftest import ROOT

ORIGIN = "http://chat.test"
PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<script>
window.io = function () {
  var handlers = {};
  var socket = {
    connected: false, emitted: [],
    on: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
    emit: function (name, data) { socket.emitted.push([name, data]); },
    connect: function () {},
    fire: function (name, data) {
      if (name === "connect") socket.connected = true;
      if (name === "disconnect") socket.connected = false;
      (handlers[name] || []).forEach(function (fn) { fn(data); });
    }
  };
  window.testSocket = socket;
  return socket;
};
</script>
<script src="/widget.js"></script>
</body></html>"""
HANDLE = "conv-1.abcdefghijklmnopqrstuv"


@pytest.fixture
def page(open_page: Any) -> Page:
    watched = open_page("widget-dedupe")
    widget = (ROOT / "bot" / "web" / "widget.js").read_text()

    def serve(route: Route) -> None:
        if route.request.url.endswith("/widget.js"):
            route.fulfill(status=200, content_type="application/javascript", body=widget)
        elif "/i18n/" in route.request.url:  # the widget's wording, next to it (bot/web/i18n/)
            catalog = ROOT / "bot" / "web" / "i18n" / route.request.url.rsplit("/", 1)[1]
            route.fulfill(status=200, content_type="application/json", body=catalog.read_text(encoding="utf-8"))
        else:
            route.fulfill(status=200, content_type="text/html", body=PAGE)

    watched.page.route(f"{ORIGIN}/**", serve)
    watched.page.goto(f"{ORIGIN}/")
    watched.page.wait_for_function("!!window.testSocket")  # the widget starts once its wording is in
    fire(watched.page, "connect")
    fire(watched.page, "session_confirm", HANDLE)
    yield watched.page
    assert watched.errors == []


def fire(page: Page, name: str, data: Any = None) -> None:
    page.evaluate(f"window.testSocket.fire({json.dumps(name)}, {json.dumps(data)})")


def agent(text: str, message_id: str) -> Dict[str, Any]:
    return {"text": text, "agent": "ann", "agent_name": "Ann Baker", "message_id": message_id}


def shown(page: Page) -> List[List[str]]:
    return page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="message"]'))
        .map(n => [n.dataset.speaker, n.textContent])""")


def test_a_message_pushed_twice_is_shown_once(page: Page) -> None:
    fire(page, "bot_uttered", agent("Hi, Ann here.", "1-0/1"))
    fire(page, "bot_uttered", agent("Hi, Ann here.", "1-0/1"))  # the bridge tried again
    fire(page, "bot_uttered", agent("Your refund is on its way.", "2-0/1"))
    fire(page, "bot_uttered", {"text": "Hi, Ann here."})  # no id (not from the bridge): always shown
    assert shown(page) == [["agent", "Hi, Ann here."], ["agent", "Your refund is on its way."],
                           ["bot", "Hi, Ann here."]]


def test_a_message_replayed_by_the_history_after_a_reconnect_is_shown_once(page: Page) -> None:
    """The customer also has a second tab, where they wrote "Thanks!": this tab never saw that line, so the
    server's count is one ahead and the history's last line, shown here already, comes back."""
    fire(page, "bot_uttered", agent("Hi, Ann here.", "1-0/1"))
    fire(page, "bot_uttered", agent("Anything else?", "3-0/1"))
    fire(page, "disconnect", "transport close")
    fire(page, "connect")
    fire(page, "session_confirm", HANDLE)
    page.wait_for_function("window.testSocket.emitted.some(e => e[0] === 'history_request')")
    fire(page, "history", {"total": 3, "lines": [
        {"speaker": "agent", "text": "Hi, Ann here.", "agent_name": "Ann Baker", "message_id": "1-0/1"},
        {"speaker": "customer", "text": "Thanks!"},
        {"speaker": "agent", "text": "Anything else?", "agent_name": "Ann Baker", "message_id": "3-0/1"}]})
    fire(page, "bot_uttered", agent("Have a nice day.", "4-0/1"))
    assert shown(page) == [["agent", "Hi, Ann here."], ["agent", "Anything else?"], ["agent", "Have a nice day."]]
