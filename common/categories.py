"""Case categories (policy/categories.yml) matched in customer text with spaCy's PhraseMatcher."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import spacy
from spacy.matcher import Matcher, PhraseMatcher

from common.config import POLICY_DIR, ConfigError, load_yaml

CATEGORIES_FILE = POLICY_DIR / "categories.yml"

_MONEY = re.compile(
    r"(?:(?:€|eur|euro|\$|usd|£)\s?(?P<a>\d{1,3}(?:[.,]\d{3})+|\d+)(?:[.,]\d{1,2})?)"
    r"|(?:(?P<b>\d{1,3}(?:[.,]\d{3})+|\d+)(?:[.,]\d{1,2})?\s?(?:€|eur\b|euros?\b|dollars?\b|usd\b|£|pounds?\b))",
    re.IGNORECASE,
)


def money_amounts(text: str) -> List[float]:
    """Whole currency amounts written in ``text`` ("€1,299.00" -> 1299.0, "1200 euros" -> 1200.0)."""
    out = []
    for m in _MONEY.finditer(text):
        digits = re.sub(r"[.,]", "", m.group("a") or m.group("b"))
        out.append(float(digits))
    return out


@dataclass(frozen=True)
class CategoryMatch:
    """One category found in a text, with the words that showed it."""

    category: str
    matched: str


class CategoryMatcher:
    """Finds the categories of a text. Build once per process with :meth:`load`; ``match`` is thread-safe."""

    def __init__(self, categories: Dict[str, dict], path: Union[str, Path] = CATEGORIES_FILE) -> None:
        self.categories = categories
        self._nlp = spacy.blank("en")
        self._matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        for name, spec in categories.items():
            phrases = spec.get("phrases") or []
            if phrases:
                self._matcher.add(name, list(self._nlp.tokenizer.pipe(phrases)))
        self._patterns = Matcher(self._nlp.vocab)
        for name, spec in categories.items():
            if spec.get("patterns"):
                try:
                    self._patterns.add(name, spec["patterns"])
                except (ValueError, KeyError) as e:  # spaCy's own pattern validation
                    raise ConfigError(path, f"categories.{name}.patterns", str(e).splitlines()[0]) from None
        self._by_entity: Dict[str, List[str]] = {}
        for name, spec in categories.items():
            for label in spec.get("entities") or []:
                self._by_entity.setdefault(label, []).append(name)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Union[str, Path] = CATEGORIES_FILE) -> "CategoryMatcher":
        """Read and check categories.yml (ConfigError names the file and key)."""
        return cls(load_yaml(path, "categories")["categories"], path)

    @property
    def names(self) -> Sequence[str]:
        return list(self.categories)

    def match(self, text: str, entity_labels: Sequence[Tuple[str, str]] = ()) -> List[CategoryMatch]:
        """Categories in ``text``, first match per category in text order.

        ``entity_labels``: (label, text) pairs already found in the text (common.pii), which count
        for categories that list the label under ``entities``.
        """
        doc = self._nlp.make_doc(text)
        with self._lock:
            matches = list(self._matcher(doc)) + list(self._patterns(doc))
        found: Dict[str, str] = {}
        for match_id, start, end in sorted(matches, key=lambda m: (m[1], -m[2])):
            name = self._nlp.vocab.strings[match_id]
            found.setdefault(name, doc[start:end].text)
        for label, value in entity_labels:
            for name in self._by_entity.get(label, []):
                found.setdefault(name, value)
        return [CategoryMatch(name, words) for name, words in found.items()]


_default: Optional[CategoryMatcher] = None
_default_lock = threading.Lock()


def default_matcher() -> CategoryMatcher:
    """The matcher for policy/categories.yml, built once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = CategoryMatcher.load()
        return _default
