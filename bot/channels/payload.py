"""Checks on what a channel receives: pure functions, one error type with a status and a clear message."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

from common.pii import mask_cards, mask_cards_in

MAX_MESSAGE_CHARS = int(os.environ.get("MAX_MESSAGE_CHARS", "2000"))
MAX_BODY_BYTES = 4 * MAX_MESSAGE_CHARS + 16_384
MAX_METADATA_DEPTH = 32
"""How deeply metadata may nest: far more than any client needs, far less than what breaks Rasa's
deep copies and JSON encoding of the tracker (Python's recursion limit)."""
SENDER_PATTERN = re.compile(r"^[A-Za-z0-9_.:@\-]{1,128}$")
MESSAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{8,64}$")


class InvalidPayload(ValueError):
    """The request cannot be processed; `status` is the HTTP status, `code` a stable error name."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_json(self) -> Dict[str, str]:
        return {"error": self.code, "message": self.message}


class _TooDeep:
    def __repr__(self) -> str:
        return "TOO_DEEP"


TOO_DEEP: Any = _TooDeep()
"""What the socket.io channel hands a handler in place of event data nested too deeply to decode."""


@dataclass(frozen=True)
class IncomingMessage:
    sender: str
    text: str
    metadata: Optional[Dict[str, Any]]
    message_id: Optional[str] = None  # the client's id of the message (bot/channels/once.py)


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidPayload(400, "invalid_message", "'message' must be a string")
    text = text.strip()
    if not text:
        raise InvalidPayload(400, "empty_message", "'message' is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidPayload(413, "message_too_long",
                             f"'message' has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
    if "\x00" in text:
        raise InvalidPayload(400, "invalid_message", "'message' contains a NUL character")
    return mask_cards(text)  # after the checks: a full card number never reaches the tracker or the logs


def check_sender(sender: Any) -> str:
    if sender is None:
        raise InvalidPayload(400, "missing_sender", "'sender' is required: a conversation id chosen by the client")
    if not isinstance(sender, str) or not SENDER_PATTERN.match(sender):
        raise InvalidPayload(400, "invalid_sender",
                             "'sender' must be 1-128 characters of letters, digits and _ . : @ -")
    return sender


def check_message_id(value: Any) -> Optional[str]:
    """The client's id of a message (None: it sent none): 8-64 characters of letters, digits and _ . : -"""
    if value is None:
        return None
    if not isinstance(value, str) or not MESSAGE_ID_PATTERN.match(value):
        raise InvalidPayload(400, "invalid_message_id",
                             "'message_id' must be 8-64 characters of letters, digits and _ . : -")
    return value


def _too_deep(what: str = "'metadata'") -> InvalidPayload:
    return InvalidPayload(400, "too_deep", f"{what} nests deeper than {MAX_METADATA_DEPTH} levels")


def check_depth(value: Any, limit: int = MAX_METADATA_DEPTH) -> None:
    """Raise InvalidPayload (400) if dicts and lists nest deeper than ``limit``; walks with an explicit stack,
    so no input can raise RecursionError here."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            if depth >= limit:
                raise _too_deep()
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def check_metadata(metadata: Any) -> Optional[Dict[str, Any]]:
    if metadata is None:
        return None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except RecursionError:
            raise _too_deep() from None
        except ValueError:
            raise InvalidPayload(400, "invalid_metadata", "'metadata' is not valid JSON") from None
    if not isinstance(metadata, dict):
        raise InvalidPayload(400, "invalid_metadata", "'metadata' must be a JSON object")
    check_depth(metadata)
    return mask_cards_in(metadata)  # metadata is stored with the message in the tracker


def parse_rest_body(body: bytes, content_length_limit: int = MAX_BODY_BYTES) -> IncomingMessage:
    """Parse and check a REST channel request body: {"sender": str, "message": str, "metadata"?: {},
    "message_id"?: str}."""
    if len(body) > content_length_limit:
        raise InvalidPayload(413, "body_too_large",
                             f"the request body has {len(body)} bytes; the limit is {content_length_limit}")
    if not body.strip():
        raise InvalidPayload(400, "empty_body", "the request body is empty; send a JSON object")
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayload(400, "invalid_utf8", f"the request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(decoded)
    except RecursionError:
        raise _too_deep("the request body") from None
    except ValueError as exc:
        raise InvalidPayload(400, "invalid_json", f"the request body is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidPayload(400, "invalid_json", "the request body must be a JSON object")
    return IncomingMessage(check_sender(data.get("sender")), check_text(data.get("message")),
                           check_metadata(data.get("metadata")), check_message_id(data.get("message_id")))


def parse_socketio_message(data: Any) -> IncomingMessage:
    """Check a socket.io `user_uttered` event: {"message": str, "session_id": str, "customData"?: {},
    "message_id"?: str}."""
    if data is TOO_DEEP:
        raise _too_deep("the event data")
    if not isinstance(data, dict):
        raise InvalidPayload(400, "invalid_event", "the event data must be an object")
    session_id = data.get("session_id")
    if session_id is None:
        raise InvalidPayload(400, "missing_session", "no session_id: send session_request first")
    return IncomingMessage(check_sender(session_id), check_text(data.get("message")),
                           check_metadata(data.get("customData")), check_message_id(data.get("message_id")))
