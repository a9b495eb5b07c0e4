"""The web chat keeps a customer's message until the server acknowledges it, sends it again after a reconnect
(same client id: the server stores it once) and shows it once: the real widget (bot/web/widget.js) in Chromium,
fed socket.io events and acknowledgements by a stand-in socket (the transport only). The real server's side is
tests/integration/test_inbound.py."""
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
    connected: false, emitted: [], acks: [],
    on: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
    emit: function (name, data, ack) { socket.emitted.push([name, data]); socket.acks.push(ack || null); },
    connect: function () {},
    fire: function (name, data) {
      if (name === "connect") socket.connected = true;
      if (name === "disconnect") socket.connected = false;
      (handlers[name] || []).forEach(function (fn) { fn(data); });
    },
    ack: function (index, data) { socket.acks[index](data); }
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
    watched = open_page("widget-resend")
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


def type_message(page: Page, text: str) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-input").press("Enter")


def uttered(page: Page) -> List[Dict[str, Any]]:
    """What the widget emitted as `user_uttered`, with the index of each emission (for its ack)."""
    return page.evaluate("""() => window.testSocket.emitted.map((e, i) => [i, e])
        .filter(x => x[1][0] === 'user_uttered').map(x => Object.assign({index: x[0]}, x[1][1]))""")


def ack(page: Page, index: int, data: Any) -> None:
    page.evaluate(f"window.testSocket.ack({index}, {json.dumps(data)})")


def shown(page: Page) -> List[List[Any]]:
    return page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="message"]'))
        .map(n => [n.dataset.speaker, n.textContent, n.dataset.pending === 'true'])""")


def test_an_unacknowledged_message_is_sent_again_after_a_reconnect_and_shown_once(page: Page) -> None:
    type_message(page, "where is my parcel?")
    first = uttered(page)
    assert len(first) == 1 and first[0]["message"] == "where is my parcel?" and first[0]["message_id"]
    assert shown(page) == [["customer", "where is my parcel?", True]]  # "sending…" until acknowledged
    assert page.get_by_test_id("message-status").count() == 1

    fire(page, "disconnect", "transport close")  # the server died before it acknowledged
    fire(page, "connect")
    fire(page, "session_confirm", HANDLE)
    again = uttered(page)
    assert len(again) == 2 and again[1]["message_id"] == first[0]["message_id"]
    assert again[1]["message"] == "where is my parcel?"

    ack(page, again[1]["index"], {"status": "stored", "message_id": first[0]["message_id"]})
    assert shown(page) == [["customer", "where is my parcel?", False]]
    assert page.get_by_test_id("message-status").count() == 0
    fire(page, "disconnect", "transport close")
    fire(page, "connect")
    fire(page, "session_confirm", HANDLE)
    page.wait_for_function("window.testSocket.emitted.some(e => e[0] === 'history_request')")
    fire(page, "history", {"total": 1, "lines": [{"speaker": "customer", "text": "where is my parcel?",
                                                  "message_id": first[0]["message_id"]}]})
    assert len(uttered(page)) == 2  # acknowledged: never sent again
    assert shown(page) == [["customer", "where is my parcel?", False]]


def test_messages_go_one_at_a_time_in_order_each_after_the_previous_is_acknowledged(page: Page) -> None:
    for text in ("one", "two", "three"):
        type_message(page, text)
    assert [m["message"] for m in uttered(page)] == ["one"]
    ack(page, uttered(page)[0]["index"], {"status": "failed"})  # e.g. the server's Redis is down
    page.wait_for_function("window.testSocket.emitted.filter(e => e[0] === 'user_uttered').length === 2", timeout=5000)
    assert [m["message"] for m in uttered(page)] == ["one", "one"]
    for expected in ("one", "two", "three"):
        last = uttered(page)[-1]
        assert last["message"] == expected
        ack(page, last["index"], {"status": "stored", "message_id": last["message_id"]})
    assert [m["message"] for m in uttered(page)] == ["one", "one", "two", "three"]
    assert shown(page) == [["customer", t, False] for t in ("one", "two", "three")]


def test_a_message_the_server_stored_but_never_acknowledged_comes_back_in_the_history_once(page: Page) -> None:
    fire(page, "bot_uttered", {"text": "Hi! How can I help?"})
    type_message(page, "where is my parcel?")
    mid = uttered(page)[0]["message_id"]
    fire(page, "disconnect", "transport close")  # stored, then the server died before the ack
    fire(page, "connect")
    fire(page, "session_confirm", HANDLE)
    page.wait_for_function("window.testSocket.emitted.some(e => e[0] === 'history_request')")
    fire(page, "history", {"total": 3, "lines": [
        {"speaker": "bot", "text": "Hi! How can I help?"},
        {"speaker": "customer", "text": "where is my parcel?", "message_id": mid},
        {"speaker": "bot", "text": "What's your order number?"}]})
    assert len(uttered(page)) == 1  # it is in the conversation: not sent again
    assert shown(page) == [["bot", "Hi! How can I help?", False], ["customer", "where is my parcel?", False],
                           ["bot", "What's your order number?", False]]
