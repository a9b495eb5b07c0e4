"""Payment card numbers and their security codes in free text: found with plain regular expressions, masked.

A card number is 13-19 digits that pass the Luhn check, however they are written: in one run or in groups
of any size ("4111 11 11 1111 1111"), separated by spaces, hyphens, dots, middle dots (·) or a mix of them, in ASCII or
full-width digits (U+FF10-U+FF19, as Japanese and Chinese keyboards type them).

How: a *run* is a sequence of digit groups joined by separators (up to two spaces; or one hyphen, dash or dot,
with a space either side or not). Every window of whole consecutive groups of a run that holds 13-19 digits
and passes Luhn is a card: its digits but the first 6 and the last 4 are masked, and a group of 3-4 digits
right after it (the security code, "4111 1111 1111 1111 123") is masked entirely. Where windows overlap
("order 10234567. 4111 1111 1111 1111"), every digit that any of them masks is masked: an ambiguity costs a
few more stars, never a visible digit. A group is never split, so a 20-digit tracking number or two 8-digit
order numbers are not cards (unless their digits pass Luhn as a whole, which order numbers of one customer
do not: 8 + 8 = 16 digits of "10......10......" are checked like any other).

A security code named as such ("CVV 123", "cvc: 1234", "security code 123", "CVV2 is 123") is masked
wherever it is, with or without a card number next to it.

:func:`mask_cards` also masks mainland Chinese mobile numbers and resident ID numbers (common/pii_zh.py), so
that every path that masks card numbers (channels before the tracker, logs, handoff requests) masks them too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Set, Tuple

from common.pii_zh import zh_mask_positions

KEEP_FIRST = 6
KEEP_LAST = 4
MASK_CHAR = "*"
MAX_GROUPS_PER_RUN = 64  # longer runs are cut into pieces: linear time whatever the input

_DIGIT = "0-9\uff10-\uff19"
_FULL_WIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})
_RUN = re.compile(
    rf"(?<![{_DIGIT}])[{_DIGIT}]+"
    rf"(?:(?:[ \u00a0\u2009\u202f\u3000]{{1,2}}|[ \u3000]?[-.\u00b7\u2010-\u2015\u2027\u2212\u30fb\uff0d\uff0e\uff65][ \u3000]?)"
    rf"[{_DIGIT}]+)*"
)
_GROUP = re.compile(rf"[{_DIGIT}]+")
_NAMED_CODE = re.compile(
    r"\b(?:cvv2?|cvc2?|cvn|cid|csc|security[ \t]+code|card[ \t]+(?:verification|security)[ \t]+(?:code|value|number)|"
    r"pr\u00fcfnummer|kartenpr\u00fcfnummer)\b[^0-9\uff10-\uff19\n]{0,12}?"
    rf"(?<![{_DIGIT}])([{_DIGIT}]{{3,4}})(?![{_DIGIT}])",
    re.IGNORECASE)
# A text that holds neither 13 digits nor a named code is returned as it is, without any further work.
_HINT = re.compile(rf"(?:[{_DIGIT}][^{_DIGIT}]{{0,3}}){{12}}[{_DIGIT}]")
_CODE_HINT = re.compile(r"cv|cid|csc|code|pr\u00fcf", re.IGNORECASE)


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9" or "\uff10" <= char <= "\uff19"


@dataclass(frozen=True)
class Card:
    """A card number in a text: ``text[start:end]`` (separators included), with its digits in ASCII."""

    start: int
    end: int
    digits: str


def luhn_valid(digits: str) -> bool:
    """True if the string of ASCII digits passes the Luhn (mod 10) check of card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _groups(run: re.Match) -> List[Tuple[int, int, str]]:
    """(start, end, ASCII digits) of each digit group of a run."""
    return [(run.start() + g.start(), run.start() + g.end(), g.group().translate(_FULL_WIDTH))
            for g in _GROUP.finditer(run.group())]


def _scan(text: str) -> Tuple[List[Card], Set[int]]:
    """The cards of ``text`` (every valid window) and the positions of the characters to mask."""
    cards: List[Card] = []
    masked: Set[int] = set()
    if _HINT.search(text) is None:
        return cards, masked
    for run in _RUN.finditer(text):
        groups = _groups(run)
        for offset in range(0, len(groups), MAX_GROUPS_PER_RUN):
            _windows(text, groups[offset:offset + MAX_GROUPS_PER_RUN + 19], cards, masked)
    return cards, masked


def _windows(text: str, groups: List[Tuple[int, int, str]], cards: List[Card], masked: Set[int]) -> None:
    for i in range(min(len(groups), MAX_GROUPS_PER_RUN)):
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > 19:
                break
            if len(digits) < 13 or not luhn_valid(digits):
                continue
            start, end = groups[i][0], groups[j][1]
            cards.append(Card(start, end, digits))
            seen = 0
            for position in range(start, end):
                if _is_digit(text[position]):
                    if KEEP_FIRST <= seen < len(digits) - KEEP_LAST:
                        masked.add(position)
                    seen += 1
            if j + 1 < len(groups) and 3 <= len(groups[j + 1][2]) <= 4:  # the security code right after it
                masked.update(range(groups[j + 1][0], groups[j + 1][1]))


def find_cards(text: str) -> List[Card]:
    """Every card number in ``text`` (overlapping ones included), in text order."""
    return sorted(set(_scan(text)[0]), key=lambda c: (c.start, c.end))


def might_contain_card(text: str) -> bool:
    """Cheap pre-check: False if ``text`` cannot hold a card number (fewer than 13 digits close together)."""
    return _HINT.search(text) is not None


def mask_card_number(number: str) -> str:
    """Keep the first 6 and last 4 digits and every separator; the other digits become '*'."""
    digits = [i for i, char in enumerate(number) if _is_digit(char)]
    hidden = set(digits[KEEP_FIRST:len(digits) - KEEP_LAST])
    return "".join(MASK_CHAR if i in hidden else char for i, char in enumerate(number))


def mask_cards(text: str) -> str:
    """``text`` with every card number and security code masked ("4111 1111 1111 1111 123" ->
    "4111 11** **** 1111 ***"), and mainland mobile and resident ID numbers ("138****5678", common/pii_zh.py).
    Nothing else changes, so the length stays the same. A text that holds none is returned as it is (the
    same object)."""
    if not isinstance(text, str):
        return text
    _, masked = _scan(text)
    masked |= zh_mask_positions(text)
    if _CODE_HINT.search(text):
        for code in _NAMED_CODE.finditer(text):
            masked.update(range(code.start(1), code.end(1)))
    if not masked:
        return text
    return "".join(MASK_CHAR if i in masked else char for i, char in enumerate(text))
