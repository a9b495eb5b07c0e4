"""Calls to the action server that could not reach it are tried again, for a bounded time.

Rasa 3.6 calls a custom action once (``RemoteAction.run`` -> ``EndpointConfig.request``): when the action
server is restarting, the call fails, the action's events are lost and the customer's message goes on without
them (no scores, no handoff: "I want to talk to a human" answered by the fallback). ``retrying_request`` wraps
Rasa's request and tries it again, with backoff (``BACKOFF_SECONDS``, doubling up to ``MAX_DELAY_SECONDS``),
for up to ACTION_RETRY_SECONDS (default 20; 0 turns retrying off) when, and only when, no response came back
because the connection failed:

- the connection was refused or could not be made (``ClientConnectorError``, TLS errors excepted): the
  request never reached the action server, so the action did not run;
- the connection was reset or closed before any response (``ServerDisconnectedError``, ``ClientOSError``):
  typically a kept-alive connection to a process that was just killed. The action may have started; it is
  run again. Our actions are safe to run again: scoring is a pure function of the tracker, and the handoff
  service takes one open escalation per conversation (``POST /v1/handoffs`` answers the existing one), so a
  second run of action_request_handoff finds the same escalation; what a lost run said never reached the
  customer (it is in the response that never came), so the customer is told once.

An answer with an HTTP status (4xx/5xx) or a timeout after the request was sent is not retried: the action
may have run and answered; Rasa reports it as before. While the call is retried Rasa holds the conversation's
lock, so the customer's next messages wait and are handled after it, in order.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable, Optional

import aiohttp
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

RETRY_SECONDS_ENV = "ACTION_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 20.0
BACKOFF_SECONDS = 0.1  # the first retry's delay, doubling
MAX_DELAY_SECONDS = 2.0

ORIGINAL_REQUEST = EndpointConfig.__dict__["request"]


def retry_seconds(env: Optional[dict] = None) -> float:
    """ACTION_RETRY_SECONDS as a number of seconds (>= 0); a clear error for anything else."""
    raw = (os.environ if env is None else env).get(RETRY_SECONDS_ENV, str(DEFAULT_RETRY_SECONDS))
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{RETRY_SECONDS_ENV} must be a number of seconds, got {raw!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{RETRY_SECONDS_ENV} must be a number of seconds >= 0, got {raw!r}")
    return seconds


def unanswered(error: BaseException) -> bool:
    """Whether `error` means the connection failed before any response came back (worth another try)."""
    if isinstance(error, aiohttp.ClientSSLError):
        return False  # a certificate problem does not go away by trying again
    return isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError))


def retrying(request: Callable[..., Any], seconds: Callable[[], float] = retry_seconds,
             clock: Callable[[], float] = time.monotonic) -> Callable[..., Any]:
    """`request` (EndpointConfig.request) tried again on a failed connection for up to `seconds()`."""

    async def retrying_request(self: EndpointConfig, *args: Any, **kwargs: Any) -> Any:
        deadline = clock() + seconds()
        delay, tries = BACKOFF_SECONDS, 1
        while True:
            try:
                result = await request(self, *args, **kwargs)
            except Exception as e:  # noqa: BLE001 - re-raised unless it is a failed connection
                if not unanswered(e) or clock() + delay > deadline:
                    if unanswered(e) and tries > 1:
                        logger.warning("%s did not answer %d tries: %r", self.url, tries, e)
                    raise
                if tries == 1:
                    logger.warning("%s unreachable (%r); trying again for up to %.0f s", self.url, e,
                                   max(0.0, deadline - clock()))
                await asyncio.sleep(delay)
                delay, tries = min(delay * 2, MAX_DELAY_SECONDS), tries + 1
                continue
            if tries > 1:
                logger.info("%s answered after %d tries", self.url, tries)
            return result

    retrying_request.__wrapped__ = request  # type: ignore[attr-defined]
    return retrying_request


def apply() -> None:
    """Retry Rasa's endpoint requests (the action server's, above all) on failed connections (idempotent)."""
    retry_seconds()  # a bad setting fails the start, not a conversation
    EndpointConfig.request = retrying(ORIGINAL_REQUEST)  # type: ignore[assignment]


__all__ = ["apply", "retrying", "retry_seconds", "unanswered", "RETRY_SECONDS_ENV"]
