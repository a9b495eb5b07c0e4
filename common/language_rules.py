"""Routing by language (policy/skill_groups.yml `languages:`): who may take a chat, and when that widens.

A chat in language L goes to an agent who reads L (an agent's ``languages``, ``[en]`` when not set). Its
*readers* are the languages an agent must read one of: ``[L]`` at first. The overflow rule of L widens them:

- at once, when nobody online in the chat's group (after its skill-group fallbacks) reads L;
- after ``overflow_after_seconds`` of waiting (counted from the handoff), even though someone who reads L
  is online (they are all busy);

to ``overflow_to``: ``any`` (every agent of the group: readers ``["*"]``), a list of languages (agents who
read L or one of them), or ``none`` (never: the chat waits for a reader of L, and becomes a ticket at closing
time like any chat). The reason is kept on the chat (its routing record and history) for supervisors.

Pure: the stores (handoff/memory_store.py and the Lua in handoff/routing/language_match.py) apply ``reads`` as is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

ANY = "*"
DEFAULT_LANGUAGE = "en"
DEFAULT_AGENT_LANGUAGES: Tuple[str, ...] = ("en",)


def short(language: Optional[str], default: str = DEFAULT_LANGUAGE) -> str:
    """The two-letter code of a request's language ("zh-CN" -> "zh"); ``default`` when not given."""
    code = str(language or "").split("-")[0].strip().lower()
    return code or default


def reads(agent_languages: Iterable[str], readers: Sequence[str]) -> bool:
    """The matching rule: may an agent who reads ``agent_languages`` take a chat whose readers are ``readers``?
    Empty readers (a chat from before languages) and ``*`` mean any agent."""
    if not readers or ANY in readers:
        return True
    return bool(set(agent_languages) & set(readers))


def parse_languages(value: Any) -> Tuple[str, ...]:
    """An agent's languages from a list or "zh,en" (accounts keep them so); ``[en]`` when empty."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    found = tuple(dict.fromkeys(str(i).strip().lower() for i in items if str(i).strip()))
    return found or DEFAULT_AGENT_LANGUAGES


@dataclass(frozen=True)
class LanguageRule:
    """The overflow rule of one language."""

    language: str
    overflow_after_seconds: Optional[float]  # None: only when nobody who reads it is online
    overflow_to: Tuple[str, ...]  # ("*",): any agent; (): none, wait for a reader; else these languages too

    @property
    def readers(self) -> List[str]:
        return [self.language]

    @property
    def overflow_readers(self) -> List[str]:
        """Who may take the chat once it overflowed."""
        if ANY in self.overflow_to:
            return [ANY]
        return list(dict.fromkeys([self.language, *self.overflow_to]))

    @property
    def overflows(self) -> bool:
        return self.overflow_readers != self.readers

    def describe_target(self) -> str:
        if ANY in self.overflow_to:
            return "any agent of the group"
        return "agents who read " + " or ".join(self.overflow_readers)

    def none_online_reason(self, groups: Sequence[str]) -> str:
        return (f"language overflow: nobody who reads {self.language} online in {' -> '.join(groups)}; "
                f"offered to {self.describe_target()}")

    def overflow_reason(self, waited_seconds: float, reader_online: bool) -> Optional[str]:
        """Why a chat still waiting for a reader of its language overflows now; None when it does not (yet)."""
        if not self.overflows:
            return None
        if not reader_online:
            return (f"language overflow: nobody who reads {self.language} online in the group; "
                    f"offered to {self.describe_target()}")
        after = self.overflow_after_seconds
        if after is not None and waited_seconds >= after:
            return (f"language overflow: no agent who reads {self.language} free within {after:g} s; "
                    f"offered to {self.describe_target()}")
        return None


class LanguageRules:
    """The checked `languages:` section: the default language and each language's rule."""

    def __init__(self, section: Optional[Mapping[str, Any]]) -> None:
        section = section or {}
        self.default: str = str(section.get("default") or DEFAULT_LANGUAGE)
        self.rules: Dict[str, LanguageRule] = {}
        for code, spec in (section.get("rules") or {}).items():
            spec = spec or {}
            target = spec.get("overflow_to", "any")
            if target == "any":
                to: Tuple[str, ...] = (ANY,)
            elif target in (None, "none"):
                to = ()
            else:
                to = tuple(str(t) for t in target)
            after = spec.get("overflow_after_seconds")
            self.rules[str(code)] = LanguageRule(str(code), float(after) if after is not None else None, to)
        if self.default not in self.rules:
            self.rules[self.default] = LanguageRule(self.default, None, (ANY,))

    @property
    def known(self) -> List[str]:
        return list(self.rules)

    def unknown(self, codes: Iterable[str]) -> List[str]:
        """Codes in ``codes`` that no rule names (and no other language the rules overflow to)."""
        return [c for c in codes if c not in self.rules]

    def rule(self, language: Optional[str]) -> LanguageRule:
        """The rule of a request's language; a language without a rule waits for a reader of it for as long as
        the default language's rule says, then goes where that rule sends it."""
        code = short(language, self.default)
        if code in self.rules:
            return self.rules[code]
        base = self.rules[self.default]
        return LanguageRule(code, base.overflow_after_seconds, base.overflow_to)
