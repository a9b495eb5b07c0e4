"""The sweeper's language overflow (a mixin of HandoffService): a waiting chat that no agent who reads its
language took is opened to the language rule's overflow readers (policy/skill_groups.yml `languages:`,
common/language_rules.py): at once when nobody online in its group reads the language, else after
``overflow_after_seconds`` of waiting. The store widens it once (``Store.widen_readers``), writing the reason
on the chat (history, ``language_note``, a ``language_overflow`` event) so supervisors see it.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from common.language_rules import reads
from common.routing import SkillGroups
from handoff.store import Escalation, NotFound, Status, Store

log = logging.getLogger(__name__)


def routing_language(e: Escalation) -> Dict[str, Any]:
    """What a chat's record says of its language: the language, who may take it, and the overflow, if any."""
    return {"language": e.language or None, "readers": list(e.readers) or ["*"],
            "language_overflow": e.language_note or None}


def overflow_lines(e: Escalation, default_language: str = "en") -> List[str]:
    """The routing record's ``overflow`` lines: the groups passed over (for a chat not in the default language,
    passed over for want of a reader of its language), then the language overflow."""
    who = f" who reads {e.language}" if e.language and e.language != default_language else ""
    return [f"no agent online in {g}{who}" for g in e.overflow] + ([e.language_note] if e.language_note else [])


class LanguageOverflow:
    store: Store
    groups: SkillGroups

    async def overflow_languages(self, group: str, now: float) -> int:
        """Widen the readers of the group's waiting chats whose language rule says so now; how many were."""
        rules = self.groups.languages
        if not any(rule.overflows for rule in rules.rules.values()):
            return 0
        ids = await self.store.waiting(group)
        online: Optional[List[str]] = None
        widened = 0
        for e in await self.store.get_many(ids) if ids else []:
            if e.status != Status.WAITING or not e.language:
                continue
            rule = rules.rule(e.language)
            if list(e.readers) != rule.readers:
                continue  # widened already
            if online is None:
                online = await self.store.group_languages(group)
            reason = rule.overflow_reason(now - e.created_at, reads(online, e.readers))
            if reason is None:
                continue
            try:
                if await self.store.widen_readers(e.id, e.readers, rule.overflow_readers, now, reason):
                    widened += 1
                    log.info("chat %s in %s (%s): %s", e.id, group, e.language, reason)
            except NotFound:
                continue
        return widened
