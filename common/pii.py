"""Personal data in customer text: found with spaCy token patterns; payment card numbers masked.

Every process uses this module: the Rasa channels mask card numbers before a message reaches the
tracker (bot/channels/payload.py), the action server and the handoff service mask transcripts and
the documents they write, and :func:`install_card_masking` (common/logs.py) masks the log lines of a
process and escapes their control characters. Card numbers and security codes are found by
common/cards.py (plain regular expressions, any grouping, full-width digits); the other labels here.

What is found (labels of :class:`PiiEntity`):

``ORDER_NUMBER``  our order numbers: 8 digits starting with 10 ("10234567", "#10234567", "1023 4567").
``EMAIL``         e-mail addresses (spaCy's ``LIKE_EMAIL``).
``PHONE``         "+49 30 1234567", "+1 (555) 123-4567", "0049 30 1234567", "0151 23456789",
                  "(030) 1234567", "555-123-4567"; never a bare 8-digit order number, a date, a price
                  or a card number. Mainland Chinese mobile numbers ("138 1234 5678", "+86 13812345678") come
                  from common/pii_zh.py (18-digit resident ID numbers are masked there but are no entity here).
``CARD``          payment card numbers: 13-19 digits that pass the Luhn check, in one run or in groups of
                  any size separated by spaces, hyphens or dots (common/cards.py).
``ERROR_CODE``    "PMT-4031", "APP-112", "E1234", and the code of "error 503" / "HTTP 502" ("503").

How: a ``spacy.blank("en")`` tokeniser (no model; two extra infix rules so that "card:4111",
"order#10234567" and "(555)123-4567" split into tokens) and a :class:`spacy.matcher.Matcher`
whose token patterns (REGEX, ORTH, LOWER, LIKE_EMAIL) propose candidates. Checks that token
patterns cannot express (digit counts, balanced brackets, a number not being part of a
longer run of digit groups) are applied to the candidates in Python. An ``EntityRuler`` is not
used because it would accept a candidate before these checks.

The pipeline is built lazily, once per process (about 0.1 s, plus importing spaCy), behind a lock;
calls are serialised by that lock, which costs nothing under the GIL. spaCy adds every new token
string to the vocabulary for good, so the pipeline is rebuilt after :data:`MAX_STRINGS` strings to
keep a long-running process from growing without bound.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, Optional, Sequence, Tuple

from common.cards import KEEP_FIRST, KEEP_LAST, MASK_CHAR, luhn_valid, mask_card_number, mask_cards  # noqa: F401
from common.cards import find_cards as _find_card_windows
from common.cards import might_contain_card  # noqa: F401
from common.pii_zh import MOBILE, find_zh_pii

if TYPE_CHECKING:  # spaCy is imported when the first text needs it, not when this module is.
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.tokens import Doc, Span, Token

ORDER_NUMBER = "ORDER_NUMBER"
EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
ERROR_CODE = "ERROR_CODE"
LABELS = (ORDER_NUMBER, EMAIL, PHONE, CARD, ERROR_CODE)

MAX_STRINGS = 200_000
"""Rebuild the pipeline once its string store holds this many strings (a few tens of MB)."""

# Extra tokeniser infixes: split "card:4111" / "order#10234567" / "tel:+4930..." before a number,
# and brackets or a slash between digits ("+49(0)30", "(555)123-4567", "030/1234567").
_EXTRA_INFIXES = (r"(?<=[A-Za-z])[:#](?=[+0-9])", r"(?<=[0-9])[()/](?=[0-9])")

_DIGITS = re.compile(r"[0-9]")
_ORDER_IN_TOKEN = re.compile(r"(?<![0-9A-Za-z])10[0-9]{6}(?![0-9A-Za-z])(?![.,][0-9])")


@dataclass(frozen=True)
class PiiEntity:
    """One piece of personal data: its label, its text, and where it is (``text[start_char:end_char]``)."""

    label: str
    text: str
    start_char: int
    end_char: int


# ---------------------------------------------------------------------------------------------
# Token patterns


def _digits(low: int, high: int) -> dict:
    return {"TEXT": {"REGEX": rf"^[0-9]{{{low},{high}}}$"}}


def _optional(*orths: str) -> dict:
    return {"ORTH": {"IN": list(orths)}, "OP": "?"} if len(orths) > 1 else {"ORTH": orths[0], "OP": "?"}


# After a country code: tokens of digits, brackets and separators ("(", "555", ")", "123", "-",
# "4567"). Candidates longer than _MAX_PHONE_TOKENS are dropped before any check, so a long run of
# numbers costs linear time. (Nine optional tokens instead of "+" made every message 5x slower.)
_PHONE_BODY = {"TEXT": {"REGEX": r"^(?:[0-9]{1,9}|[()\-/.])$"}, "OP": "+"}
_MAX_PHONE_TOKENS = 12

_OTHER_PATTERNS = {
    EMAIL: [[{"LIKE_EMAIL": True}]],
    ORDER_NUMBER: [
        [_optional("#"), {"TEXT": {"REGEX": _ORDER_IN_TOKEN.pattern}}],
        [_optional("#"), {"TEXT": {"REGEX": r"^10[0-9]{2}$"}}, _optional("-"), _digits(4, 4)],
    ],
    PHONE: [
        # international: "+49 30 1234567", "+1 (555) 123-4567", "+49 (0)30 1234567", "0049 30 1234567"
        [{"TEXT": {"REGEX": r"^(?:\+|00)[1-9][0-9]{0,2}$"}}, _PHONE_BODY],
        [{"TEXT": {"REGEX": r"^\+[1-9][0-9]{6,14}$"}}],
        # national with a trunk 0: "0151 23456789", "030-1234567", "(030) 1234567", "020 7946 0958"
        [_optional("("), {"TEXT": {"REGEX": r"^0[1-9][0-9]{1,3}$"}}, _optional(")"), _optional("-", "/"),
         _digits(3, 9), _optional("-"), {"TEXT": {"REGEX": r"^[0-9]{2,5}$"}, "OP": "?"}],
        [{"TEXT": {"REGEX": r"^0[1-9][0-9]{8,10}$"}}],
        # North American: "555-123-4567", "(555) 123-4567", "1-800-555-0199", "555.123.4567"
        [{"ORTH": "1", "OP": "?"}, _optional("-"), _optional("("), _digits(3, 3), _optional(")"),
         _optional("-", "."), _digits(3, 3), _optional("-", "."), _digits(4, 4)],
        [{"TEXT": {"REGEX": r"^[0-9]{3}\.[0-9]{3}\.[0-9]{4}$"}}],
    ],
    ERROR_CODE: [
        [{"TEXT": {"REGEX": r"^(?:[A-Za-z]{2,5}|[A-Z])-[0-9]{3,6}$"}}],  # PMT-4031, APP-112, E-1234
        [{"TEXT": {"REGEX": r"^[A-Z]{1,3}[0-9]{3,5}$"}}],  # E1234, ERR503
        # "error 503", "HTTP 502", "error code: 503", "HTTP status 502": the code is the last token
        [{"LOWER": {"IN": ["error", "err", "http", "fehler", "fehlercode"]}},
         {"LOWER": {"IN": ["code", "status"]}, "OP": "?"}, _optional(":", "#"), _digits(3, 5)],
    ],
}

# Overlaps: an e-mail or a card number wins; among the others the longer span, then this order.
_PRIORITY = {EMAIL: 0, CARD: 0, ORDER_NUMBER: 1, PHONE: 2, ERROR_CODE: 3}


class _Pipeline:
    """The tokeniser and the matchers; used only under :data:`_lock`."""

    def __init__(self) -> None:
        import spacy
        from spacy.matcher import Matcher
        from spacy.util import compile_infix_regex

        self.nlp: Language = spacy.blank("en")
        infixes = list(self.nlp.Defaults.infixes or ()) + list(_EXTRA_INFIXES)
        self.nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
        self.others: Matcher = Matcher(self.nlp.vocab)
        for label, patterns in _OTHER_PATTERNS.items():
            self.others.add(label, patterns)
        self.baseline = len(self.nlp.vocab.strings)

    def worn_out(self) -> bool:
        return len(self.nlp.vocab.strings) - self.baseline > MAX_STRINGS


_pipeline: Optional[_Pipeline] = None
_lock = threading.RLock()


def _run(text: str) -> List[PiiEntity]:
    global _pipeline
    with _lock:
        if _pipeline is None or _pipeline.worn_out():
            _pipeline = _Pipeline()
        pipe = _pipeline
        doc = pipe.nlp.make_doc(text)
        strings = pipe.nlp.vocab.strings
        return _others(doc, [(strings[m], s, e) for m, s, e in pipe.others(doc)])


def warm_up() -> None:
    """Import spaCy and build the pipeline now, so that the first message does not wait for it."""
    _run("4111 1111 1111 1111 +49 30 1234567")


# ---------------------------------------------------------------------------------------------
# Checks on candidates


def _touches_digits(text: str, start: int, end: int, through_space: bool) -> bool:
    """Whether text[start:end] continues a number: a digit right next to it, or one behind a hyphen
    (or, with ``through_space``, a single space), as in the groups "4111 1023 4567 1111"."""
    seps = " -" if through_space else "-"
    before, after = text[max(0, start - 2):start], text[end:end + 2]
    if before[-1:].isdigit() or after[:1].isdigit():
        return True
    if len(before) == 2 and before[1] in seps and before[0].isdigit():
        return True
    return len(after) == 2 and after[0] in seps and after[1].isdigit()


def _groups_well_separated(tokens: Sequence[Token]) -> bool:
    """Digit groups separated by exactly one space, or by a hyphen with no space around it."""
    for previous, token in zip(tokens, tokens[1:]):
        if token.text == "-" or previous.text == "-":
            if previous.whitespace_:
                return False
        elif previous.whitespace_ != " ":
            return False
    return True


def _phone_ok(tokens: Sequence[Token]) -> bool:
    """Brackets balanced around digits, separators between digits, the last token digits."""
    open_bracket, previous = False, ""
    for token in tokens:
        kind = "digits" if token.text[-1:].isdigit() else token.text
        if kind == "(":
            if open_bracket or previous == "(":
                return False
            open_bracket = True
        elif kind == ")":
            if not open_bracket or previous != "digits":
                return False
            open_bracket = False
        elif kind != "digits" and previous not in ("digits", ")"):
            return False
        previous = kind
    return not open_bracket and previous == "digits"


def _phone(doc: Doc, span: Span) -> Optional[PiiEntity]:
    tokens = list(span)
    if any(t.whitespace_ and t.text in "-/." for t in tokens[:-1]) or not _phone_ok(tokens):
        return None
    digits = len(_DIGITS.findall(span.text))
    first = tokens[0].text
    if first.startswith(("+", "00")):
        if not 7 <= digits - (2 if first.startswith("00") else 0) <= 15:
            return None
    elif not 9 <= digits <= 13:  # national: "030 1234567" (10), "0151 23456789" (12), NANP (10/11)
        return None
    if _touches_digits(doc.text, span.start_char, span.end_char, through_space=True):
        return None
    if span.start_char and doc.text[span.start_char - 1] in "+#":
        return None
    return PiiEntity(PHONE, span.text, span.start_char, span.end_char)


def _order_number(doc: Doc, span: Span) -> Optional[PiiEntity]:
    if span[0].text == "#" and span[0].whitespace_:
        return None
    if len(span) - (span[0].text == "#") == 1:  # one token: the number may sit inside it ("nr.10234567")
        token = span[-1]
        match = _ORDER_IN_TOKEN.search(token.text)
        if match is None:
            return None
        start, end = token.idx + match.start(), token.idx + match.end()
        if span[0].text == "#" and match.start() == 0:
            start = span.start_char
        if _touches_digits(doc.text, start, end, through_space=False):
            return None
        return PiiEntity(ORDER_NUMBER, doc.text[start:end], start, end)
    if not _groups_well_separated([t for t in span if t.text != "#"]):
        return None
    if _touches_digits(doc.text, span.start_char, span.end_char, through_space=True):
        return None
    return PiiEntity(ORDER_NUMBER, span.text, span.start_char, span.end_char)


def _others(doc: Doc, matches: Iterable[Tuple[str, int, int]]) -> List[PiiEntity]:
    found: List[PiiEntity] = []
    for label, start, end in matches:
        span = doc[start:end]
        entity: Optional[PiiEntity] = None
        if label == EMAIL:
            entity = PiiEntity(EMAIL, span.text, span.start_char, span.end_char)
        elif label == ORDER_NUMBER:
            entity = _order_number(doc, span)
        elif label == PHONE and len(span) <= _MAX_PHONE_TOKENS:
            entity = _phone(doc, span)
        elif label == ERROR_CODE:
            code = span[-1]
            if not _touches_digits(doc.text, code.idx, code.idx + len(code), through_space=False):
                entity = PiiEntity(ERROR_CODE, code.text, code.idx, code.idx + len(code))
        if entity is not None:
            found.append(entity)
    return found


def _resolve(candidates: List[PiiEntity]) -> List[PiiEntity]:
    """Non-overlapping entities in text order; see :data:`_PRIORITY`."""
    ranked = sorted(set(candidates), key=lambda e: (_PRIORITY[e.label] > 0, e.start_char - e.end_char,
                                                    _PRIORITY[e.label], e.start_char))
    taken: List[PiiEntity] = []
    for entity in ranked:
        if all(entity.end_char <= t.start_char or entity.start_char >= t.end_char for t in taken):
            taken.append(entity)
    return sorted(taken, key=lambda e: e.start_char)


# ---------------------------------------------------------------------------------------------
# Public API


def find_entities(text: str) -> List[PiiEntity]:
    """The personal data in ``text``, in text order, without overlaps."""
    if not text:
        return []
    mobiles = [PiiEntity(PHONE, text[e.start:e.end], e.start, e.end) for e in find_zh_pii(text) if e.label == MOBILE]
    return _resolve(_run(text) + find_cards(text) + mobiles)


def find_cards(text: str) -> List[PiiEntity]:
    """The card numbers in ``text`` (Luhn-valid), in text order, without overlaps."""
    return _resolve([PiiEntity(CARD, text[c.start:c.end], c.start, c.end) for c in _find_card_windows(text)])


_CONTAINERS = (dict, list, tuple)


def mask_cards_in(obj: Any) -> Any:
    """A copy of ``obj`` with card numbers masked in every string (also keys) of nested dicts,
    lists and tuples; anything else is returned as it is. The input is not changed.

    Walks the tree with an explicit stack, so that deeply nested JSON from a client cannot raise
    RecursionError. The data must be a tree (JSON is); a container that contains itself never ends.
    """
    if not isinstance(obj, _CONTAINERS):
        return mask_cards(obj) if isinstance(obj, str) else obj

    def leaf(value: Any) -> Any:
        return mask_cards(value) if isinstance(value, str) else value

    def items(node: Any) -> Iterator[Tuple[Any, Any]]:  # (key or None, value)
        return iter(node.items()) if isinstance(node, dict) else ((None, value) for value in node)

    # A frame: [container, its items, the masked (key, value) pairs so far, its key in its parent]
    stack: List[list] = [[obj, items(obj), [], None]]
    while True:
        node, pending, done, _ = frame = stack[-1]
        for key, value in pending:
            if isinstance(value, _CONTAINERS):
                stack.append([value, items(value), [], leaf(key)])
                break
            done.append((leaf(key), leaf(value)))
        else:
            stack.pop()
            if isinstance(node, dict):
                result: Any = dict(done)
            else:
                result = [value for _, value in done]
                if isinstance(node, tuple):
                    result = tuple(result)
            if not stack:
                return result
            stack[-1][2].append((frame[3], result))


from common.logs import CardMaskingFilter, install_card_masking, mask_record  # noqa: E402,F401 (re-exported)
