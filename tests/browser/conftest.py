"""Browser tests: Playwright drives Debian's Chromium (headless) against the stack the run command starts.

Screenshots and the first-paint figures are written to ``artifacts/browser/`` (CI keeps that folder).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import ROOT, free_port
from tests.integration.running import RunCommand

ARTIFACTS = ROOT / "artifacts" / "browser"
XSS = "<img src=x onerror=alert(1)>"


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: ./run test installs Debian's chromium, or set CHROMIUM")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: Playwright's sync API runs an event loop in this thread while it is open,
    and the tests after this module call asyncio.run(), which refuses to start inside a running loop."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True,
                              args=["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "HANDOFF_SWEEP_SECONDS": "0.5", "HANDOFF_POSITION_SECONDS": "1"})
    run.start()
    yield run
    run.stop()


class Watched:
    """A page with what went wrong on it: console errors (CSP violations among them) and dialogs."""

    def __init__(self, context: BrowserContext, name: str) -> None:
        self.name = name
        self.page: Page = context.new_page()
        self.errors: List[str] = []
        self.dialogs: List[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def first_paint_ms(self) -> float:
        """When the browser first painted the page, in ms from the start of navigation (the browser's own
        Paint Timing entry; waits for it, as it may be recorded just after the load event)."""
        entries = self.page.evaluate("""() => new Promise(done => {
            new PerformanceObserver(list => done(list.getEntries().map(e => [e.name, e.startTime])))
              .observe({type: "paint", buffered: true});
            setTimeout(() => done([]), 5000);
        })""")
        paints = dict(entries)
        return float(paints.get("first-paint", paints.get("first-contentful-paint", -1)))

    def screenshot(self, label: str) -> Path:
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def contexts(browser: Browser) -> Iterator[List[BrowserContext]]:
    """The browser contexts a test opened (it appends them), closed after it."""
    made: List[BrowserContext] = []
    yield made
    for c in made:
        c.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    contexts: List[BrowserContext] = []

    def make(name: str) -> Watched:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return Watched(context, name)

    yield make
    for c in contexts:
        c.close()


def record_figure(key: str, value: Any) -> None:
    """Keep a measured figure in artifacts/browser/figures.json (docs/benchmarks.md quotes them)."""
    path = ARTIFACTS / "figures.json"
    figures: Dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    figures[key] = value
    path.write_text(json.dumps(figures, indent=2))
