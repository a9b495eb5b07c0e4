"""All policy tables at once, cross-checked: categories, handoff policy, skill groups."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from common.categories import CategoryMatcher
from common.config import POLICY_DIR
from common.policy import HandoffPolicy
from common.routing import SkillGroups


@dataclass(frozen=True)
class Tables:
    categories: CategoryMatcher
    policy: HandoffPolicy
    skill_groups: SkillGroups


def load_tables(policy_dir: Optional[Union[str, Path]] = None) -> Tables:
    """Load policy/{categories,handoff_policy,skill_groups}.yml; ConfigError names the file and key."""
    folder = Path(policy_dir) if policy_dir else POLICY_DIR
    categories = CategoryMatcher.load(folder / "categories.yml")
    names = categories.names
    return Tables(
        categories=categories,
        policy=HandoffPolicy.load(folder / "handoff_policy.yml", names),
        skill_groups=SkillGroups.load(folder / "skill_groups.yml", names),
    )
