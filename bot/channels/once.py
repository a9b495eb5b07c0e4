"""A customer message is stored once, in the order it was sent, whatever the client resends.

A client may give each message its own id (``message_id``: our widget makes a UUID in the browser and keeps
the message until the server acknowledges it). The id becomes the tracker's ``UserUttered.message_id``; a
message whose id the conversation's tracker holds already is not stored or answered again (checked under the
conversation's lock, so a resend after a crash or a timeout never counts twice). A client that sends no id
gets Rasa's behaviour (a random id, no dedupe).

In one Rasa process the messages of a conversation are handled one after another, in the order they arrived
(``in_order``): the socket.io server runs each event in its own task, and a later message must not overtake
an earlier one that is slower to parse or to forward.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, Optional

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered

STORED, DUPLICATE = "stored", "duplicate"  # what handle_once did, and what an ack says


def holds(tracker: Any, message_id: Optional[str]) -> bool:
    """Whether the tracker holds a customer message with this id."""
    return bool(message_id) and any(isinstance(e, UserUttered) and e.message_id == message_id
                                    for e in reversed(tracker.events))


async def stored_already(agent: Any, conversation: str, message_id: Optional[str]) -> bool:
    """Whether the conversation's tracker holds the message with this id (a read, no lock)."""
    if not message_id:
        return False
    tracker = await agent.tracker_store.retrieve(conversation)
    return tracker is not None and holds(tracker, message_id)


async def handle_once(agent: Any, message: UserMessage, client_id: Optional[str]) -> str:
    """Agent.handle_message, but a message whose client id the tracker holds is dropped (DUPLICATE); STORED
    once the message and the bot's answer are saved in the tracker. Raises what Rasa raises."""
    async with agent.lock_store.lock(message.sender_id):
        if client_id and holds(await agent.processor.get_tracker(message.sender_id), client_id):
            return DUPLICATE
        await agent.processor.handle_message(message)
    return STORED


class InOrder:
    """One asyncio lock per conversation (FIFO: waiters get it in the order they asked), forgotten when free."""

    def __init__(self) -> None:
        self._locks: Dict[str, asyncio.Lock] = {}
        self._users: Dict[str, int] = {}

    @asynccontextmanager
    async def __call__(self, conversation: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(conversation, asyncio.Lock())
        self._users[conversation] = self._users.get(conversation, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[conversation] -= 1
            if not self._users[conversation]:
                del self._users[conversation], self._locks[conversation]


in_order = InOrder()
