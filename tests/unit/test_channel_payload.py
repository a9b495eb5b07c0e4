import json

import pytest

from bot.channels.payload import MAX_MESSAGE_CHARS, TOO_DEEP, InvalidPayload, parse_rest_body, parse_socketio_message


def body(**fields):
    return json.dumps(fields).encode()


def test_a_good_message_passes_trimmed():
    msg = parse_rest_body(body(sender="web-1", message="  where is my order?  ", metadata={"a": 1}))
    assert (msg.sender, msg.text, msg.metadata) == ("web-1", "where is my order?", {"a": 1})


@pytest.mark.parametrize("raw, status, code", [
    (b"", 400, "empty_body"),
    (b"not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b'{"sender": "a", "message": "caf\xe9"}', 400, "invalid_utf8"),
    (body(message="hi"), 400, "missing_sender"),
    (body(sender="", message="hi"), 400, "invalid_sender"),
    (body(sender="a b/../c", message="hi"), 400, "invalid_sender"),
    (body(sender=["x"], message="hi"), 400, "invalid_sender"),
    (body(sender="a", message=""), 400, "empty_message"),
    (body(sender="a", message="   "), 400, "empty_message"),
    (body(sender="a"), 400, "invalid_message"),
    (body(sender="a", message=42), 400, "invalid_message"),
    (body(sender="a", message="x" * (MAX_MESSAGE_CHARS + 1)), 413, "message_too_long"),
    (body(sender="a", message="x" * 100_000), 413, "body_too_large"),
    (body(sender="a", message="hi", metadata="{bad"), 400, "invalid_metadata"),
    (body(sender="a", message="hi", metadata=[1]), 400, "invalid_metadata"),
])
def test_bad_rest_bodies_get_a_clear_error(raw, status, code):
    with pytest.raises(InvalidPayload) as err:
        parse_rest_body(raw)
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.as_json()["message"]


def test_socketio_events_are_checked_the_same_way():
    msg = parse_socketio_message({"message": "hi", "session_id": "abc123", "customData": '{"lang": "en"}'})
    assert (msg.sender, msg.text, msg.metadata) == ("abc123", "hi", {"lang": "en"})
    for data, code in [("hi", "invalid_event"), ({"message": "hi"}, "missing_session"),
                       ({"message": "", "session_id": "s"}, "empty_message")]:
        with pytest.raises(InvalidPayload) as err:
            parse_socketio_message(data)
        assert err.value.code == code


def test_card_numbers_are_masked_after_the_checks():
    msg = parse_rest_body(body(sender="web-1", message=" I paid with 4111 1111 1111 1111, order 10234567 ",
                               metadata={"note": "card 5555555555554444"}))
    assert msg.text == "I paid with 4111 11** **** 1111, order 10234567"
    assert msg.metadata == {"note": "card 555555******4444"}
    msg = parse_socketio_message({"message": "4111-1111-1111-1111", "session_id": "s1"})
    assert msg.text == "4111-11**-****-1111"


@pytest.mark.parametrize("depth, kind", [(33, "object"), (600, "object"), (5000, "list")])
def test_deeply_nested_metadata_is_a_400_not_a_recursion_error(depth, kind):
    nested = ('{"a":' * depth + "1" + "}" * depth) if kind == "object" else ("[" * depth + "]" * depth)
    raw = ('{"sender": "a", "message": "hi", "metadata": {"x": %s}}' % nested).encode()
    with pytest.raises(InvalidPayload) as err:
        parse_rest_body(raw)
    assert (err.value.status, err.value.code) == (400, "too_deep")
    with pytest.raises(InvalidPayload) as err:
        parse_socketio_message({"message": "hi", "session_id": "s", "customData": '{"x": %s}' % nested})
    assert (err.value.status, err.value.code) == (400, "too_deep")
    with pytest.raises(InvalidPayload) as err:
        parse_socketio_message(TOO_DEEP)  # what the socket.io channel's packet decoder hands over
    assert (err.value.status, err.value.code) == (400, "too_deep")


def test_metadata_nested_within_the_limit_passes():
    nested = {"a": 1}
    for _ in range(30):
        nested = {"a": nested}
    assert parse_rest_body(body(sender="a", message="hi", metadata=nested)).metadata == nested
