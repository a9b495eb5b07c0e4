"""Skill groups and routing (policy/skill_groups.yml): which group takes a chat, at what priority."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from common.business_hours import Calendar, calendars_for
from common.config import POLICY_DIR, ConfigError, load_yaml, require_known
from common.language_rules import ANY, LanguageRules, short

SKILL_GROUPS_FILE = POLICY_DIR / "skill_groups.yml"


@dataclass(frozen=True)
class Route:
    """The chosen group and why (the rule that matched, or the default)."""

    group: str
    reason: str

    def as_dict(self) -> Dict[str, str]:
        return {"group": self.group, "reason": self.reason}


@dataclass(frozen=True)
class Priority:
    value: int
    reasons: Tuple[str, ...]

    def as_dict(self) -> Dict[str, Any]:
        return {"value": self.value, "reasons": list(self.reasons)}


class SkillGroups:
    """The checked content of skill_groups.yml."""

    def __init__(self, document: Dict[str, Any], path: Union[str, Path] = SKILL_GROUPS_FILE,
                 categories: Optional[Sequence[str]] = None) -> None:
        self.path = str(path)
        self.groups: Dict[str, Dict[str, Any]] = document["groups"]
        self.rules: List[Dict[str, Any]] = document["routing"]
        self.default_group: str = document["default_group"]
        self.priority_cfg: Dict[str, Any] = document["priority"]
        tickets = document.get("tickets") or {}
        self.ticket_reply_hours: float = tickets.get("reply_within_hours", 24)
        # A ticket's first answer is due this many seconds of its group's business time after it is created;
        # a solved ticket reopens when the customer writes within reopen_seconds (clock time).
        self.ticket_reply_seconds: float = float(tickets.get("reply_within_business_hours", 4)) * 3600
        self.reopen_seconds: float = float(tickets.get("reopen_days", 7)) * 86400
        self.ticket_auto_assign: List[str] = list(tickets.get("auto_assign") or [])
        self.max_tickets_per_agent: int = int(tickets.get("max_tickets_per_agent", 15))
        # A handoff outside its group's business hours: "queue" (served when someone is online) or "ticket".
        self.outside_business_hours: str = str(tickets.get("outside_business_hours", "queue"))
        self.wrap_up_codes: List[str] = list(document.get("wrap_up_codes") or ["other"])
        # Seconds to a person's first reply (the SLA the supervisor dashboard watches).
        self.first_response_seconds: float = (document.get("sla") or {}).get("first_response_seconds", 30)
        names = list(self.groups)
        require_known(path, "default_group", self.default_group, names, "skill group")
        for name, spec in self.groups.items():
            if spec.get("fallback") is not None:
                require_known(path, f"groups.{name}.fallback", spec["fallback"], names, "skill group")
        for i, rule in enumerate(self.rules):
            require_known(path, f"routing[{i}].group", rule["group"], names, "skill group")
            if categories is not None:
                require_known(path, f"routing[{i}].when.category_in", rule["when"].get("category_in", []),
                              categories, "category")
        require_known(path, "tickets.auto_assign", self.ticket_auto_assign, names, "skill group")
        self._check_fallback_cycles()
        # Who reads which language, and when a chat overflows to agents who do not (common/language_rules.py).
        self.languages = LanguageRules(document.get("languages"))
        for code, lang_rule in self.languages.rules.items():
            require_known(path, f"languages.rules.{code}.overflow_to", [c for c in lang_rule.overflow_to if c != ANY],
                          self.languages.known, "language")
        # Every group's business calendar (business_hours: default, or the group's own).
        self.calendars: Dict[str, Calendar] = calendars_for(document, names, self.path)

    @classmethod
    def load(cls, path: Union[str, Path] = SKILL_GROUPS_FILE,
             categories: Optional[Sequence[str]] = None) -> "SkillGroups":
        return cls(load_yaml(path, "skill_groups"), path, categories)

    def _check_fallback_cycles(self) -> None:
        for start in self.groups:
            seen, group = [start], self.groups[start].get("fallback")
            while group is not None:
                if group in seen:
                    raise ConfigError(self.path, f"groups.{start}.fallback",
                                      f"fallbacks form a cycle: {' -> '.join(seen + [group])}")
                seen.append(group)
                group = self.groups[group].get("fallback")

    def handle_seconds(self, group: str) -> int:
        """Typical time one chat of the group takes an agent (for wait estimates)."""
        return int(self.groups[group].get("handle_seconds", 300))

    def name(self, group: str, language: Optional[str] = None) -> str:
        """The group's name, in ``language`` when the group has one in it (``names``), else ``name``."""
        spec = self.groups[group]
        return str((spec.get("names") or {}).get(short(language), spec["name"]))

    def fallback_chain(self, group: str) -> List[str]:
        """``group`` and the groups it overflows to, in order (after_sales -> general)."""
        chain = [group]
        while self.groups[chain[-1]].get("fallback") is not None:
            chain.append(self.groups[chain[-1]]["fallback"])
        return chain

    def route(self, tags: Mapping[str, Any], categories: Iterable[str], topics: Iterable[str],
              unsure_topics: Iterable[str] = ()) -> Route:
        """The first rule that matches the tags, the conversation's categories or its topics; topics in
        ``unsure_topics`` (matched with low confidence) count only when nothing else matches."""
        unsure = set(unsure_topics)
        tops = list(topics)
        if unsure:
            route = self._route(tags, categories, [t for t in tops if t not in unsure])
            if route.group != self.default_group or not route.reason.startswith("no routing rule"):
                return route
        return self._route(tags, categories, tops)

    def _route(self, tags: Mapping[str, Any], categories: Iterable[str], topics: Iterable[str]) -> Route:
        cats, tops = list(categories), list(topics)
        tier = str(tags.get("vip_tier") or "none")
        for i, rule in enumerate(self.rules):
            when = rule["when"]
            why = None
            if "vip_tier_in" in when and tier in when["vip_tier_in"]:
                why = f"customer tier {tier}"
            elif "category_in" in when:
                hits = [c for c in cats if c in when["category_in"]]
                why = f"category {hits[0].replace('_', ' ')}" if hits else None
            if why is None and "topic_in" in when:
                hits = [t for t in reversed(tops) if t in when["topic_in"]]  # the latest topic counts most
                why = f"topic {hits[0].replace('_', ' ')}" if hits else None
            if why is not None:
                return Route(rule["group"], f"routing rule {i + 1}: {why}")
        return Route(self.default_group, "no routing rule matched: default group")

    def priority(self, tags: Mapping[str, Any], sentiment: Optional[float], complexity_level: str,
                 triggers: Iterable[str]) -> Priority:
        """The starting priority (before ageing) and the reasons for each point added."""
        cfg = self.priority_cfg
        value, reasons = cfg["base"], [f"base {cfg['base']}"]
        tier = str(tags.get("vip_tier") or "none")
        tier_points = (cfg.get("vip_tier") or {}).get(tier, 0)
        if tier_points:
            value += tier_points
            reasons.append(f"+{tier_points} tier {tier}")
        low = cfg.get("sentiment_below")
        if low and sentiment is not None and sentiment < low["threshold"]:
            value += low["points"]
            reasons.append(f"+{low['points']} sentiment {sentiment:+.2f}")
        level_points = (cfg.get("complexity_level") or {}).get(complexity_level, 0)
        if level_points:
            value += level_points
            reasons.append(f"+{level_points} complexity {complexity_level}")
        for trigger in dict.fromkeys(triggers):
            points = (cfg.get("triggers") or {}).get(trigger, 0)
            if points:
                value += points
                reasons.append(f"+{points} {trigger.replace('_', ' ')}")
        return Priority(int(value), tuple(reasons))

    def aged(self, priority: int, waited_seconds: float) -> int:
        """Priority after waiting: +points every N seconds, up to max (so nothing starves)."""
        ageing = self.priority_cfg.get("ageing")
        if not ageing or waited_seconds <= 0:
            return priority
        bonus = int(waited_seconds // ageing["every_seconds"]) * ageing["points"]
        if "max" in ageing:
            bonus = min(bonus, ageing["max"])
        return priority + bonus
