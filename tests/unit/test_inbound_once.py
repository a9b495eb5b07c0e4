"""The pure parts of bot/channels/once.py and the client message id check (bot/channels/payload.py)."""
from __future__ import annotations

import asyncio
from typing import List

import pytest
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.once import InOrder, holds
from bot.channels.payload import InvalidPayload, check_message_id, parse_rest_body, parse_socketio_message


def test_a_conversation_s_messages_are_handled_in_the_order_they_arrived_and_the_lock_is_forgotten():
    in_order = InOrder()
    done: List[str] = []

    async def handle(conversation: str, name: str, work: float) -> None:
        async with in_order(conversation):
            await asyncio.sleep(work)  # the first is the slowest: it must still finish first
            done.append(name)

    async def burst() -> None:
        await asyncio.gather(*(handle("c1", f"m{i}", 0.05 / i) for i in range(1, 6)), handle("c2", "other", 0))

    asyncio.run(burst())
    assert [d for d in done if d != "other"] == ["m1", "m2", "m3", "m4", "m5"]
    assert done[0] == "other"  # another conversation does not wait
    assert in_order._locks == {} and in_order._users == {}


def test_holds_finds_a_customer_message_by_its_client_id():
    tracker = DialogueStateTracker.from_events("c", [UserUttered("hi", message_id="abc-12345678")])
    assert holds(tracker, "abc-12345678")
    assert not holds(tracker, "other-12345678") and not holds(tracker, None)


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space 123", 12345678, "ünïcödé-123"])
def test_a_malformed_message_id_is_a_clear_400(bad):
    with pytest.raises(InvalidPayload) as e:
        check_message_id(bad)
    assert (e.value.status, e.value.code) == (400, "invalid_message_id")


def test_the_message_id_is_optional_on_both_channels():
    assert parse_rest_body(b'{"sender": "s1", "message": "hi"}').message_id is None
    assert parse_rest_body(b'{"sender": "s1", "message": "hi", "message_id": "5f0c-1a2b3c4d"}').message_id == \
        "5f0c-1a2b3c4d"
    uuid_id = "123e4567-e89b-12d3-a456-426614174000"
    assert parse_socketio_message({"message": "hi", "session_id": "s1", "message_id": uuid_id}).message_id == uuid_id
