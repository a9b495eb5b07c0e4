"""The socket.io channel (Rasa web-chat protocol) with its input checked.

Speaks the standard protocol: `session_request` -> `session_confirm`, `user_uttered` -> `bot_uttered`.
A message that cannot be processed gets a polite `bot_uttered` notice (wording in notices.yml).

Identity: the session id in `session_confirm` is a signed conversation handle (bot/identity.py), bound to the
signed-in customer named by the shop's token in `session_request`'s `customData.customer_token` (none: a
guest); `session_request` continues a conversation only for a genuine handle of that same customer (else a new
conversation, whose `history` is empty), and a socket writes only to the conversation it was confirmed for,
with no other customer's token. With live handoff on, a customer who disconnects while waiting for a
person and does not come back within HANDOFF_CUSTOMER_GRACE_SECONDS is reported gone (the bridge marks
the escalation abandoned).

Delivery: a `user_uttered` with a client `message_id` is acknowledged (the socket.io ack, on the same connection,
not through Redis) with {"status": "stored"|"duplicate"} once it is in the tracker, {"status": "failed"} when it
could not be stored (the client sends it again); a resend of a stored id is neither stored nor answered again,
and a conversation's messages are handled in the order they arrived (bot/channels/once.py).

Origins: only pages on the server's own origin may connect (python-engineio checks the Origin header of the
handshake, WebSocket and polling alike), plus the origins listed in CHAT_ALLOWED_ORIGINS (comma-separated;
``*`` allows any). Behind a proxy that terminates TLS, the proxy must pass X-Forwarded-Proto (and
X-Forwarded-Host if it changes the host) for the page's own origin to be recognised.

What the widget needs to tell speakers apart rides on `bot_uttered`: an agent's message carries `agent` and
`agent_name`, a notice `"notice": true` (with `handoff` and, in the queue, `queue_position`); what the bridge
pushes carries a `message_id`, the same when it is pushed again, so the widget shows it once; see
bot/bridge/delivery.py and bot/bridge/notices.py.
"""
from __future__ import annotations

import inspect
import json
import re
from contextvars import ContextVar
import logging
import os
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

import engineio
import yaml
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer
from socketio import packet as socketio_packet

from bot.channels.buttons import checked_text
from bot.channels.customer import TOKEN_KEY, signed_in_customer, with_verified_customer
from bot.identity import new_handle, verify
from bot.channels.payload import TOO_DEEP, MAX_MESSAGE_CHARS, InvalidPayload, parse_socketio_message
from bot.channels.once import DUPLICATE, STORED, handle_once, in_order, stored_already
from bot.bridge.bridge import bridge
from bot.bridge.notices import notice_fields
from common.pii import warm_up

logger = logging.getLogger(__name__)
NOTICES: Dict[str, Any] = yaml.safe_load((Path(__file__).parent / "notices.yml").read_text())
ORIGINS_ENV = "CHAT_ALLOWED_ORIGINS"


def notice(code: str, language: Optional[str] = None) -> str:
    """The notice in the page's language (notices.yml: English at the top, other languages under their code,
    e.g. ``zh:``), English for any other or no language; a code not listed is ``invalid_message``."""
    short = str(language or "").split("-")[0].lower()
    english = {k: v for k, v in NOTICES.items() if isinstance(v, str)}
    texts = {**english, **(NOTICES.get(short) if short and isinstance(NOTICES.get(short), dict) else {})}
    return texts.get(code, texts["invalid_message"]).format(limit=MAX_MESSAGE_CHARS)


def page_language(data: Any) -> Optional[str]:
    """The page language the widget sends with each message (``customData.language`` or ``metadata.language``),
    read without trusting the shape: a refused message may be malformed."""
    if not isinstance(data, dict):
        return None
    for key in ("customData", "metadata"):
        value = data.get(key)
        if isinstance(value, dict) and isinstance(value.get("language"), str):
            return value["language"]
    return None


async def _maybe_await(result: Any) -> None:
    # python-socketio made enter_room a coroutine in 5.9; support both.
    if inspect.isawaitable(result):
        await result


def allowed_origins(raw: Optional[str]) -> Union[str, List[str]]:
    """The origins besides the server's own that may connect, from CHAT_ALLOWED_ORIGINS: "*" (any) or a list
    ("https://shop.example, https://www.shop.example" -> both, without trailing slashes)."""
    listed = [o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip()]
    return "*" if "*" in listed else listed


_EVENT_NAME = re.compile(r'\s*\[\s*"([A-Za-z0-9_]{1,64})"')


class _PacketJson:
    """The JSON codec of Socket.IO packets: an event nested too deeply for Python's decoder (a RecursionError
    the server would only log) reaches its handler as ``[name, TOO_DEEP]``, so the customer gets a notice."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str, **kwargs: Any) -> Any:
        try:
            return json.loads(text, **kwargs)
        except RecursionError:
            event = _EVENT_NAME.match(text)
            if event is None:
                raise ValueError("a Socket.IO packet nested too deeply") from None
            return [event.group(1), TOO_DEEP]


class DepthSafePacket(socketio_packet.Packet):  # type: ignore[misc]
    json = _PacketJson


class ChatSocketServer(AsyncServer):
    """python-socketio's server whose Engine.IO layer accepts the server's own origin (its default) plus
    `extra_origins`. python-engineio takes either its default or a list, not both, hence the subclass (over
    `_engineio_server_class`, `_cors_allowed_origins` and `_cors_headers` of the pinned python-socketio 5.8 /
    python-engineio 4.4; tests/unit/test_chat_origins.py checks them).

    Engine.IO only checks the origin; it adds no CORS headers of its own, as before: the Rasa server's CORS
    (`--cors`, Sanic-CORS) sets them on every response, and a second Access-Control-Allow-Origin header would
    make browsers refuse long-polling from a listed origin."""

    def __init__(self, extra_origins: Union[str, List[str]] = (), **kwargs: Any) -> None:
        self._extra_origins = extra_origins
        if extra_origins == "*":
            kwargs["cors_allowed_origins"] = "*"
        kwargs.setdefault("serializer", DepthSafePacket)
        super().__init__(**kwargs)

    def _engineio_server_class(self) -> Any:
        extra = [] if self._extra_origins == "*" else list(self._extra_origins)

        class Engine(engineio.AsyncServer):  # type: ignore[misc]
            def _cors_allowed_origins(self, environ: Dict[str, Any]) -> Optional[List[str]]:
                own = super()._cors_allowed_origins(environ)
                return None if own is None else [*own, *extra]

            def _cors_headers(self, environ: Dict[str, Any]) -> List[Any]:
                return []

        return Engine


_NOTICE_FIELDS: ContextVar[Dict[str, Any]] = ContextVar("notice_fields", default={})


class NoticeSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, with the notice fields (bot/bridge/notices.py) on the messages of notice
    responses, e.g. the action server's "You're number 2 in the queue"."""

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        # A context variable, not an attribute: the channel's shared output may send to two customers at once.
        token = _NOTICE_FIELDS.set(notice_fields(message))
        try:
            await super().send_response(recipient_id, message)
        finally:
            _NOTICE_FIELDS.reset(token)

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        fields = _NOTICE_FIELDS.get()
        await super()._send_message(socket_id, {**response, **fields} if fields else response)


def web_chat_message(message: Dict[str, Any]) -> Dict[str, Any]:
    """A bot message as Rasa's socket.io channel sends it: buttons become `quick_replies`."""
    out = {k: v for k, v in message.items() if k not in ("recipient_id", "buttons") and v is not None}
    if message.get("buttons"):
        out["quick_replies"] = [{"content_type": "text", "title": b.get("title"), "payload": b.get("payload")}
                                for b in message["buttons"]]
    return out


def others_in_room(sio: AsyncServer, namespace: str, room: str, leaving: str) -> bool:
    """Whether another socket of this server is in the conversation's room (a second tab)."""
    members = sio.manager.rooms.get(namespace or "/", {}).get(room) or {}
    return any(sid != leaving for sid in members)


def client_manager() -> Optional[AsyncRedisManager]:
    """With Redis configured, socket.io emits go through it (python-socketio's AsyncRedisManager), so a
    message for a customer reaches them whichever Rasa server their socket is connected to."""
    url = os.environ.get("REDIS_URL")
    return AsyncRedisManager(url, channel="shop:socketio") if url else None


def customer_of(data: Any) -> Optional[str]:
    """The signed-in customer an event's ``customData.customer_token`` names (None: a guest)."""
    custom = data.get("customData") if isinstance(data, dict) else None
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except (ValueError, RecursionError):
            return None
    return signed_in_customer(custom.get(TOKEN_KEY)) if isinstance(custom, dict) else None


def confirmed_handle(data: Any) -> Tuple[str, Optional[str]]:
    """(handle, customer) for a `session_request`: the requested handle if it is genuine and was issued to
    the same signed-in customer (or to a guest, for a guest); otherwise a new conversation's."""
    customer = customer_of(data)
    requested = data.get("session_id") if isinstance(data, dict) else None
    return (requested if verify(requested, customer=customer) else new_handle(customer=customer)), customer


def other_customer(session: Dict[str, Any], data: Any) -> bool:
    """Whether a message carries the token of another customer than the one its socket was confirmed for."""
    named = customer_of(data)
    return named is not None and named != session.get("customer")


class CheckedSocketIOInput(SocketIOInput):
    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def get_output_channel(self) -> Optional[SocketIOOutput]:
        return NoticeSocketIOOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        warm_up()  # build the card-masking pipeline now, not on the first message
        sio = ChatSocketServer(allowed_origins(os.environ.get(ORIGINS_ENV)), async_mode="sanic",
                               client_manager=client_manager())
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        server: Dict[str, Any] = {}

        @webhook.listener("after_server_start")
        async def keep_app(app: Any, _loop: Any) -> None:
            server["app"] = app  # its agent's tracker store: which buttons the bot offered (bot/channels/buttons.py)

        live = bridge()
        if live is not None:
            async def push(conversation: str, message: Dict[str, Any]) -> None:
                await sio.emit(self.bot_message_evt, web_chat_message(message), room=conversation,
                               namespace=self.namespace)

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
            handle, customer = confirmed_handle(data)  # a forged or another customer's one: a new chat
            conversation = verify(handle, customer=customer)
            await sio.save_session(sid, {"conversation": conversation, "handle": handle, "customer": customer},
                                   namespace=self.namespace)
            if self.session_persistence:
                await _maybe_await(sio.enter_room(sid, conversation, namespace=self.namespace))
            live = bridge()
            if live is not None:
                try:
                    await live.customer_back(conversation, sid)
                    await live.tickets.online(conversation)
                except Exception as e:  # noqa: BLE001 - Redis down: confirm anyway, messages are acked or not
                    logger.warning("noting that %s is back failed: %r", conversation, e)
            await sio.emit("session_confirm", handle, room=sid, namespace=self.namespace, ignore_queue=True)
            if live is not None and live.app is not None:
                try:  # answers to their tickets that came while they were away, once (bot/bridge/tickets.py)
                    for message in await live.tickets.show_unseen(conversation):
                        await sio.emit(self.bot_message_evt, web_chat_message(message), room=sid,
                                       namespace=self.namespace, ignore_queue=True)
                except Exception as e:  # noqa: BLE001 - kept for the next time they open the chat
                    logger.warning("showing %s the answers to their tickets failed: %r", conversation, e)
                try:  # a satisfaction survey that came due while they were away (bot/bridge/surveys.py)
                    await live.surveys.on_visit(conversation)
                except Exception as e:  # noqa: BLE001
                    logger.warning("asking %s the survey kept for them failed: %r", conversation, e)

        @sio.on("history_request", namespace=self.namespace)
        async def history_request(sid: Text, _data: Any = None) -> None:
            """Not part of Rasa's protocol (other widgets never ask): what the customer has seen of the
            conversation this socket is confirmed for, so our widget can show what arrived while it was
            offline. Only ever the socket's own conversation."""
            live = bridge()
            session = await sio.get_session(sid, namespace=self.namespace)
            conversation = session.get("conversation") if session else None
            if live is None or live.app is None or not conversation:
                return
            await sio.emit("history", await live.history(conversation), room=sid, namespace=self.namespace,
                           ignore_queue=True)

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: Text) -> None:
            live = bridge()
            if live is None:
                return
            session = await sio.get_session(sid, namespace=self.namespace)
            conversation = session.get("conversation") if session else None
            if not conversation:
                return
            try:  # their sockets on every server (bot/bridge/presence.py)
                last = await live.socket_closed(conversation, sid)
            except Exception as e:  # noqa: BLE001 - Redis down: this server's sockets are all we know
                logger.warning("noting that a socket of %s closed failed: %r", conversation, e)
                last = not others_in_room(sio, self.namespace, conversation, sid)
            if last:
                await live.customer_left(conversation)
                await live.tickets.offline(conversation)

        @webhook.listener("after_server_start")
        async def keep_app(app: Any, _loop: Any) -> None:
            self.app = app

        async def refuse(sid: Text, code: str, language: Optional[str] = None) -> None:
            # Straight to this socket, not through Redis (which may be what is down).
            await sio.emit(self.bot_message_evt, {"text": notice(code, language), "notice": True}, room=sid,
                           namespace=self.namespace, ignore_queue=True)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> Optional[Dict[str, Any]]:
            """The return value is the event's acknowledgement (answered on this connection, without Redis):
            {"status": "stored"|"duplicate", "message_id"} once the message is in the tracker, {"status":
            "failed"} otherwise (the client sends it again). Only a message with a client id is acknowledged."""
            try:
                incoming = parse_socketio_message(data)
                session = await sio.get_session(sid, namespace=self.namespace)
                if not session or session.get("handle") != incoming.sender or other_customer(session, data):
                    raise InvalidPayload(403, "invalid_session", "this socket was not confirmed for that session")
            except InvalidPayload as exc:
                await refuse(sid, exc.code, page_language(data))
                return {"status": "refused", "error": exc.code}
            sender = session["conversation"] if self.session_persistence else sid
            mid = incoming.message_id
            async with in_order(sender):  # taken before any wait: the conversation's messages keep their order
                try:
                    status = await self._take(sender, incoming, on_new_message)
                except Exception:
                    logger.exception("Message from %s failed", sender)
                    if mid is None:  # a client that cannot resend: ask the customer to
                        await refuse(sid, "invalid_message", page_language(data))
                    return {"status": "failed", "message_id": mid}
            return {"status": status, "message_id": mid} if mid else None

        return webhook

    async def _take(self, sender: str, incoming: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        """Store (and answer) a customer message once: STORED or DUPLICATE (bot/channels/once.py)."""
        output = NoticeSocketIOOutput(self.sio, self.bot_message_evt)
        live = bridge()
        agent = self.app.ctx.agent if getattr(self, "app", None) is not None else None
        mid = incoming.message_id
        # A resend must not reach the agent twice (forward() comes before the store, which checks under the lock).
        if mid and agent is not None and live is not None and await live.escalation_of(sender) and \
                await stored_already(agent, sender, mid):
            await live.forward_stored(sender)  # queued for the agent if its first try failed before that
            return DUPLICATE
        if live is not None:
            await live.count_conversation(sender)
        text = await checked_text(getattr(self, "app", None), sender, incoming.text)  # a typed /intent is text
        message = UserMessage(text, output, sender, input_channel=self.name(), message_id=mid,
                              metadata=with_verified_customer(incoming.metadata))
        # While a person has the chat the message goes into the tracker and to them; the bot stays quiet.
        if live is not None and await live.store_customer_message(message):
            return STORED
        # A ticket waits for their answer (bot/bridge/tickets.py): the message goes to it, not to the bot.
        said = await live.tickets.take_for_ticket(message) if live is not None else None
        if said is not None:
            for reply in said:
                await self.sio.emit(self.bot_message_evt, web_chat_message(reply), room=sender,
                                    namespace=self.namespace)
            return STORED
        if agent is None:
            await on_new_message(message)
            status = STORED
        else:
            status = await handle_once(agent, message, mid)
        if live is not None:  # it arrived while the handoff was being made: Rasa stored it, paused
            await live.forward_stored(sender)
        return status
