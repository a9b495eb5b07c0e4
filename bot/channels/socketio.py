"""The socket.io channel (Rasa web-chat protocol) with its input checked.

Speaks the standard protocol: `session_request` -> `session_confirm`, `user_uttered` -> `bot_uttered`.
A message that cannot be processed gets a polite `bot_uttered` notice (wording in notices.yml).
"""
from __future__ import annotations

import inspect
import logging
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

import yaml
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels.customer import with_verified_customer
from bot.channels.payload import MAX_MESSAGE_CHARS, InvalidPayload, check_sender, parse_socketio_message
from bot.handoff_bridge import bridge
from common.pii import warm_up

logger = logging.getLogger(__name__)
NOTICES: Dict[str, str] = yaml.safe_load((Path(__file__).parent / "notices.yml").read_text())


def notice(code: str) -> str:
    return NOTICES.get(code, NOTICES["invalid_message"]).format(limit=MAX_MESSAGE_CHARS)


async def _maybe_await(result: Any) -> None:
    # python-socketio made enter_room a coroutine in 5.9; support both.
    if inspect.isawaitable(result):
        await result


class CheckedSocketIOInput(SocketIOInput):
    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        warm_up()  # build the card-masking pipeline now, not on the first message
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        live = bridge()
        if live is not None:
            async def push(conversation: str, message: Dict[str, Any]) -> None:
                await sio.emit(self.bot_message_evt, message, room=conversation, namespace=self.namespace)

            live.register_output(self.name(), push)

            @webhook.listener("after_server_start")
            async def start_bridge(app: Any, _loop: Any) -> None:
                await live.start(app)

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict]) -> bool:
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            from rasa.core.channels.channel import decode_bearer_token

            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            try:
                session_id = check_sender(requested) if requested else uuid.uuid4().hex
            except InvalidPayload:
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await _maybe_await(sio.enter_room(sid, session_id, namespace=self.namespace))
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            try:
                incoming = parse_socketio_message(data)
            except InvalidPayload as exc:
                await sio.emit(self.bot_message_evt, {"text": notice(exc.code)}, room=sid,
                               namespace=self.namespace)
                return
            sender = incoming.sender if self.session_persistence else sid
            output = SocketIOOutput(sio, self.bot_message_evt)
            live = bridge()
            if live is not None:
                await live.forward(sender, incoming.text)  # reaches the agent when a person has the chat
            try:
                await on_new_message(UserMessage(incoming.text, output, sender,
                                                 input_channel=self.name(),
                                                 metadata=with_verified_customer(incoming.metadata)))
            except Exception:
                logger.exception("Message from %s failed", sender)
                await sio.emit(self.bot_message_evt, {"text": notice("invalid_message")}, room=sid,
                               namespace=self.namespace)

        return webhook
