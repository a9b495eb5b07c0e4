"""Chinese personal data in free text: mainland mobile numbers and 18-digit resident ID numbers, found and masked.

Plain regular expressions, no spaCy (Chinese text has no spaces, so token patterns would see one long token).
Digits may be ASCII or full-width (U+FF10-U+FF19, as Chinese input methods type them); the masked text keeps
its length and its separators, like common/cards.py does for card numbers (which already handle full-width
digits and Chinese spaces/dashes: bank cards of Chinese customers need nothing else).

``MOBILE``  mainland mobile numbers: 1[3-9] + 9 digits ("13812345678"), in groups 3-4-4 separated by one
            space or hyphen ("138 1234 5678", "138-1234-5678"), optionally after +86 / 86 / 0086 (with or
            without a space or hyphen: "+86 138 1234 5678", "0086-13812345678"). Masked keeping the first 3
            and last 4 digits ("138****5678"), as Chinese shops and apps show them. The country code stays.
``RESIDENT_ID``  18-digit resident identity card numbers (居民身份证号码, GB 11643-1999): 17 digits + a digit
            or X, whose last character is the ISO 7064 MOD 11-2 check character of the first 17. Masked keeping
            the first 6 (the region) and the last 4, like card numbers ("110101********123X").

Why a wrong check character is not masked: 18-digit runs are common in shop text that is not personal
(tracking numbers, payment transaction ids, logistics waybills), and masking them would hide what the
customer and the agent need to talk about. One random 18-digit number in 11 passes the check, so a real ID
typed with one wrong digit is left visible: that is the price of not masking every long number. (A run that
is a Luhn-valid card number is still masked by common/cards.py.)

A number that continues into more digits, or follows Latin letters (a waybill such as "SF13812345678"), is not taken: "138123456789" (12 digits) is no
mobile number and an order number ("10234568", 8 digits) is never either kind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Set

MOBILE = "MOBILE"
RESIDENT_ID = "RESIDENT_ID"
MASK_CHAR = "*"

_D = "0-9\uff10-\uff19"
_FULL_WIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})
_SEP = r"[ \u3000\-\u2010-\u2015\uff0d]"  # one space (also ideographic) or hyphen/dash between groups
_ONE = r"[1\uff11]"
_MOBILE = re.compile(
    rf"(?<![{_D}+A-Za-z])"  # not inside a longer number or a code ("SF13812345678" is a waybill)
    rf"(?P<cc>(?:\+|\uff0b|00|\uff10\uff10)?(?:86|\uff18\uff16)(?:{_SEP}|[ ]?)?)?"
    rf"(?P<number>{_ONE}[3-9\uff13-\uff19][{_D}](?P<s1>{_SEP}?)[{_D}]{{4}}(?P=s1)[{_D}]{{4}})"
    rf"(?![{_D}])"
)
_ID = re.compile(rf"(?<![{_D}A-Za-z])[{_D}]{{17}}[{_D}Xx\uff38\uff58](?![{_D}A-Za-z])")
# Runs of 11+ digits, signs and separators: the only places the patterns above are tried (a plain character
# class: cheap on any text, so log lines with dates and times cost little more than before).
_HINT = re.compile(rf"[{_D}+\uff0b][{_D} \u3000\-\u2010-\u2015\uff0d]{{9,}}[{_D}Xx\uff38\uff58]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class ZhPii:
    """One mobile number or ID number: ``text[start:end]`` (a mobile's country code not included)."""

    label: str
    start: int
    end: int


def ascii_digits(text: str) -> str:
    """Full-width digits and X as ASCII (other characters unchanged)."""
    return text.translate(_FULL_WIDTH).replace("\uff38", "X").replace("\uff58", "x")


def resident_id_valid(number: str) -> bool:
    """True if an 18-character ID number's last character is the ISO 7064 MOD 11-2 check of the first 17."""
    number = ascii_digits(number).upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17]


def find_zh_pii(text: str) -> List[ZhPii]:
    """The mainland mobile numbers and valid resident ID numbers in ``text``, in text order."""
    if not isinstance(text, str):
        return []
    found = []
    for run in _HINT.finditer(text):
        start, end = run.span()
        found += [ZhPii(RESIDENT_ID, m.start(), m.end()) for m in _ID.finditer(text, start, end)
                  if resident_id_valid(m.group())]
        for m in _MOBILE.finditer(text, start, end):
            if m.group("cc") is None and m.start() and text[m.start() - 1] in "-\u2010\u2011\uff0d":
                continue  # "0755-13812345678"? rare; "2026-13..." more likely a code: keep it visible
            found.append(ZhPii(MOBILE, m.start("number"), m.end("number")))
    return sorted(found, key=lambda e: e.start)


def _positions(text: str, entity: ZhPii) -> Set[int]:
    keep_first, keep_last = (3, 4) if entity.label == MOBILE else (6, 4)
    digits = [i for i in range(entity.start, entity.end) if not text[i].isspace() and text[i] not in "-\u2010\u2011"
              "\u2012\u2013\u2014\u2015\uff0d"]
    return set(digits[keep_first:len(digits) - keep_last])


def zh_mask_positions(text: str) -> Set[int]:
    """The character positions of ``text`` that masking hides (see the module docstring)."""
    out: Set[int] = set()
    for entity in find_zh_pii(text):
        out |= _positions(text, entity)
    return out


def mask_zh_pii(text: str) -> str:
    """``text`` with mobile and ID numbers masked; the same object when there is none."""
    hidden = zh_mask_positions(text)
    if not hidden:
        return text
    return "".join(MASK_CHAR if i in hidden else c for i, c in enumerate(text))
