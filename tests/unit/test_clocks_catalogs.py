"""The service clocks' wording (handoff/web/i18n/clocks.<lang>.json): every message the pages ask for exists in
English, Chinese has the same messages with the same placeholders, and the clock entries of a ticket's timeline
are named in both ticket catalogs."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Set

WEB = Path(__file__).resolve().parents[2] / "handoff" / "web"
PAGES = ("clocks.js", "console_clocks.js", "dashboard_clocks.js")
# keys the pages build from a value: target.<target>, state.<state>, action.<action>
BUILT = {f"target.{x}" for x in ("first_response", "next_response", "resolution")} | \
        {f"state.{x}" for x in ("running", "warning", "breached", "paused", "met")} | \
        {f"action.{x}" for x in ("raise_priority", "reoffer", "notify_supervisor")}


def catalog(name: str) -> Dict[str, str]:
    return json.loads((WEB / "i18n" / name).read_text(encoding="utf-8"))


def asked() -> Set[str]:
    keys: Set[str] = set()
    for page in PAGES:
        keys |= set(re.findall(r"""\bt\(\s*"([a-z_.]+)"\s*[,)]""", (WEB / page).read_text(encoding="utf-8")))
    return keys


def test_every_message_the_pages_ask_for_is_in_english() -> None:
    keys = asked()
    assert len(keys) > 30, keys  # the pattern finds the calls
    assert sorted((keys | BUILT) - set(catalog("clocks.en.json"))) == []


def test_chinese_has_the_same_messages_and_placeholders() -> None:
    en, zh = catalog("clocks.en.json"), catalog("clocks.zh.json")
    assert set(en) == set(zh)
    for key, text in en.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", zh[key])), key
        assert zh[key] != text or not re.search(r"[a-z]{3}", text), f"{key} is not translated"


def test_the_timeline_names_the_clock_entries() -> None:
    for lang in ("en", "zh"):
        tickets = catalog(f"tickets.{lang}.json")
        for kind in ("sla_warning", "sla_breach", "sla_action", "survey_sent", "survey_requested"):
            assert tickets.get(f"kind.{kind}"), (lang, kind)
