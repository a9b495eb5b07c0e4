"""The pages the service serves and their safety, and the API the pages lean on, against a real process:
redirects, content types, the Content-Security-Policy and friends on HTML, caching, no path traversal,
no inline script or style and no HTML sinks in the pages' code; the WebSocket's origin check; notes
reaching the agent as `note` events, never `message` ones; the day's numbers over real Redis
HyperLogLogs."""
from __future__ import annotations

import asyncio
import http.client
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import redis as redis_lib
import requests
import websockets

from handoff.web.pages import CSP, WEB_DIR
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer, small_team_service
from tests.handoff.requests import handoff_request

BOT = bearer(BOT_TOKEN)
ALLOWED = "https://console.example.com"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis and one service that also lets pages of https://console.example.com open the WebSocket."""
    with small_team_service(tmp_path_factory.mktemp("web"), HANDOFF_ALLOWED_ORIGINS=ALLOWED) as cluster:
        yield cluster


def raw_get(url: str, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    """GET with the path sent exactly as given (requests would normalise dot segments)."""
    host, port = url.rsplit("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# -- pages ---------------------------------------------------------------------------------------
def test_the_root_goes_to_the_console_and_pages_want_their_slash(web: Cluster) -> None:
    url = web.urls[0]
    status, headers, _ = raw_get(url, "/")
    assert (status, headers["location"]) == (302, "/console/")
    for page in ("console", "dashboard"):
        status, headers, _ = raw_get(url, f"/{page}")
        assert (status, headers["location"]) == (301, f"/{page}/")


@pytest.mark.parametrize("path", ["/console/", "/dashboard/"])
def test_html_pages_carry_a_strict_csp_and_the_security_headers(web: Cluster, path: str) -> None:
    if path == "/dashboard/" and not (WEB_DIR / "dashboard.html").exists():
        pytest.skip("the dashboard page is not written yet")
    status, headers, body = raw_get(web.urls[0], path)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == CSP
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                      "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in headers["content-security-policy"]
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-cache"
    assert b'<div id="login"' in body


@pytest.mark.parametrize("name,content_type", [("common.js", "text/javascript; charset=utf-8"),
                                               ("console.js", "text/javascript; charset=utf-8"),
                                               ("style.css", "text/css; charset=utf-8")])
def test_assets_have_their_content_type_and_revalidate(web: Cluster, name: str, content_type: str) -> None:
    status, headers, body = raw_get(web.urls[0], f"/web/{name}")
    assert status == 200 and headers["content-type"] == content_type
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-cache"
    assert body == (WEB_DIR / name).read_bytes()
    again, cached, empty = raw_get(web.urls[0], f"/web/{name}", {"If-None-Match": headers["etag"]})
    assert (again, empty, cached["etag"]) == (304, b"", headers["etag"])


def test_vendored_files_may_be_cached_for_a_day(web: Cluster) -> None:
    vendored = sorted(p for p in (WEB_DIR / "vendor").glob("*.js")) if (WEB_DIR / "vendor").exists() else []
    if not vendored:
        pytest.skip("nothing vendored")
    status, headers, _ = raw_get(web.urls[0], f"/web/vendor/{vendored[0].name}")
    assert status == 200 and headers["cache-control"] == "public, max-age=86400"


@pytest.mark.parametrize("path", [
    "/web/../app.py", "/web/../../README.md", "/web/%2e%2e/app.py", "/web/%2E%2E%2Fapp.py", "/web/..%2fsettings.py",
    "/web/vendor/../../app.py", "/web/vendor/%2e%2e/%2e%2e/app.py", "/web//etc/passwd", "/web/%2fetc%2fpasswd",
    "/web/..%5capp.py", "/web/.gitignore", "/web/common.js%00.css", "/web/", "/web/nothing.js",
    "/web/vendor/README.md", "/web/../openapi.yml", "/console/../app.py",
    "/web/pages.py", "/web/__init__.py", "/web/__pycache__/pages.cpython-310.pyc",  # the server's own code beside the pages
])
def test_nothing_outside_the_web_folder_is_served(web: Cluster, path: str) -> None:
    status, headers, body = raw_get(web.urls[0], path)
    assert status == 404, (path, status, body[:200])
    assert b"import" not in body and b"root:" not in body


def test_resolve_refuses_symlinks_out_of_the_folder(tmp_path: Path) -> None:
    from handoff.web.pages import resolve
    root = tmp_path / "web"
    root.mkdir()
    (root / "ok.js").write_text("1")
    (tmp_path / "secret.js").write_text("secret")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    assert resolve(root, "ok.js") == (root / "ok.js").resolve()
    assert resolve(root, "link.js") is None
    assert resolve(root, "../secret.js") is None and resolve(root, "/etc/passwd") is None


def page_files() -> List[Path]:
    return sorted(p for p in WEB_DIR.glob("*") if p.suffix in (".html", ".js", ".css"))


@pytest.mark.parametrize("path", page_files(), ids=lambda p: p.name)
def test_pages_have_no_inline_script_or_style_and_never_parse_text_as_html(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        for script in re.findall(r"<script\b[^>]*>", text, flags=re.I):
            assert "src=" in script, f"inline script in {path.name}: {script}"
        assert not re.search(r"<style\b", text, flags=re.I), f"inline <style> in {path.name}"
        assert not re.search(r"\sstyle\s*=", text, flags=re.I), f"style attribute in {path.name}"
        assert not re.search(r"\son[a-z]+\s*=", text, flags=re.I), f"inline event handler in {path.name}"
        assert not re.search(r"javascript:", text, flags=re.I)
    if path.suffix == ".js":
        for sink in (r"\.innerHTML\b", r"\.outerHTML\b", r"insertAdjacentHTML", r"document\.write", r"\beval\(",
                     r"new Function\(", r"createContextualFragment", r"DOMParser"):
            assert not re.search(sink, text), f"{path.name} uses {sink}"


# -- the WebSocket's origin check --------------------------------------------------------------------
async def open_stream(url: str, origin: Optional[str], token: Optional[str]) -> Tuple[Dict[str, Any], Optional[int]]:
    """The first message and the close code (None: still open)."""
    ws_url = url.replace("http", "ws") + "/v1/agents/me/stream"
    async with websockets.connect(ws_url, origin=origin) as ws:
        if token is not None:
            try:
                await ws.send(json.dumps({"token": token}))
            except websockets.ConnectionClosed:
                pass  # closed already (a refused origin): its error message is still to be read
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        try:
            await asyncio.wait_for(ws.recv(), 1)
        except websockets.ConnectionClosed as closed:
            return first, closed.code
        except asyncio.TimeoutError:
            return first, None
        return first, None


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1.evil.example", "null",
                                    "https://console.example.com.evil.example", "http://localhost"])
def test_a_foreign_origin_is_closed_with_4403_before_the_token_is_read(web: Cluster, origin: str) -> None:
    first, code = asyncio.run(open_stream(web.urls[0], origin, None))  # no token sent at all
    assert code == 4403 and first["type"] == "error" and "origin" in first["error"]["message"]
    first, code = asyncio.run(open_stream(web.urls[0], origin, web.login("ann")))
    assert code == 4403 and first["type"] == "error"


def test_the_services_own_origin_a_listed_one_and_no_origin_are_let_in(web: Cluster) -> None:
    url = web.urls[0]
    token = web.login("ann")
    for origin in (url, url.upper().replace("HTTP://", "http://"), ALLOWED, None):
        first, code = asyncio.run(open_stream(url, origin, token))
        assert (first["type"], first["agent"]["id"], code) == ("snapshot", "ann", None), origin
    first, code = asyncio.run(open_stream(url, url, "not-a-token"))
    assert code == 4401  # the right origin still needs a valid token


def test_behind_a_proxy_the_forwarded_origin_counts(web: Cluster) -> None:
    async def through_proxy() -> Tuple[Dict[str, Any], Optional[int]]:
        ws_url = web.urls[0].replace("http", "ws") + "/v1/agents/me/stream"
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "support.shop.example"}
        async with websockets.connect(ws_url, origin="https://support.shop.example", extra_headers=headers) as ws:
            await ws.send(json.dumps({"token": web.login("ann")}))
            return json.loads(await asyncio.wait_for(ws.recv(), 5)), None
    assert asyncio.run(through_proxy())[0]["type"] == "snapshot"


# -- notes reach the agent as notes, never as messages -------------------------------------------------
def test_a_note_is_a_note_event_to_the_agent_and_never_a_message(web: Cluster) -> None:
    url = web.urls[0]
    ann, sue = bearer(web.login("ann")), bearer(web.login("sue"))
    assert requests.put(f"{url}/v1/agents/me/status", json={"status": "online"}, headers=ann).status_code == 200
    eid = requests.post(f"{url}/v1/handoffs", json=handoff_request(f"note-{uuid.uuid4().hex[:6]}"),
                        headers=BOT).json()["id"]
    assert requests.post(f"{url}/v1/handoffs/{eid}/accept", headers=ann).status_code == 200
    hostile = "<img src=x onerror=alert(1)> refund promised"

    async def scenario() -> List[Dict[str, Any]]:
        ws_url = url.replace("http", "ws") + "/v1/agents/me/stream"
        async with websockets.connect(ws_url, extra_headers=ann) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            loop = asyncio.get_running_loop()
            for call in (lambda: requests.post(f"{url}/v1/handoffs/{eid}/notes", json={"text": hostile}, headers=ann),
                         lambda: requests.post(f"{url}/v1/handoffs/{eid}/notes", json={"text": "sue: VIP"}, headers=sue),
                         lambda: requests.post(f"{url}/v1/handoffs/{eid}/messages", json={"text": "hi?"}, headers=BOT)):
                assert (await loop.run_in_executor(None, call)).status_code == 201
            events = []
            while len([e for e in events if e.get("escalation") == eid]) < 3:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            return [e for e in events if e.get("escalation") == eid]

    events = asyncio.run(scenario())
    assert [e["type"] for e in events] == ["note", "note", "message"]
    assert events[0]["note"]["text"] == hostile and events[0]["note"]["author"] == "ann"
    assert events[2]["message"] == {**events[2]["message"], "speaker": "customer", "text": "hi?"}
    r = redis_lib.Redis.from_url(web.redis_url, decode_responses=True)
    stream = [json.loads(fields["e"]) for _id, fields in r.xrange("{ho}:events")]
    for event in stream:
        if event["type"] == "message":
            assert event["message"]["text"] not in (hostile, "sue: VIP")
    record = requests.get(f"{url}/v1/handoffs/{eid}", headers=ann).json()
    assert [m["text"] for m in record["messages"]] == ["hi?"]
    assert [(n["author"], n["text"]) for n in record["notes"]] == [("ann", hostile), ("sue", "sue: VIP")]


# -- the day's numbers over the bot's HyperLogLogs ----------------------------------------------------
def test_the_handoff_rate_divides_by_the_bots_conversations_of_today_and_yesterday(web: Cluster) -> None:
    url = web.urls[0]
    sue = bearer(web.login("sue"))
    before = requests.get(f"{url}/v1/stats/today", headers=sue).json()
    assert before["conversations"] == 0 and before["handoff_rate"] is None
    r = redis_lib.Redis.from_url(web.redis_url, decode_responses=True)
    today = datetime.now(timezone.utc).date()
    r.pfadd(f"{{shop}}:stats:conversations:{today.isoformat()}", *[f"c{i}" for i in range(30)])
    r.pfadd(f"{{shop}}:stats:conversations:{(today - timedelta(days=1)).isoformat()}", *[f"c{i}" for i in range(20, 40)])
    r.pfadd(f"{{shop}}:stats:conversations:{(today - timedelta(days=2)).isoformat()}", *[f"old{i}" for i in range(50)])
    day = requests.get(f"{url}/v1/stats/today", headers=sue).json()
    assert day["conversations"] == 40  # c0..c39 once each; the day before yesterday not counted
    assert day["handoff_rate"] == round(day["handoffs"] / 40, 4) and day["handoffs"] >= 1
    assert sum(h["handoffs"] for h in day["hourly"]) == day["handoffs"]
    assert day["top_reasons"][0] == {"name": "explicit_request", "count": day["handoffs"]}
