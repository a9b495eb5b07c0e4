"""Customer tags (VIP tier, lifetime orders, open tickets) that the shop vouches for.

The shop's web page (or IM bridge) gets a short-lived token from the shop's back end: a JWT
signed with HS256 and the shared secret ``CUSTOMER_TOKEN_SECRET``, with claims
``sub`` (customer id), ``vip_tier``, ``lifetime_orders``, ``open_tickets`` and ``exp``. The widget
sends it as message metadata ``customer_token``. The channel replaces any ``customer`` key
the client sent by the verified claims, or drops it, so the action server can trust
``metadata.customer``. What a customer types (``/human_handoff{"vip_tier":"gold"}``) never
becomes a tag.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional

import jwt

logger = logging.getLogger(__name__)

TOKEN_KEY = "customer_token"
TAGS_KEY = "customer"
TIERS = ("none", "silver", "gold", "platinum")
SECRET_ENV = "CUSTOMER_TOKEN_SECRET"


def verified_tags(token: Any, secret: Optional[str]) -> Optional[Dict[str, Any]]:
    """The tags in a valid, unexpired token signed with ``secret``; None otherwise (never raises)."""
    if not secret or not isinstance(token, str) or len(token) > 4096:
        return None
    options = {"require": ["exp", "sub"]}
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options=options)
    except jwt.PyJWTError as e:
        logger.info("customer token refused: %s", e)
        return None
    tier = str(claims.get("vip_tier") or "none").lower()
    tags: Dict[str, Any] = {"id": str(claims["sub"]), "vip_tier": tier if tier in TIERS else "none"}
    for key in ("lifetime_orders", "open_tickets"):
        value = claims.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            tags[key] = value
    return tags


IDENTITY_LEEWAY_SECONDS = 12 * 3600
"""How long after its ``exp`` a token still names who is signed in on the page, for binding a web chat to its
customer (bot/identity.py): a widget that reconnects with the token of its page load keeps its conversation.
Tags are only ever taken from an unexpired token."""


def signed_in_customer(token: Any, secret: Optional[str] = None) -> Optional[str]:
    """The customer id (``sub``) of a genuinely signed token, expired less than IDENTITY_LEEWAY_SECONDS ago;
    None for a guest, a forged or an old token (never raises)."""
    secret = secret if secret is not None else os.environ.get(SECRET_ENV)
    if not secret or not isinstance(token, str) or len(token) > 4096:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]},
                            leeway=IDENTITY_LEEWAY_SECONDS)
    except jwt.PyJWTError:
        return None
    return str(claims["sub"])


def with_verified_customer(metadata: Optional[Dict[str, Any]], secret: Optional[str] = None) -> Dict[str, Any]:
    """Metadata whose ``customer`` key is the verified token's tags, or absent. The token itself is dropped."""
    metadata = dict(metadata or {})
    token = metadata.pop(TOKEN_KEY, None)
    metadata.pop(TAGS_KEY, None)
    tags = verified_tags(token, secret if secret is not None else os.environ.get(SECRET_ENV))
    if tags is not None:
        metadata[TAGS_KEY] = tags
    return metadata
