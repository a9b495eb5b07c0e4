"""Who the action server answers: only the Rasa server, which sends the shared secret ACTION_SERVER_TOKEN
as ``Authorization: Bearer <secret>`` on every call (endpoints.yml, action_endpoint.headers).

Every route but ``/health`` (the run command's readiness check) refuses a request without it (401) or
with another one (403), compared in constant time, before rasa-sdk reads the body. The process listens on
ACTION_SERVER_HOST, 127.0.0.1 unless configured.
"""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

TOKEN_ENV = "ACTION_SERVER_TOKEN"
HOST_ENV = "ACTION_SERVER_HOST"
OPEN_PATHS = frozenset({"/health"})


class MissingSecret(RuntimeError):
    pass


@dataclass(frozen=True)
class AccessSettings:
    token: str
    host: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "AccessSettings":
        token = env.get(TOKEN_ENV, "")
        if len(token) < 16:
            raise MissingSecret(f"{TOKEN_ENV} must be set to a secret of at least 16 characters, the same one the "
                                f"Rasa server sends (endpoints.yml); ./run start generates one into .data/secrets.env")
        return cls(token, env.get(HOST_ENV) or "127.0.0.1")


def refusal(authorization: Optional[str], token: str) -> Optional[int]:
    """None when the Authorization header carries the secret; else the status to answer (401 none, 403 wrong)."""
    if not authorization:
        return 401
    scheme, _, given = authorization.partition(" ")
    ok = hmac.compare_digest(given.strip().encode(), token.encode())
    return None if scheme.lower() == "bearer" and ok else 403


def require_secret(app: Sanic, token: str) -> None:
    """Refuse every request but /health that lacks the secret (a request middleware, before any route)."""

    @app.middleware("request")
    async def check(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS:
            return None
        status = refusal(request.headers.get("Authorization"), token)
        if status is None:
            return None
        error = "missing_token" if status == 401 else "invalid_token"
        return response.json({"error": error, "message": "the action server answers only the Rasa server"},
                             status=status, headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)

    _ = check  # registered by the decorator
