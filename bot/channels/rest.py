"""The REST channel with its input checked: bad requests get a clear 4xx JSON error, never a stack trace."""
from __future__ import annotations

import inspect
import logging
from asyncio import CancelledError
from typing import Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.customer import with_verified_customer
from bot.channels.payload import InvalidPayload, parse_rest_body
from common.pii import warm_up

logger = logging.getLogger(__name__)


class CheckedRestInput(RestInput):
    """`POST /webhooks/rest/webhook` with {"sender", "message", "metadata"?}; replies as a JSON list."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        warm_up()  # build the card-masking pipeline now, not on the first message
        module = inspect.getmodule(self)
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                incoming = parse_rest_body(request.body or b"")
            except InvalidPayload as exc:
                return response.json(exc.as_json(), status=exc.status)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(incoming.text, collector, incoming.sender,
                                                 input_channel=self.name(),
                                                 metadata=with_verified_customer(incoming.metadata)))
            except CancelledError:
                logger.error("Message from %s timed out", incoming.sender)
                return response.json({"error": "timeout", "message": "the assistant took too long to answer"},
                                     status=503)
            except Exception:  # one broken conversation must not take the channel down
                logger.exception("Message from %s failed", incoming.sender)
                return response.json({"error": "internal_error",
                                      "message": "the assistant could not process this message"}, status=500)
            return response.json(collector.messages)

        return webhook
