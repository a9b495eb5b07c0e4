"""The customer chat page: a sample shop page ("Brightcart") with the chat widget, served by the Rasa server.

A tiny input channel (credentials.yml: ``bot.channels.webpage.ChatPage: {}``) whose blueprint Rasa mounts
at ``/chat`` (``url_prefix``; ``rasa.core.channels.channel.register`` joins it to ``/webhooks/``, and an
absolute prefix wins). It receives no messages: the widget talks to the socket.io channel on the same
origin. It serves the files of ``bot/web/`` and nothing else:

- the files are read once, when the server starts, into memory (with a gzip copy and an ETag), so a
  request is a dictionary look-up: a path that is not one of those files (``..``, an absolute path, a
  hidden file, a file type not listed in ``CONTENT_TYPES``) is 404, never a file read;
- every response carries a strict Content-Security-Policy (no inline script or style, no eval; scripts,
  styles and images from this origin only; connections (``connect-src``) to this origin, WebSockets to it
  included ('self' covers ws:/wss: of the same host in CSP 3), plus the origins listed in
  CHAT_ALLOWED_ORIGINS with their ws:/wss: twins; ``*`` there adds nothing), ``X-Content-Type-Options:
  nosniff`` and ``Referrer-Policy: no-referrer``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
PREFIX = "/chat"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",  # the widget's wording (i18n/widget.<lang>.json)
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
ORIGINS_ENV = "CHAT_ALLOWED_ORIGINS"  # the socket.io channel's setting: other origins it talks to
_ORIGIN = re.compile(r"^(https?)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src {connect}; frame-ancestors 'self'; base-uri 'none'; object-src 'none'")


def content_security_policy(extra_origins: str = "") -> str:
    """The page's policy; ``extra_origins`` (CHAT_ALLOWED_ORIGINS: comma-separated "https://host[:port]") may
    also be connected to, over HTTP and WebSockets. Anything else listed ("*", paths, other schemes) is ignored."""
    connect = ["'self'"]
    for raw in (extra_origins or "").split(","):
        match = _ORIGIN.match(raw.strip().rstrip("/"))
        if match:
            origin = match.group(0)
            socket = ("wss" if match.group(1) == "https" else "ws") + origin[len(match.group(1)):]
            connect += [o for o in (origin, socket) if o not in connect]
    return _CSP.format(connect=" ".join(connect))


CSP = content_security_policy()
"""The policy without CHAT_ALLOWED_ORIGINS."""


def security_headers(csp: str = CSP) -> Dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


SECURITY_HEADERS = security_headers()
COMPRESSIBLE = (".html", ".js", ".css", ".json", ".svg", ".txt")


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: Optional[bytes]
    content_type: str
    etag: str


def load_assets(root: Path = WEB_ROOT) -> Dict[str, Asset]:
    """Every servable file under `root`, by its path relative to it ("index.html", "vendor/x.js")."""
    assets: Dict[str, Asset] = {}
    root = root.resolve()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or path.is_symlink() or any(part.startswith(".") for part in relative.parts):
            continue
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            continue
        body = path.read_bytes()
        packed = gzip.compress(body, 9, mtime=0) if path.suffix.lower() in COMPRESSIBLE else None
        assets[relative.as_posix()] = Asset(body, packed if packed and len(packed) < len(body) else None,
                                            content_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return assets


def not_found(secure: Optional[Dict[str, str]] = None) -> HTTPResponse:
    return response.text("not found", status=404, headers=dict(secure or SECURITY_HEADERS))


def serve(request: Request, asset: Optional[Asset], secure: Optional[Dict[str, str]] = None) -> HTTPResponse:
    secure = secure or SECURITY_HEADERS
    if asset is None:
        return not_found(secure)
    headers = {**secure, "ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if asset.etag in (request.headers.get("if-none-match") or ""):
        return HTTPResponse(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in (request.headers.get("accept-encoding") or ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return HTTPResponse(status=200, headers=headers, content_type=asset.content_type)
    return HTTPResponse(body, status=200, headers=headers, content_type=asset.content_type)


class ChatPage(InputChannel):
    """Serves the chat page at /chat/ and its files at /chat/<file>; takes no messages itself."""

    def __init__(self, root: Optional[Path] = None, extra_origins: Optional[str] = None) -> None:
        self.root = root or WEB_ROOT
        self.secure = security_headers(content_security_policy(
            os.environ.get(ORIGINS_ENV, "") if extra_origins is None else extra_origins))

    @classmethod
    def name(cls) -> Text:
        return "chatpage"

    def url_prefix(self) -> Text:
        return PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        assets = load_assets(self.root)
        prefix = self.url_prefix()
        page = Blueprint(f"{self.name()}_files", __name__)

        @page.route("", methods=["GET", "HEAD"], strict_slashes=True)
        async def bare(_: Request) -> HTTPResponse:  # /chat -> /chat/, so the page's relative links work
            return response.redirect(prefix + "/", status=308, headers=dict(self.secure))

        @page.route("/", methods=["GET", "HEAD"], strict_slashes=True)
        async def index(request: Request) -> HTTPResponse:
            return serve(request, assets.get("index.html"), self.secure)

        @page.route("/<path:path>", methods=["GET", "HEAD"])
        async def file(request: Request, path: str) -> HTTPResponse:
            return serve(request, assets.get(path), self.secure)

        return page
