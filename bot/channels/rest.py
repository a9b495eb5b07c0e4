"""The REST channel with its input checked: bad requests get a clear 4xx JSON error, never a stack trace."""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, Optional, Text

import aiohttp

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.buttons import checked_text
from bot.channels.customer import with_verified_customer
from bot.identity import new_handle, sign, verify
from bot.channels.once import handle_once, in_order, stored_already
from bot.channels.payload import InvalidPayload, parse_rest_body
from bot.bridge.bridge import bridge
from bot.bridge.notices import NoticeCollector
from common.pii import warm_up

logger = logging.getLogger(__name__)
CALLBACK_DELAYS = (0.0, 0.5, 2.0)  # a callback's tries; then the bridge tries the event again later


class CallbackFailed(Exception):
    """The shop's callback could not take a message (unreachable, or 408/429/5xx on every try)."""


UNKNOWN_SENDER = ("'sender' must be a conversation handle issued by this assistant: POST /webhooks/rest/conversations "
                  "returns a new one (or sign your own ids with CHAT_SESSION_SECRET, see docs/integrators.md)")


class CheckedRestInput(RestInput):
    """`POST /webhooks/rest/webhook` with {"sender", "message", "metadata"?, "message_id"?}; replies as a JSON
    list.

    ``message_id`` (optional, 8-64 characters of letters, digits and _ . : -) is the client's id of the
    message: a request sent again with the same id (after a timeout, a 5xx or a lost connection) is not stored
    or answered again; it gets 200 and an empty list. Without it every request is a new message.

    ``sender`` is a conversation handle (bot/identity.py): ``POST /webhooks/rest/conversations``
    issues one, or the shop signs its own ids with CHAT_SESSION_SECRET. Anything else gets 403, so nobody
    can write to, or read the replies of, another customer's conversation by guessing its id.

    Messages that do not answer a request (an agent's, "Ann has joined") are POSTed to the shop's
    callback URL (``callback_url`` in credentials.yml, or REST_CALLBACK_URL) as
    {"recipient_id": <handle>, "message_id", "text", "buttons"?, "agent"?, "agent_name"?, "notice"?,
    "handoff"?, "queue_position"?}, the format of Rasa's callback channel plus who is talking
    (bot/bridge/). Replies to a request carry the same notice fields.

    Callbacks are delivered at least once: a connection error, 408, 429 or 5xx is tried again a few times
    (CALLBACK_DELAYS), then the bridge tries the whole event again with backoff; the same message always has
    the same ``message_id``, so the shop must drop one it has already taken. Another 4xx is logged and not
    tried again (the shop refused it)."""

    def __init__(self, callback_url: Optional[str] = None) -> None:
        self.callback_url = callback_url or os.environ.get("REST_CALLBACK_URL") or None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "CheckedRestInput":
        return cls((credentials or {}).get("callback_url"))

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

        live = bridge()
        if live is not None:
            callback = self.callback_url
            session: Dict[str, aiohttp.ClientSession] = {}

            async def push(conversation: str, message: Dict[str, Any]) -> None:
                if not callback:
                    logger.warning("REST: no callback_url; the message to %s is in the tracker only", conversation)
                    return
                if "s" not in session:
                    session["s"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
                problem = ""
                for delay in CALLBACK_DELAYS:
                    await asyncio.sleep(delay)
                    try:
                        async with session["s"].post(callback, json={"recipient_id": sign(conversation),
                                                                     **message}) as r:
                            if r.status < 300:
                                return
                            problem = f"answered {r.status}"
                            if r.status < 500 and r.status not in (408, 429):
                                logger.warning("REST callback refused the message %s to %s: %s",
                                               message.get("message_id"), conversation, r.status)
                                return
                    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                        problem = repr(e)
                raise CallbackFailed(f"REST callback for {conversation}: {problem}")

            live.register_output(self.name(), push)
            live.tickets.rest_pushes = bool(callback)  # a reply to a ticket is pushed at once, else kept

            @webhook.listener("after_server_start")
            async def start_bridge(app: Any, _loop: Any) -> None:
                await live.start(app)

        @webhook.route("/conversations", methods=["POST"])
        async def new_conversation(_: Request) -> HTTPResponse:
            return response.json({"sender": new_handle()}, status=201)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                incoming = parse_rest_body(request.body or b"")
            except InvalidPayload as exc:
                return response.json(exc.as_json(), status=exc.status)
            conversation = verify(incoming.sender)
            if conversation is None:
                return response.json({"error": "unknown_sender", "message": UNKNOWN_SENDER}, status=403)
            collector = NoticeCollector()
            mid = incoming.message_id
            agent = request.app.ctx.agent
            try:
                async with in_order(conversation):
                    if mid and live is not None and await live.escalation_of(conversation) and \
                            await stored_already(agent, conversation, mid):
                        await live.forward_stored(conversation)  # queued for the agent if its first try was not
                        return response.json([])  # a resend of a message stored already: not answered twice
                    if live is not None:
                        await live.count_conversation(conversation)
                        # answers to their tickets kept since they last wrote come first (bot/bridge/tickets.py)
                        collector.messages.extend({"recipient_id": incoming.sender, **m}
                                                  for m in await live.tickets.show_unseen(conversation))
                    text = await checked_text(request.app, conversation, incoming.text)  # a typed /intent is text
                    message = UserMessage(text, collector, conversation, input_channel=self.name(), message_id=mid,
                                          metadata=with_verified_customer(incoming.metadata))
                    # While a person has the chat the message goes into the tracker and to them; the bot stays
                    # quiet.
                    if live is not None and await live.store_customer_message(message):
                        return response.json(collector.messages)
                    said = await live.tickets.take_for_ticket(message) if live is not None else None
                    if said is not None:  # a ticket waits for their answer: the message goes to it
                        return response.json(collector.messages + [{"recipient_id": incoming.sender, **m}
                                                                   for m in said])
                    await handle_once(agent, message, mid)
                    if live is not None:  # it arrived while the handoff was being made: Rasa stored it, paused
                        await live.forward_stored(conversation)
                        # a satisfaction survey kept for them, after the answer (bot/bridge/surveys.py)
                        collector.messages.extend(await live.surveys.after_message(conversation))
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
