"""The case brief's summary line in the customer's language, worded by policy/case_brief.yml (not in code).

The agent who takes the chat reads it first. It is written in the customer's language: a Chinese chat is routed
to an agent who reads Chinese (policy/skill_groups.yml `languages:`), who then reads the brief, the transcript
and the customer in one language; an agent who got it by the language overflow still sees ids they know (the
group id, the order numbers) and the structured brief (topics, categories, scores) next to it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from common.config import POLICY_DIR, ConfigError, load_yaml
from common.language_rules import short
from common.policy import Decision, Signals

CASE_BRIEF_FILE = POLICY_DIR / "case_brief.yml"
LINES = ("customer", "tier_customer", "order", "topics", "issues", "why", "routed", "sentence", "part_separator",
         "list_separator", "reason_separator")


class Catalog:
    """The checked wording: every line of the default language; other languages fall back to it line by line."""

    def __init__(self, document: Mapping[str, Any], path: Union[str, Path] = CASE_BRIEF_FILE) -> None:
        self.default: str = document["default"]
        self.languages: Dict[str, Dict[str, Any]] = dict(document["languages"])
        if self.default not in self.languages:
            raise ConfigError(path, "default", f"no wording for the default language {self.default!r}")
        missing = [k for k in LINES if k not in self.languages[self.default]]
        if missing:
            raise ConfigError(path, f"languages.{self.default}.{missing[0]}", "the default language needs every line")

    @classmethod
    def load(cls, path: Union[str, Path] = CASE_BRIEF_FILE) -> "Catalog":
        return cls(load_yaml(path, "case_brief"), path)

    def words(self, language: Optional[str]) -> "Words":
        code = short(language, self.default)
        return Words(self.languages.get(code) or {}, self.languages[self.default])


class Words:
    """One language's lines and names, the default language's where it has none."""

    def __init__(self, own: Mapping[str, Any], fallback: Mapping[str, Any]) -> None:
        self.own, self.fallback = own, fallback

    def line(self, key: str, **values: Any) -> str:
        return str(self.own.get(key, self.fallback[key])).format(**values)

    def name(self, table: str, key: str, otherwise: Optional[str] = None) -> str:
        for source in (self.own, self.fallback):
            found = (source.get(table) or {}).get(key)
            if found:
                return str(found)
        return otherwise if otherwise is not None else key.replace("_", " ")

    def join(self, key: str, items: Sequence[str]) -> str:
        return self.line(key).join(items)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog.load()


def summary_line(signals: Signals, decision: Decision, route_group: str, group_name: str,
                 entities: List[Dict[str, str]], language: Optional[str] = None,
                 wording: Optional[Catalog] = None) -> str:
    """One line an agent reads first: who, about what, why a person is needed, in ``language`` (``group_name``:
    the group's name in it, common/routing.py SkillGroups.name)."""
    w = (wording or catalog()).words(language)
    tier = signals.vip_tier
    parts = [w.line("tier_customer", tier=w.name("tiers", tier, tier.capitalize())) if tier != "none"
             else w.line("customer")]
    orders = [e["value"] for e in entities if e["type"] == "ORDER_NUMBER"]
    if orders:
        parts.append(w.line("order", orders=w.join("list_separator", orders)))
    if signals.topics:
        parts.append(w.line("topics", topics=w.join("list_separator", [w.name("topics_names", t) for t in signals.topics])))
    if signals.categories:
        parts.append(w.line("issues", issues=w.join("list_separator",
                                                    [w.name("issues_names", c) for c in signals.categories])))
    why = w.join("reason_separator", [w.name("triggers", t.name, t.reason) for t in decision.triggers])
    return w.line("sentence", parts=w.join("part_separator", parts), why=w.line("why", why=why),
                  routed=w.line("routed", group_name=group_name, group=route_group))

