"""The pages' wording: the widget, the agent console and the supervisor dashboard take every visible
word from a catalog (`*.en.json` / `*.zh.json`). Pure checks over the files: every key a page asks for is in
English, Chinese has every English key with the same placeholders and is written in Chinese, no visible text is
left in the HTML without a catalog key, and the pages' config gives the business calendar's time zone."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from bot.channels.webpage import WEB_ROOT, load_assets
from handoff.web.pages import WEB_DIR, page_config

HAN = re.compile(r"[\u4e00-\u9fff]")
# (catalog folder, catalog name, the files that ask for its keys)
CATALOGS: List[Tuple[Path, str, Tuple[str, ...]]] = [
    (WEB_DIR, "common", ("common.js",)),
    (WEB_DIR, "console", ("console.js", "console_brief.js", "console_offers.js", "console.html")),
    (WEB_DIR, "dashboard", ("dashboard.js", "dashboard_charts.js", "dashboard_format.js", "dashboard.html")),
    (WEB_ROOT, "widget", ("widget.js",)),
    (WEB_ROOT, "shop", ("index.html",)),
]
# keys a page builds from a value (`${...}`), listed here so the check covers them too
BUILT = {
    "common": {"lang.en", "lang.zh", "role.agent", "role.supervisor"},
    "console": {f"conn.{s}" for s in ("open", "closed", "unauthorized", "forbidden")} | {"language.en", "language.zh"},
    "dashboard": {f"status.{s}" for s in ("online", "away", "offline")}
    | {f"conn.{s}" for s in ("open", "closed", "unauthorized", "forbidden")}
    | {f"kpi.{n}.{k}" for n in ("conversations", "responses") for k in ("one", "many")}
    | {f"handoff.{s}" for s in ("waiting", "offered", "assigned")},
    "widget": {"lang.name_en", "lang.name_zh", "lang.short_en", "lang.short_zh"},
    "shop": set(),
}


def catalog(folder: Path, name: str, lang: str) -> Dict[str, str]:
    return json.loads((folder / "i18n" / f"{name}.{lang}.json").read_text(encoding="utf-8"))


def asked(folder: Path, files: Tuple[str, ...]) -> Set[str]:
    keys: Set[str] = set()
    for file in files:
        text = (folder / file).read_text(encoding="utf-8")
        keys |= set(re.findall(r"""\bt\(\s*"([a-z0-9_.]+)"\s*[,)]""", text))
        keys |= set(re.findall(r"""data-i18n(?:-[a-z-]+)?="([a-z0-9_.]+)\"""", text))
    return keys


@pytest.mark.parametrize("folder,name,files", CATALOGS, ids=[c[1] for c in CATALOGS])
def test_every_key_a_page_asks_for_is_in_english(folder: Path, name: str, files: Tuple[str, ...]) -> None:
    keys = asked(folder, files)
    assert len(keys) >= 10, keys  # the patterns find the calls
    assert sorted((keys | BUILT[name]) - set(catalog(folder, name, "en"))) == []


@pytest.mark.parametrize("folder,name,files", CATALOGS, ids=[c[1] for c in CATALOGS])
def test_no_key_is_missing_in_chinese_and_each_is_chinese(folder: Path, name: str, files: Tuple[str, ...]) -> None:
    en, zh = catalog(folder, name, "en"), catalog(folder, name, "zh")
    assert sorted(set(en) - set(zh)) == [], "missing in zh"
    assert sorted(set(zh) - set(en)) == [], "only in zh"
    for key, text in en.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", zh[key])), key
        if re.search(r"[A-Za-z]{3}", re.sub(r"\{\w+\}|Brightcart|Chart\.js|GET /v1/[a-z/]+|SLA|VIP|p[59]0|English", "", text)):
            assert HAN.search(zh[key]), f"{name}.zh {key!r} is not in Chinese: {zh[key]!r}"


class VisibleText(HTMLParser):
    """Text nodes with letters that no element around them names a catalog key for (data-i18n)."""

    SKIP = {"script", "style", "code", "canvas"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: List[Tuple[str, bool]] = []
        self.bare: List[str] = []
        self.bare_attrs: List[str] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, str]]) -> None:
        names = dict(attrs)
        for attr in ("placeholder", "aria-label", "title"):
            if names.get(attr) and re.search(r"[A-Za-z]", names[attr] or "") and f"data-i18n-{attr}" not in names:
                self.bare_attrs.append(f"<{tag} {attr}={names[attr]!r}>")
        if tag not in ("meta", "link", "input", "br", "img"):
            self.stack.append((tag, "data-i18n" in names))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not re.search(r"[A-Za-z]{2}", text) or text == "Brightcart":
            return
        if any(translated or tag in self.SKIP for tag, translated in self.stack):
            return
        self.bare.append(text)


@pytest.mark.parametrize("path", [WEB_DIR / "console.html", WEB_DIR / "dashboard.html", WEB_ROOT / "index.html"],
                         ids=lambda p: p.name)
def test_no_visible_text_in_the_html_without_a_catalog_key(path: Path) -> None:
    parser = VisibleText()
    parser.feed(path.read_text(encoding="utf-8"))
    assert parser.bare == []
    assert parser.bare_attrs == []


@pytest.mark.parametrize("path", [WEB_DIR / name for name in ("console.js", "console_brief.js", "console_offers.js",
                                                                 "dashboard.js", "dashboard_charts.js", "dashboard_format.js",
                                                                 "common.js")] + [WEB_ROOT / "widget.js"],
                         ids=lambda p: p.name)
def test_no_sentence_is_written_into_the_page_code(path: Path) -> None:
    """A string literal handed to the page as text (el(..., "Text"), textContent = "Text", new Error("Text")) is a
    word outside the catalogs."""
    code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith(("//", "*", "/*")))
    found = re.findall(r"""(?:textContent\s*=\s*|Error\(\s*|\},\s*|placeholder:\s*|"aria-label":\s*)["`]([A-Z][a-z]+[^"`]*)["`]""", code)
    assert found == []


def test_the_pages_config_gives_the_business_calendars_zone(tmp_path: Path) -> None:
    assert page_config(None) == {"timezone": "Asia/Shanghai"}  # policy/skill_groups.yml as shipped
    other = tmp_path / "skill_groups.yml"
    other.write_text("business_hours:\n  default:\n    timezone: Europe/Amsterdam\n", encoding="utf-8")
    assert page_config(other) == {"timezone": "Europe/Amsterdam"}
    other.write_text("groups: {}\n", encoding="utf-8")
    assert page_config(other) == {"timezone": "UTC"}  # no calendar: round the clock in UTC (common/business_hours.py)
    assert page_config(tmp_path / "missing.yml") == {"timezone": "UTC"}


def test_the_chat_page_serves_the_widgets_catalogs() -> None:
    assets = load_assets(WEB_ROOT)
    for lang in ("en", "zh"):
        asset = assets[f"i18n/widget.{lang}.json"]
        assert asset.content_type == "application/json"
        assert json.loads(asset.body.decode("utf-8"))["send"]
    assert "中文" in json.loads(assets["i18n/widget.zh.json"].body.decode("utf-8"))["lang.short_zh"]
