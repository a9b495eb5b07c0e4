"""Who is calling: the bot (a service token) or an agent (an expiring signed session token).

Passwords are hashed with argon2id (argon2-cffi's defaults); only the hash is stored. Agent tokens
are JWTs (HS256, PyJWT) carrying the agent id, role, expiry, a token id (``jti``) and the account's
epoch (``ep``). The signature is checked here; whether the token still counts (the account exists, is
not disabled, has the same epoch, and this token was not logged out) is handoff/access.py's.
"""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("agent", "supervisor")
_hasher = PasswordHasher()
# Verifying against this hash when the account does not exist keeps the timing the same.
_DUMMY_HASH = _hasher.hash("no such account")


class Unauthorized(Exception):
    """No credentials, or invalid or expired ones (HTTP 401)."""


class Forbidden(Exception):
    """Valid credentials that may not do this (HTTP 403)."""


@dataclass(frozen=True)
class Caller:
    kind: str  # "bot" | "agent"
    agent_id: Optional[str] = None
    role: Optional[str] = None  # agent | supervisor
    jti: Optional[str] = None  # the token's id (logout revokes it)
    epoch: Optional[str] = None  # the account's epoch when the token was issued (disabling changes it)
    expires: int = 0  # the token's expiry (epoch seconds)

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


BOT = Caller("bot")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def check_password(password_hash: Optional[str], password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_epoch() -> str:
    """A fresh account epoch: tokens issued under another epoch no longer count."""
    return secrets.token_hex(8)


def issue_token(secret: str, agent_id: str, role: str, ttl_seconds: int, now: Optional[float] = None,
                epoch: str = "") -> tuple:
    """(token, expires_at)."""
    issued = int(now if now is not None else time.time())
    expires = issued + ttl_seconds
    token = jwt.encode({"sub": agent_id, "role": role, "iat": issued, "exp": expires, "typ": "agent",
                        "jti": secrets.token_hex(12), "ep": epoch}, secret, algorithm="HS256")
    return token, expires


def caller_from_header(header: Optional[str], bot_token: str, secret: str) -> Caller:
    """The caller named by an ``Authorization: Bearer ...`` header; Unauthorized otherwise."""
    if not header:
        raise Unauthorized("missing Authorization header (Bearer token)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return caller_from_token(token.strip(), bot_token, secret)


def caller_from_token(token: str, bot_token: str, secret: str) -> Caller:
    try:  # header bytes that are not UTF-8 reach us as surrogate escapes
        raw = token.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise Unauthorized("invalid token") from None
    if hmac.compare_digest(raw, bot_token.encode()):
        return BOT
    try:
        claims = jwt.decode(raw, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired: log in again") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid token") from None
    if claims.get("typ") != "agent" or claims["role"] not in ROLES:
        raise Unauthorized("invalid token")
    return Caller("agent", str(claims["sub"]), str(claims["role"]), str(claims.get("jti") or "") or None,
                  str(claims["ep"]) if "ep" in claims else None, int(claims["exp"]))
