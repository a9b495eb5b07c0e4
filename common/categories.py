"""Case categories (policy/categories.yml) matched in customer text.

English ``phrases`` go through spaCy's PhraseMatcher (whole tokens). Chinese has no spaces, so an English
tokenizer sees "我要投诉你们" as one token and would never find 投诉 in it: ``phrases_zh`` are matched as
substrings of the text after a per-character normalisation (full-width -> half-width, lower case; see
:func:`normalise_zh`). A phrase edge that is a Latin letter or digit must not touch another one ("12315"
is not found in "0123156"). ``not_zh`` lists longer phrases that contain a category phrase without meaning
it ("不是投诉", "气坏了"): a match that overlaps one of them does not count.
"""
from __future__ import annotations

import re
import threading
import unicodedata
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


# Chinese amounts: "¥8999", "8999元", "1.2万元", "3000块", "RMB 5000", "500欧元". Yuan are converted to EUR
# (the unit of handoff_policy.yml's amount_at_least) at a round rate: it only decides whether a rule such as
# "an order of 1000 EUR or more" fires, so a few per cent either way do not matter.
CNY_PER_EUR = 7.8
_NUM_ZH = r"(?P<{0}>\d{{1,3}}(?:,\d{{3}})+|\d+)(?P<{0}f>\.\d+)?\s?(?P<{0}w>[万千])?"
_MONEY_ZH = re.compile(
    r"(?:[¥￥]|rmb|cny|人民币)\s?" + _NUM_ZH.format("p")
    + r"|" + _NUM_ZH.format("s") + r"\s?(?P<unit>欧元|欧|美元|元|块钱|块(?![\u4e00-\u9fff])|rmb\b|cny\b|人民币)",
    re.IGNORECASE,
)
_EUR_UNITS = ("欧元", "欧", "美元")


def money_amounts(text: str) -> List[float]:
    """Whole currency amounts written in ``text`` ("€1,299.00" -> 1299.0, "1200 euros" -> 1200.0), in EUR:
    Chinese yuan ("¥8999", "8999元", "1.2万", "3000块") divided by :data:`CNY_PER_EUR`."""
    out = []
    for m in _MONEY.finditer(text):
        digits = re.sub(r"[.,]", "", m.group("a") or m.group("b"))
        out.append(float(digits))
    if _HAN.search(text) or _ZH_CURRENCY.search(text):
        for m in _MONEY_ZH.finditer(normalise_zh(text)):
            side = "p" if m.group("p") else "s"
            value = float(m.group(side).replace(",", "") + (m.group(side + "f") or ""))
            value *= {"万": 10000, "千": 1000}.get(m.group(side + "w") or "", 1)
            if (m.group("unit") or "") not in _EUR_UNITS:
                value /= CNY_PER_EUR
            out.append(float(int(value)))
    return out


_HAN = re.compile(r"[\u3400-\u9fff]")
_ZH_CURRENCY = re.compile(r"[¥￥]|rmb|cny", re.IGNORECASE)


def normalise_zh(text: str) -> str:
    """Full-width forms as half-width and lower case, character by character (NFKC), so that positions
    stay those of ``text``: "１２３１５" -> "12315", "ＡＰＰ" -> "app", "，" -> ",". Traditional characters
    are not mapped."""
    out = []
    for char in text:
        folded = unicodedata.normalize("NFKC", char).lower() if ord(char) > 127 else char.lower()
        out.append(folded if len(folded) == 1 else char)
    return "".join(out)


def _zh_regex(phrases: Sequence[str]) -> Optional["re.Pattern[str]"]:
    """One pattern for a list of Chinese phrases (longest first); Latin/digit edges need a boundary."""
    parts = []
    for phrase in sorted({normalise_zh(p.strip()) for p in phrases if p and p.strip()}, key=len, reverse=True):
        before = r"(?<![a-z0-9])" if phrase[0].isascii() and phrase[0].isalnum() else ""
        after = r"(?![a-z0-9])" if phrase[-1].isascii() and phrase[-1].isalnum() else ""
        parts.append(before + re.escape(phrase) + after)
    return re.compile("|".join(parts)) if parts else None


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
        self._zh: Dict[str, Tuple["re.Pattern[str]", Optional["re.Pattern[str]"]]] = {}
        for name, spec in categories.items():
            pattern = _zh_regex(spec.get("phrases_zh") or [])
            if pattern is not None:
                self._zh[name] = (pattern, _zh_regex(spec.get("not_zh") or []))
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
        spans = [(doc[start].idx, doc[end - 1].idx + len(doc[end - 1]), self._nlp.vocab.strings[match_id])
                 for match_id, start, end in matches]
        spans += self._match_zh(text)
        found: Dict[str, str] = {}
        for start, end, name in sorted(spans, key=lambda m: (m[0], -m[1])):
            found.setdefault(name, text[start:end])
        for label, value in entity_labels:
            for name in self._by_entity.get(label, []):
                found.setdefault(name, value)
        return [CategoryMatch(name, words) for name, words in found.items()]

    def _match_zh(self, text: str) -> List[Tuple[int, int, str]]:
        """(start, end, category) of the ``phrases_zh`` found in ``text``, minus those inside a ``not_zh``."""
        if not self._zh:
            return []
        folded = normalise_zh(text)
        out = []
        for name, (pattern, blockers) in self._zh.items():
            blocked = [(m.start(), m.end()) for m in blockers.finditer(folded)] if blockers else []
            for m in pattern.finditer(folded):
                if not any(m.start() < b_end and b_start < m.end() for b_start, b_end in blocked):
                    out.append((m.start(), m.end(), name))
                    break
        return out


_default: Optional[CategoryMatcher] = None
_default_lock = threading.Lock()


def default_matcher() -> CategoryMatcher:
    """The matcher for policy/categories.yml, built once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = CategoryMatcher.load()
        return _default
