"""The customer chat page: a sample shop page ("Brightcart") with the chat widget, served by the Rasa server.

A tiny input channel (credentials.yml: ``bot.channels.webpage.ChatPage: {}``) whose blueprint Rasa mounts
at ``/chat`` (``url_prefix``; ``rasa.core.channels.channel.register`` joins it to ``/webhooks/``, and an
absolute prefix wins). It receives no messages: the widget talks to the socket.io channel on the same
origin. It serves the files of ``bot/web/`` and nothing else:

- the files are read once, when the server starts, into memory (with a gzip copy and an ETag), so a
  request is a dictionary look-up: a path that is not one of those files (``..``, an absolute path, a
  hidden file, a file type not listed in ``CONTENT_TYPES``) is 404, never a file read;
- every response carries a strict Content-Security-Policy (no inline script or style, no eval; only
  this origin, plus WebSocket connections), ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``.
"""
from __future__ import annotations

import gzip
import hashlib
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
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".txt")


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


def not_found() -> HTTPResponse:
    return response.text("not found", status=404, headers=dict(SECURITY_HEADERS))


def serve(request: Request, asset: Optional[Asset]) -> HTTPResponse:
    if asset is None:
        return not_found()
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
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

    def __init__(self, root: Optional[Path] = None) -> None:
        self.root = root or WEB_ROOT

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
            return response.redirect(prefix + "/", status=308, headers=dict(SECURITY_HEADERS))

        @page.route("/", methods=["GET", "HEAD"], strict_slashes=True)
        async def index(request: Request) -> HTTPResponse:
            return serve(request, assets.get("index.html"))

        @page.route("/<path:path>", methods=["GET", "HEAD"])
        async def file(request: Request, path: str) -> HTTPResponse:
            return serve(request, assets.get(path))

        return page
