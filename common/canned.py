"""Canned responses for the agent console (policy/canned_responses.yml), checked at start.

Editors write them; the handoff service serves them in ``GET /v1/meta``. A bad file is a
ConfigError naming the file and the key, raised when the service starts, like every policy file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Union

from common.config import POLICY_DIR, ConfigError, load_yaml, require_known

CANNED_RESPONSES_FILE = POLICY_DIR / "canned_responses.yml"


def load_canned_responses(path: Union[str, Path], groups: Iterable[str]) -> List[Dict[str, Any]]:
    """``[{"id", "title", "text", "texts", "groups"}]`` in file order; ``groups`` spelled out (every known group
    when the file leaves it out), so clients need no rule for "absent". ``text`` is the default (English) reply,
    ``texts`` the same reply in other languages by code ({"zh": ...}; {} when none): the console fills in the
    one for the chat's language (the handoff request's ``language``), else ``text``."""
    known = list(groups)
    document = load_yaml(path, "canned_responses")
    out: List[Dict[str, Any]] = []
    seen: Dict[str, int] = {}
    for i, item in enumerate(document["responses"]):
        if item["id"] in seen:
            raise ConfigError(path, f"responses[{i}].id",
                              f"duplicate id {item['id']!r} (also responses[{seen[item['id']]}])")
        seen[item["id"]] = i
        if "groups" in item:
            require_known(path, f"responses[{i}].groups", item["groups"], known, "skill group")
        out.append({"id": item["id"], "title": item["title"], "text": item["text"],
                    "texts": dict(item.get("texts") or {}), "groups": list(item.get("groups") or known)})
    return out
