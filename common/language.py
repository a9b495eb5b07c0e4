"""The language of a customer message: "zh" (Simplified Chinese), "en" (English) or undecided.

Used by the NLU component ``bot.nlu.language.LanguageDetector``, which turns the answer into the
``language`` entity (and so the ``language`` slot that picks the responses' variation).

Only the script decides, never a word list: Han characters mean Chinese, Latin words mean English.
A message too short to say (``"好的"``, ``"ok"``, ``"hello"``, ``"👍"``, an order number) is
undecided, so the conversation keeps the language it has: bilingual customers answer a Chinese
conversation with "ok" or "hello", and an English one with a copied Chinese product name. A first
message that is undecided ("你好" with no page language) leaves the slot unset, which means English;
the widget's page language (message metadata) covers that case.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

LANGUAGES = ("en", "zh")

# CJK Unified Ideographs (with extension A, compatibility ideographs and the supplementary planes).
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
# Hiragana and katakana: Japanese, which this assistant does not speak.
_KANA = re.compile("[\u3040-\u30ff]")
# A Latin word: letters (ASCII and accented) not glued to digits, so "BC12345" is no word.
_LATIN_WORD = re.compile("(?<![0-9A-Za-z\u00c0-\u024f])[A-Za-z\u00c0-\u024f]+(?![0-9A-Za-z\u00c0-\u024f])")

# At least this many Han characters make a message Chinese ("好的", "谢谢", "你好" are 2: undecided).
MIN_HAN = 3
# At least this many Latin words make a message English ("ok", "hello", "thanks" are 1: undecided).
MIN_LATIN_WORDS = 2
# A Chinese word is about 1.5 characters: mixed text goes to the script with more words
# ("我的订单10234568还没到 where is it" is Chinese, "I ordered the 小米手环 and it broke" English).
HAN_PER_WORD = 1.5


def has_han(text: object) -> bool:
    """Whether ``text`` holds a Han character (the text is, at least partly, Chinese)."""
    return isinstance(text, str) and _HAN.search(text) is not None


def detect(text: str) -> Optional[str]:
    """"zh", "en", or None when the text is too short or has no decisive script.

    Full-width letters are read as their ASCII twins (NFKC). Any kana: None (Japanese).
    """
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text)
    if _KANA.search(text):
        return None
    han = len(_HAN.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if han >= MIN_HAN and han >= HAN_PER_WORD * words:
        return "zh"
    if words >= MIN_LATIN_WORDS and HAN_PER_WORD * words > han:
        return "en"
    return None


def normalise(code: object) -> Optional[str]:
    """A language code from metadata as "zh"/"en" ("zh-CN", "zh_Hans", "EN-us" too), else None."""
    if not isinstance(code, str):
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return base if base in LANGUAGES else None


def choose(text: str, metadata_language: object = None) -> Optional[str]:
    """The message's language: the text's when decisive, else the channel's or page's (metadata).

    None means "keep the conversation's language" (the slot is left as it is).
    """
    return detect(text) or normalise(metadata_language)
