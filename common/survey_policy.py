"""The satisfaction survey's policy (policy/survey.yml, schemas/survey.schema.json): when the survey goes out
after a chat closes or a ticket is solved, per group, and what "not solved" raises the priority by.

Pure: loaded once at start (a bad file is a ConfigError with the line), then asked questions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from common.config import POLICY_DIR, load_yaml, require_known

SURVEY_FILE = POLICY_DIR / "survey.yml"
KINDS = ("chat", "ticket")


@dataclass(frozen=True)
class SurveyPolicy:
    default: Mapping[str, int]  # {"chat_delay_seconds", "ticket_delay_seconds"}
    present_seconds: int = 600
    email_when_gone: bool = True
    raise_priority_by: int = 20
    groups: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    email: Mapping[str, Any] = field(default_factory=dict)  # {"default": "en", "languages": {lang: {key: text}}}

    @classmethod
    def load(cls, path: Union[str, Path] = SURVEY_FILE, known_groups: Optional[Iterable[str]] = None) -> "SurveyPolicy":
        """Read and check the file; with ``known_groups``, a group the skill groups do not know is an error."""
        doc: Dict[str, Any] = load_yaml(path, "survey", lines=True)
        groups = doc.get("groups") or {}
        if known_groups is not None:
            require_known(path, "groups", list(groups), known_groups, "skill group")
        return cls(default=dict(doc["default"]), present_seconds=int(doc["present_seconds"]),
                   email_when_gone=bool(doc["email_when_gone"]),
                   raise_priority_by=int(doc["follow_up"]["raise_priority_by"]),
                   groups={g: dict(v or {}) for g, v in groups.items()}, email=dict(doc["email"]))

    def delay(self, group: str, kind: str) -> int:
        """Seconds from the close (chat) or the solve (ticket) to the survey, in ``group``."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        key = f"{kind}_delay_seconds"
        return int((self.groups.get(group) or {}).get(key, self.default[key]))

    def present(self, last_activity: Optional[float], now: float) -> bool:
        """Whether a customer whose last message was at ``last_activity`` counts as still there at ``now``."""
        return last_activity is not None and now - last_activity <= self.present_seconds

    def follow_up_priority(self, priority: int) -> int:
        return int(priority) + self.raise_priority_by

    def texts(self, language: Optional[str]) -> Mapping[str, str]:
        """The e-mail and survey page wording in ``language`` ("zh-CN" -> "zh"), else the default language's."""
        languages = self.email.get("languages") or {}
        short = str(language or "").split("-")[0].lower()
        chosen = short if short in languages else self.email["default"]
        return {**languages[chosen], "lang": chosen}  # "lang": the page's <html lang>
