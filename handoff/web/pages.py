"""The web pages the service serves itself: the agent console and the supervisor dashboard.

Plain files from ``handoff/web/`` (no build step): ``/console/`` and ``/dashboard/`` are the two
pages, ``/web/<file>`` their scripts, styles and vendored files. Why from the service itself: the
pages, the API and the WebSocket share one origin, so the Content-Security-Policy can say ``'self'``
everywhere, the API needs no CORS, and the WebSocket's origin check accepts the service's own origin.

Safety:
- every HTML response carries a strict Content-Security-Policy (scripts, styles and connections only
  from this origin; no inline script or style, no eval, no framing, no plugins) and the usual
  ``nosniff`` / ``no-referrer`` / ``DENY`` headers; the pages never put text into HTML as markup
  (handoff/web/common.js builds nodes and sets ``textContent`` only), so a customer's
  ``<img src=x onerror=...>`` is shown as text and, were it ever parsed, could not run;
- a file is served only when its resolved path is inside ``handoff/web/``, is a regular file, has a
  known type and no part of its name starts with a dot: ``..``, encoded or not, symlinks out of the
  folder and hidden files are 404;
- assets are revalidated (``Cache-Control: no-cache`` with an ETag) so a deploy shows at once; files
  under ``vendor/`` (third-party, changed only with a new name or a deploy) may be cached for a day.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Dict, Optional
from urllib.parse import unquote

import yaml
from sanic import Request, Sanic
from sanic.response import HTTPResponse, redirect
from sanic.response import json as json_response

WEB_DIR = Path(__file__).resolve().parent

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
HTML_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
    ".ico": "image/x-icon", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}
PAGES = {"console": "console.html", "dashboard": "dashboard.html"}


def resolve(root: Path, name: str) -> Optional[Path]:
    """The file ``name`` (a URL path below /web/, already percent-decoded) inside ``root``, or None."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if any(part.startswith(".") for part in parts):  # "..", "." and hidden files
        return None
    base = root.resolve()
    try:
        path = (base / name).resolve()
        path.relative_to(base)  # a symlink pointing out of the folder resolves outside it
    except (ValueError, OSError, RuntimeError):
        return None
    if path.suffix.lower() not in TYPES or not path.is_file():
        return None
    return path


def file_response(request: Request, path: Path, cache_control: str = "no-cache") -> HTTPResponse:
    """The file with its type, security headers, Cache-Control and an ETag (304 when it matches)."""
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    content_type = TYPES[path.suffix.lower()]
    headers: Dict[str, str] = {**(HTML_HEADERS if content_type.startswith("text/html") else ASSET_HEADERS),
                               "Cache-Control": cache_control, "ETag": etag}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(path.read_bytes(), headers=headers, content_type=content_type)


def page_config(skill_groups_file: Optional[Path]) -> Dict[str, str]:
    """What the pages need from the policy: ``timezone``, the default business calendar's (policy/skill_groups.yml
    ``business_hours.default.timezone``; UTC without one, as common/business_hours.py does). Why served: the
    pages show times in the shop's zone, not the browser's (an agent abroad reads the shop's hours)."""
    zone = "UTC"
    try:
        document = yaml.safe_load(Path(skill_groups_file or WEB_DIR.parent.parent / "policy" / "skill_groups.yml")
                                  .read_text(encoding="utf-8")) or {}
        zone = str(((document.get("business_hours") or {}).get("default") or {}).get("timezone") or "UTC")
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    return {"timezone": zone}


def not_found(what: str) -> HTTPResponse:
    return json_response({"error": {"code": "not_found", "message": f"no such page or file: {what}"}}, status=404,
                         headers=ASSET_HEADERS)


def register(app: Sanic, root: Path = WEB_DIR) -> None:
    """The page routes on ``app``."""

    @app.get("/")
    async def home(_request: Request) -> HTTPResponse:
        return redirect("/console/", status=302, headers=HTML_HEADERS)

    for page_name, file_name in PAGES.items():
        register_page(app, root, page_name, file_name)

    @app.get("/web/<name:path>")
    async def asset(request: Request, name: str) -> HTTPResponse:
        name = unquote(name)  # this Sanic passes path parameters still percent-encoded
        if name == "config.json":  # the pages' config: the time zone their times are shown in
            settings = getattr(request.app.ctx, "settings", None)
            source = getattr(settings, "skill_groups_file", None)
            return json_response(page_config(source), headers={**ASSET_HEADERS, "Cache-Control": "no-cache"})
        path = resolve(root, name)
        if path is None:
            return not_found(f"/web/{name}")
        vendored = PurePosixPath(name).parts[0] == "vendor"
        return file_response(request, path, "public, max-age=86400" if vendored else "no-cache")


def register_page(app: Sanic, root: Path, page_name: str, file_name: str) -> None:
    """``/<page>/`` serves the page's HTML file; ``/<page>`` redirects there (relative links need the slash)."""

    async def without_slash(_request: Request) -> HTTPResponse:
        return redirect(f"/{page_name}/", status=301, headers=HTML_HEADERS)

    async def page(request: Request) -> HTTPResponse:
        path = resolve(root, file_name)
        if path is None:
            return not_found(f"/{page_name}/")
        return file_response(request, path)

    app.add_route(without_slash, f"/{page_name}", methods=["GET"], name=f"page_{page_name}_redirect", strict_slashes=True)
    app.add_route(page, f"/{page_name}/", methods=["GET"], name=f"page_{page_name}", strict_slashes=True)
