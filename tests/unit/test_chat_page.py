"""The customer chat page channel (bot/channels/webpage.py), mounted by Rasa's own `register` on a real Sanic
server."""
from __future__ import annotations

import asyncio
import gzip
import http.client
import re
import threading
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.channels.webpage import CSP, WEB_ROOT, ChatPage, content_security_policy, load_assets
from tests.conftest import ROOT, free_port

EXPECTED_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'")


class Server:
    """A Sanic app with the given input channels registered as `rasa run` does, on a free port."""

    def __init__(self, *channels) -> None:
        self.port = free_port()
        self.app = Sanic(f"chat_page_test_{self.port}")
        register(list(channels), self.app, route="/webhooks/")
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(self.app.create_server(
                host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False))
            self.loop.run_until_complete(server.startup())
            self.server = server
            started.set()
            self.loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert started.wait(30), "the test server did not start"

    def request(self, path: str, method: str = "GET", headers: Optional[Dict[str, str]] = None
                ) -> Tuple[int, Dict[str, str], bytes]:
        """One request with the path sent exactly as given (http.client does not normalise `..`)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        result = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        conn.close()
        return result

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


class OtherPage(ChatPage):
    """The same channel over another folder (one Sanic app per process: Sanic's touch-up runs once)."""

    @classmethod
    def name(cls) -> str:
        return "otherpage"

    def url_prefix(self) -> str:
        return "/other"


def other_root(root: Path) -> Path:
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    (root / "secret.py").write_text("KEY = 1")
    (root / "notes.yml").write_text("a: 1")
    (root / ".env.js").write_text("var key = 1")
    (root / ".git").mkdir()
    (root / ".git" / "config.txt").write_text("x")
    outside = root.parent / f"{root.name}-outside.js"
    outside.write_text("var outside = 1")
    (root / "link.js").symlink_to(outside)
    return root


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return other_root(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def server(other: Path) -> Iterator[Server]:
    s = Server(ChatPage(), OtherPage(other))
    yield s
    s.stop()


def assert_secure(headers: Dict[str, str]) -> None:
    assert headers["content-security-policy"] == EXPECTED_CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_policy_is_the_one_documented():
    assert CSP == EXPECTED_CSP


@pytest.mark.parametrize("listed, connect", [
    ("", "'self'"),
    ("*", "'self'"),
    ("https://shop.example, http://localhost:8080/ ,", "'self' https://shop.example wss://shop.example "
                                                       "http://localhost:8080 ws://localhost:8080"),
    ("https://shop.example/path, javascript:alert(1), https://a.example; script-src *", "'self'"),
])
def test_connections_are_limited_to_the_own_origin_and_the_listed_ones(listed, connect):
    assert content_security_policy(listed) == EXPECTED_CSP.replace("connect-src 'self';", f"connect-src {connect};")


def test_the_page_takes_the_listed_origins_from_chat_allowed_origins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHAT_ALLOWED_ORIGINS", "https://shop.example")
    policy = ChatPage().secure["Content-Security-Policy"]
    assert "connect-src 'self' https://shop.example wss://shop.example;" in policy
    assert ChatPage(extra_origins="").secure["Content-Security-Policy"] == EXPECTED_CSP


def test_the_page_is_served_at_chat_with_its_security_headers(server: Server):
    status, headers, body = server.request("/chat/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert_secure(headers)
    assert body == (WEB_ROOT / "index.html").read_bytes()
    assert b'src="widget.js"' in body and b'src="vendor/socket.io.min.js"' in body


def test_chat_without_the_slash_redirects_to_the_page(server: Server):
    status, headers, _ = server.request("/chat")
    assert status == 308 and headers["location"] == "/chat/"


@pytest.mark.parametrize("path, content_type", [
    ("widget.js", "text/javascript; charset=utf-8"),
    ("chat.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("vendor/socket.io.min.js", "text/javascript; charset=utf-8"),
    ("vendor/socket.io-client-LICENSE.txt", "text/plain; charset=utf-8"),
])
def test_each_file_is_served_with_its_content_type(server: Server, path: str, content_type: str):
    status, headers, body = server.request(f"/chat/{path}")
    assert status == 200, path
    assert headers["content-type"] == content_type
    assert_secure(headers)
    assert body == (WEB_ROOT / path).read_bytes()


def test_compressed_when_the_browser_accepts_it_and_revalidated_by_etag(server: Server):
    plain = (WEB_ROOT / "vendor" / "socket.io.min.js").read_bytes()
    status, headers, body = server.request("/chat/vendor/socket.io.min.js", headers={"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["content-encoding"] == "gzip" and gzip.decompress(body) == plain
    assert len(body) < len(plain) / 2
    status, again, body = server.request("/chat/vendor/socket.io.min.js", headers={"If-None-Match": headers["etag"]})
    assert status == 304 and body == b"" and again["etag"] == headers["etag"]
    status, headers, body = server.request("/chat/widget.js", method="HEAD")
    assert status == 200 and body == b"" and headers["content-type"] == "text/javascript; charset=utf-8"


@pytest.mark.parametrize("path", [
    "/chat/nope.js",
    "/chat/index.htm",
    "/chat/../credentials.yml",
    "/chat/..%2fcredentials.yml",
    "/chat/%2e%2e/%2e%2e/credentials.yml",
    "/chat/vendor/../../channels/webpage.py",
    "/chat/vendor/..%2f..%2fchannels%2fwebpage.py",
    "/chat//etc/passwd",
    "/chat/%2fetc%2fpasswd",
    "/chat/..\\..\\credentials.yml",
    "/chat/vendor/",
    "/chat/vendor",
    "/chat/widget.js%00.html",
    "/chat/WIDGET.JS",
])
def test_traversal_and_unknown_paths_are_404(server: Server, path: str):
    status, headers, body = server.request(path)
    assert status == 404, (path, status)
    assert_secure(headers)
    assert b"credentials" not in body and b"import" not in body


def test_only_get_and_head(server: Server):
    status, _, _ = server.request("/chat/", method="POST")
    assert status == 405


def test_only_listed_file_types_under_the_root_are_served(server: Server, other: Path):
    assert sorted(load_assets(other)) == ["index.html"]
    for path in ("secret.py", "notes.yml", ".env.js", ".git/config.txt", "link.js"):
        assert server.request(f"/other/{path}")[0] == 404, path
    assert server.request("/other/")[0] == 200
    assert server.request("/other")[1]["location"] == "/other/"


def test_the_page_has_no_inline_script_or_style_and_sets_text_only():
    """What the CSP forbids is not in the files (the browser tests see no violation), and the widget never
    parses text as HTML."""
    html = (WEB_ROOT / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert "<style" not in html and not re.search(r"\sstyle\s*=", html), "inline style"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    widget = (WEB_ROOT / "widget.js").read_text()
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                      ".style.", "setAttribute(\"style\""):
        assert forbidden not in widget, forbidden
    vendor = (WEB_ROOT / "vendor" / "socket.io.min.js").read_text()
    assert vendor.startswith("/*!\n * Socket.IO v4.8.1")
    assert (WEB_ROOT / "vendor" / "socket.io-client-LICENSE.txt").read_text().startswith("The MIT License")


def test_credentials_register_the_page():
    import yaml

    assert "bot.channels.webpage.ChatPage" in yaml.safe_load((ROOT / "credentials.yml").read_text())
    assert ChatPage().url_prefix() == "/chat"
