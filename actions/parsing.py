"""Small typed functions that read what the customer typed."""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Optional

ORDER_NUMBER = re.compile(r"(?<!\d)(\d{8})(?!\d)")
_SPACES = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _plain(value: str) -> str:
    """NFKC: full-width digits, letters and punctuation of Chinese input methods become ASCII ("１２" -> "12")."""
    return unicodedata.normalize("NFKC", value)


def order_number_from(value: Any) -> Optional[str]:
    """The 8-digit order number in `value` ("#1023 4567" and "order 10234567." both work), else None."""
    if value is None:
        return None
    text = _plain(str(value))
    match = ORDER_NUMBER.search(text)
    if match:
        return match.group(1)
    digits = re.sub(r"[\s\-#]", "", text)
    return digits if re.fullmatch(r"\d{8}", digits) else None


def address_from(value: Any) -> Optional[str]:
    """A postal address: 10-200 characters (6 when written in Chinese, "杭州文三路100号") with at least one letter
    and one digit, whitespace folded, full-width characters made plain."""
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", _plain(value)).strip()
    if not (6 if _HAN.search(text) else 10) <= len(text) <= 200:
        return None
    if not re.search(r"[^\W\d_]", text) or not re.search(r"\d", text):
        return None
    return text


def reason_from(value: Any) -> Optional[str]:
    """A return reason: 3-300 characters of free text (2 in Chinese: "坏了")."""
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", _plain(value)).strip()
    return text if (2 if _HAN.search(text) else 3) <= len(text) <= 300 else None


SKIPPED = "skipped"  # the survey rating the customer chose not to give
_RATING_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}
_RATING_ZH = re.compile(r"([一二三四五])\s*(?:颗星|星|分)")
_RATING = re.compile(r"(?<![\d.])([1-5])(?:\s*(?:/|out of|of)\s*5)?(?![\d.])")


def rating_from(value: Any) -> Optional[str]:
    """A satisfaction rating "1".."5" from "4", "4/5", "four stars", "I'd say 5", "五星", "给４分"; SKIPPED passes through;
    None when the text holds no single rating (or several different ones)."""
    if not isinstance(value, str):
        return None
    text = _plain(value).strip().lower()
    if text == SKIPPED:
        return SKIPPED
    found = {m.group(1) for m in _RATING.finditer(text)}
    found |= {digit for word, digit in _RATING_WORDS.items() if re.search(rf"\b{word}\b", text)}
    found |= {str("一二三四五".index(m.group(1)) + 1) for m in _RATING_ZH.finditer(text)}
    return found.pop() if len(found) == 1 else None
