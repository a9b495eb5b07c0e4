"""The handoff policy (policy/handoff_policy.yml): complexity with its factors, and the triggers.

Pure functions over :class:`Signals`, which the action server computes from the tracker
(actions/signals.py) and the benchmark from replayed conversations. Nothing here reads a
tracker, a clock or the network.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from common.config import POLICY_DIR, ConfigError, load_yaml, require_known

POLICY_FILE = POLICY_DIR / "handoff_policy.yml"


@dataclass
class Signals:
    """What the policy looks at, computed from the conversation so far."""

    turns: int = 0
    latest_intent: Optional[str] = None
    consecutive_fallbacks: int = 0
    fallbacks: int = 0
    low_confidence: int = 0                     # understood, but with confidence below the factor's threshold
    repeated_intent: int = 0                    # a request asked again (same intent or FAQ topic)
    topics: List[str] = field(default_factory=list)          # distinct, in order of appearance
    unsure_topics: List[str] = field(default_factory=list)   # those only ever matched with low confidence
    form_failures: int = 0
    order_numbers: List[str] = field(default_factory=list)
    error_codes: List[str] = field(default_factory=list)
    categories: Dict[str, str] = field(default_factory=dict)  # category -> words that matched (first match)
    sentiments: List[float] = field(default_factory=list)     # per customer message, oldest first, -1..1
    complaint: float = 0.0                      # the latest message's complaint probability
    amounts: List[float] = field(default_factory=list)
    vip_tier: str = "none"

    def trend(self, weight: float) -> float:
        """Exponentially weighted mean of the sentiment scores, newest weighing ``weight``."""
        value: Optional[float] = None
        for s in self.sentiments:
            value = s if value is None else (1 - weight) * value + weight * s
        return round(value or 0.0, 3)


@dataclass(frozen=True)
class Factor:
    """One contribution to the complexity score, with a sentence an agent can read."""

    name: str
    value: Union[int, float, str]
    contribution: float
    reason: str


@dataclass(frozen=True)
class Complexity:
    score: float
    level: str
    factors: Tuple[Factor, ...]

    def as_dict(self) -> Dict[str, Any]:
        return {"score": self.score, "level": self.level, "factors": [asdict(f) for f in self.factors]}


@dataclass(frozen=True)
class FiredTrigger:
    name: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """Hand off or not, and every trigger that fired (empty when not)."""

    handoff: bool
    triggers: Tuple[FiredTrigger, ...]

    def as_dict(self) -> Dict[str, Any]:
        return {"handoff": self.handoff, "triggers": [asdict(t) for t in self.triggers]}


class HandoffPolicy:
    """The checked content of handoff_policy.yml."""

    def __init__(self, document: Dict[str, Any], path: Union[str, Path] = POLICY_FILE,
                 categories: Optional[Sequence[str]] = None) -> None:
        self.path = str(path)
        self.document = document
        self.triggers: List[Dict[str, Any]] = document["triggers"]
        self.complexity_cfg: Dict[str, Any] = document["complexity"]
        self.problem_categories: List[str] = list(document.get("problem_categories") or [])
        self.fallback_intents: List[str] = list(document.get("fallback_intents") or ["nlu_fallback"])
        self.trend_weight: float = float((document.get("sentiment") or {}).get("trend_weight", 0.5))
        levels = self.complexity_cfg["levels"]
        if levels["medium"] > levels["high"]:
            raise ConfigError(path, "complexity.levels", "medium must not be above high")
        names = [t["name"] for t in self.triggers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(path, "triggers", f"duplicate trigger name(s): {', '.join(dupes)}")
        if categories is not None:
            require_known(path, "problem_categories", self.problem_categories, categories, "category")
            require_known(path, "complexity.categories", list(self.complexity_cfg["categories"]), categories, "category")
            for i, trigger in enumerate(self.triggers):
                require_known(path, f"triggers[{i}].when.category_in", trigger["when"].get("category_in", []),
                              categories, "category")
        for i, trigger in enumerate(self.triggers):
            try:
                trigger["reason"].format_map(_Blank())
            except (ValueError, IndexError) as e:
                raise ConfigError(path, f"triggers[{i}].reason", f"bad placeholder: {e}") from None

    @classmethod
    def load(cls, path: Union[str, Path] = POLICY_FILE, categories: Optional[Sequence[str]] = None) -> "HandoffPolicy":
        return cls(load_yaml(path, "handoff_policy"), path, categories)

    # --- complexity -------------------------------------------------------------------------

    def complexity(self, s: Signals) -> Complexity:
        cfg = self.complexity_cfg
        factors: List[Factor] = []
        trend = s.trend(self.trend_weight)
        counts: Dict[str, Union[int, float]] = {
            "fallbacks": s.fallbacks,
            "low_confidence": s.low_confidence,
            "repeated_intent": s.repeated_intent,
            "topics": len(s.topics),
            "turns": s.turns,
            "form_failures": s.form_failures,
            "order_numbers": len(set(s.order_numbers)),
            "error_codes": len(set(s.error_codes)),
            # A trend of -1 counts as 1 unit; neutral or positive counts as nothing.
            "negative_trend": round(max(0.0, -trend), 3),
        }
        for name, spec in cfg["factors"].items():
            value = counts[name]
            units = max(0.0, float(value) - spec.get("free", 0))
            contribution = round(min(spec["max"], units * spec["per"]), 3)
            if contribution > 0:
                shown = trend if name == "negative_trend" else value
                factors.append(Factor(name, shown, contribution, spec["reason"].format(value=shown)))
        for category, weight in cfg["categories"].items():
            if category in s.categories and weight > 0:
                words = s.categories[category]
                factors.append(Factor(f"category:{category}", words, weight,
                                      f"{category.replace('_', ' ')} (\u201c{words}\u201d)"))
        score = round(min(1.0, sum(f.contribution for f in factors)), 3)
        levels = cfg["levels"]
        level = "high" if score >= levels["high"] else "medium" if score >= levels["medium"] else "low"
        ordered = tuple(sorted(factors, key=lambda f: -f.contribution))
        return Complexity(score, level, ordered)

    # --- triggers ---------------------------------------------------------------------------

    def decide(self, s: Signals, complexity: Optional[Complexity] = None) -> Decision:
        """Evaluate every trigger; hand off when at least one fires."""
        complexity = complexity or self.complexity(s)
        fired = []
        for trigger in self.triggers:
            facts = self._holds(trigger["when"], s, complexity)
            if facts is not None:
                fired.append(FiredTrigger(trigger["name"], trigger["reason"].format_map(_Blank(facts))))
        return Decision(bool(fired), tuple(fired))

    def _holds(self, when: Dict[str, Any], s: Signals, c: Complexity) -> Optional[Dict[str, Any]]:
        """The facts for the reason's placeholders when every condition holds, else None."""
        facts: Dict[str, Any] = {"complexity": c.score, "vip_tier": s.vip_tier,
                                 "consecutive_fallbacks": s.consecutive_fallbacks,
                                 "complaint": round(s.complaint, 2)}
        problems = [k for k in s.categories if k in self.problem_categories] if self.problem_categories \
            else list(s.categories)
        for key, want in when.items():
            if key == "intent_in":
                if s.latest_intent not in want:
                    return None
            elif key == "consecutive_fallbacks_at_least":
                if s.consecutive_fallbacks < want:
                    return None
            elif key == "sentiment_below":
                k = when.get("for_turns", 1)
                recent = s.sentiments[-k:]
                if len(recent) < k or not all(x < want for x in recent):
                    return None
                facts.update(for_turns=k, sentiment=", ".join(f"{x:+.2f}" for x in recent))
            elif key == "for_turns":
                continue
            elif key == "complexity_at_least":
                if c.score < want:
                    return None
            elif key == "category_in":
                hits = [k for k in want if k in s.categories]
                if not hits:
                    return None
                facts["matched"] = ", ".join(f"\u201c{s.categories[k]}\u201d" for k in hits)
            elif key == "categories_at_least":
                if len(problems) < want:
                    return None
                facts["categories"] = ", ".join(k.replace("_", " ") for k in problems)
            elif key == "complaint_at_least":
                if s.complaint < want:
                    return None
            elif key == "vip_tier_in":
                if s.vip_tier not in want:
                    return None
            elif key == "amount_at_least":
                big = [a for a in s.amounts if a >= want]
                if not big:
                    return None
                facts["amount"] = f"{max(big):,.0f}"
            else:  # the schema allows no other key
                raise ConfigError(self.path, f"when.{key}", "unknown condition")
        return facts


class _Blank(dict):
    """format_map helper: missing placeholders render as '?' instead of raising."""

    def __missing__(self, key: str) -> str:
        return "?"
