"""Whose order it is: the customer a conversation is verified as, and the guest check (pure helpers).

A customer is known in two ways only:
- signed in: the shop's signed customer token names them (``sub``); the channel checks it and puts the
  claims in the message metadata (bot/channels/customer.py), read here from the tracker's user events;
- guest: they proved one order by giving the e-mail address or the postcode on it (the form slot
  ``order_verification``); the orders proved so far are in the slot ``verified_orders``.

A guest has ORDER_VERIFICATION_ATTEMPTS wrong answers per conversation (default 3, slot
``order_verification_failures``); then the bot stops asking and offers a person.
"""
from __future__ import annotations

import hmac
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Optional

from actions.signals import current_session, customer_tags

MAX_ATTEMPTS = int(os.environ.get("ORDER_VERIFICATION_ATTEMPTS", "3"))
VERIFIED = "verified"  # the value of slot order_verification once the answer matched
FAILED = "failed"  # ... once the attempts ran out (the form ends; the action offers a person)
_EMAIL = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+\.[^\s@<>()\"',;:]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class VerifiedCustomer:
    """Who the conversation may act for: the signed-in customer's id, and the orders a guest proved."""

    customer_id: Optional[str] = None
    verified_orders: FrozenSet[str] = frozenset()

    @property
    def signed_in(self) -> bool:
        return self.customer_id is not None

    def owns(self, order_number: str, order_customer_id: Optional[str]) -> bool:
        """Whether this customer may see and change the order `order_number` of `order_customer_id`."""
        if self.customer_id is not None and order_customer_id is not None and \
                hmac.compare_digest(self.customer_id.encode(), order_customer_id.encode()):
            return True
        return order_number in self.verified_orders


def verified_orders_from(value: Any) -> FrozenSet[str]:
    """The slot `verified_orders` as a set of order numbers (anything malformed counts as none)."""
    if not isinstance(value, (list, tuple)):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str))


def customer_of(events: Iterable[Dict[str, Any]], verified_orders: Any = None) -> VerifiedCustomer:
    """The verified customer of a conversation: the signed token's id from the current session's
    messages (only the channel writes it), and the orders proved by the guest check."""
    tags = customer_tags(current_session(list(events)))
    customer_id = tags.get("id")
    return VerifiedCustomer(str(customer_id) if customer_id else None, verified_orders_from(verified_orders))


def failures_from(value: Any) -> int:
    """The slot `order_verification_failures` as a count."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def locked(failures: Any, limit: int = MAX_ATTEMPTS) -> bool:
    """Whether the guest check is used up for this conversation."""
    return failures_from(failures) >= limit


def _normal(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).casefold()


def answer_matches(answer: Any, email: Optional[str], postcode: Optional[str]) -> bool:
    """Whether the customer's answer is the order's e-mail address or postcode (case, spaces and full-width
    characters ignored; an e-mail inside a sentence counts). Compared in constant time."""
    if not isinstance(answer, str) or not answer.strip():
        return False
    candidates: List[str] = [_normal(answer), *(_normal(m) for m in _EMAIL.findall(answer))]
    expected = [_normal(v) for v in (email, postcode) if v]
    matched = False
    for given in candidates:
        for value in expected:
            matched |= hmac.compare_digest(given.encode(), value.encode())
    return matched
