"""Conversation handles: which conversation a client may read and write.

A client never names a conversation by its bare id. The channel issues a *handle*, the conversation
id followed by ``.`` and an HMAC-SHA256 of it under ``CHAT_SESSION_SECRET`` (22 base64url characters),
and accepts only handles whose signature checks out:

- socket.io: ``session_confirm`` carries the handle; the web-chat widget keeps it and sends it back in
  ``session_request`` to continue the conversation. A missing or forged handle gets a new conversation.
  Messages are written to the conversation bound to the socket, never to the ``session_id`` a message
  names.
- REST: ``sender`` must be a handle. The shop's back end (or an IM bridge) makes them with ``sign``
  for its own ids, or gets a fresh one from ``POST /webhooks/rest/conversations``.

A web-chat handle is also bound to the customer the shop's page signed in (bot/channels/customer.py):
its signature covers the conversation id and the customer id, so on a shared browser the next shopper,
or the same browser signed out, presenting a stored handle gets a new conversation and none of the old
one's history; a guest's handle does not open for a signed-in customer either. Handles without a
customer (REST, guests) are signed over the id alone, as before.

The tracker, the handoff service and agents see only the bare id, so knowing it gives no access.
Every Rasa server of a deployment needs the same secret (the run command generates one into
``.data/secrets.env``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from typing import Optional

SECRET_ENV = "CHAT_SESSION_SECRET"
SIGNATURE_CHARS = 22  # 132 bits
logger = logging.getLogger(__name__)
_fallback: Optional[str] = None


def secret() -> str:
    """The signing secret from the environment; without one, a random one for this process (handles then
    stop working when it restarts, and differ between servers: set CHAT_SESSION_SECRET)."""
    global _fallback
    configured = os.environ.get(SECRET_ENV)
    if configured:
        return configured
    if _fallback is None:
        logger.warning("%s is not set: conversation handles are signed with a random per-process secret",
                       SECRET_ENV)
        _fallback = secrets.token_urlsafe(32)
    return _fallback


def _signature(conversation_id: str, key: str, customer: Optional[str] = None) -> str:
    # A NUL cannot be in a conversation id (the channels refuse it), so "id\0customer" is unambiguous.
    signed = conversation_id if customer is None else f"{conversation_id}\0customer:{customer}"
    digest = hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]


def sign(conversation_id: str, key: Optional[str] = None, customer: Optional[str] = None) -> str:
    """The handle of a conversation id; with ``customer``, one that only that signed-in customer can use."""
    return f"{conversation_id}.{_signature(conversation_id, key or secret(), customer)}"


def verify(handle: Optional[str], key: Optional[str] = None, customer: Optional[str] = None) -> Optional[str]:
    """The conversation id of a genuine handle issued for ``customer`` (None: for no signed-in customer);
    None for anything else (never raises)."""
    if not isinstance(handle, str) or "." not in handle:
        return None
    conversation_id, _, signature = handle.rpartition(".")
    if not conversation_id or len(signature) != SIGNATURE_CHARS:
        return None
    expected = _signature(conversation_id, key or secret(), customer)
    return conversation_id if hmac.compare_digest(expected, signature) else None


def new_handle(key: Optional[str] = None, customer: Optional[str] = None) -> str:
    """A handle for a new conversation (bound to ``customer`` if given)."""
    return sign(uuid.uuid4().hex, key, customer)
