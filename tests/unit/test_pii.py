import io
import logging

import pytest

from common.pii import (CardMaskingFilter, PiiEntity, find_entities, install_card_masking, luhn_valid,
                        mask_cards, mask_cards_in)


def found(text):
    return [(e.label, e.text) for e in find_entities(text)]


@pytest.mark.parametrize("text, expected", [
    ("Where is my order 10234567?", [("ORDER_NUMBER", "10234567")]),
    ("Order #10234567 hasn't arrived", [("ORDER_NUMBER", "#10234567")]),
    ("it's order#10987654, and 10234568 too", [("ORDER_NUMBER", "#10987654"), ("ORDER_NUMBER", "10234568")]),
    ("order 1023 4567 please", [("ORDER_NUMBER", "1023 4567")]),
    ("write to jane.doe+shop@example.co.uk!", [("EMAIL", "jane.doe+shop@example.co.uk")]),
    ("Mail: Max.Mustermann@web.de, thanks", [("EMAIL", "Max.Mustermann@web.de")]),
    ("Call me at +49 30 1234567 please", [("PHONE", "+49 30 1234567")]),
    ("my number is +1 (555) 123-4567.", [("PHONE", "+1 (555) 123-4567")]),
    ("mobile 0151 23456789 after 6", [("PHONE", "0151 23456789")]),
    ("try 555-123-4567 or (030) 1234567", [("PHONE", "555-123-4567"), ("PHONE", "(030) 1234567")]),
    ("UK: +44 20 7946 0958, tel:+4930123456", [("PHONE", "+44 20 7946 0958"), ("PHONE", "+4930123456")]),
    ("from abroad 0049 30 1234567 or +49 (0)30 1234567",
     [("PHONE", "0049 30 1234567"), ("PHONE", "+49 (0)30 1234567")]),
    ("I paid with 4111 1111 1111 1111 yesterday", [("CARD", "4111 1111 1111 1111")]),
    ("card 4111-1111-1111-1111, amex 378282246310005",
     [("CARD", "4111-1111-1111-1111"), ("CARD", "378282246310005")]),
    ("Amex 3782 822463 10005 declined", [("CARD", "3782 822463 10005")]),
    ("visa:4012888888881881", [("CARD", "4012888888881881")]),
    ("Payment failed with PMT-4031 and then APP-112", [("ERROR_CODE", "PMT-4031"), ("ERROR_CODE", "APP-112")]),
    ("the app shows E1234", [("ERROR_CODE", "E1234")]),
    ("I get error 503, sometimes HTTP 502", [("ERROR_CODE", "503"), ("ERROR_CODE", "502")]),
    ("error code: 404", [("ERROR_CODE", "404")]),
])
def test_entities_are_found_in_customer_sentences(text, expected):
    assert found(text) == expected


def test_entities_carry_their_position():
    text = "Order #10234567, mail a@b.de"
    assert find_entities(text) == [PiiEntity("ORDER_NUMBER", "#10234567", 6, 15),
                                   PiiEntity("EMAIL", "a@b.de", 22, 28)]
    for entity in find_entities("Call +1 (555) 123-4567 about 4111 1111 1111 1111, error APP-112"):
        assert entity.text == "Call +1 (555) 123-4567 about 4111 1111 1111 1111, error APP-112"[
            entity.start_char:entity.end_char]


@pytest.mark.parametrize("text", [
    "It was delivered on 12/03/2024, or was it 2024-03-12 at 10:30? Maybe 05.12.2023.",
    "The TV cost 1,299.00 EUR, the other one 1.299,00 € and shipping $4.99",
    "Tracking number JD014600003LB, parcel 00340434161234567890 is late",
    "4111 1111 1111 1112 and 4111111111111112 are not valid cards",
    "version 2.3.1, ticket 20240312, postcode 10115",
    "",
])
def test_no_personal_data_in_dates_prices_tracking_numbers_and_invalid_cards(text):
    assert found(text) == []


def test_order_numbers_are_neither_phones_nor_cards():
    assert found("orders 10234567 10234568 and 10999999") == [
        ("ORDER_NUMBER", "10234567"), ("ORDER_NUMBER", "10234568"), ("ORDER_NUMBER", "10999999")]
    assert mask_cards("10234567 10234568") == "10234567 10234568"


def test_luhn():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")


@pytest.mark.parametrize("text, expected", [
    ("4111 1111 1111 1111", "4111 11** **** 1111"),
    ("pay with 4111-1111-1111-1111!", "pay with 4111-11**-****-1111!"),
    ("amex 378282246310005.", "amex 378282*****0005."),
    ("3782 822463 10005", "3782 82**** *0005"),
    ("13 digits 4222222222222", "13 digits 422222***2222"),
    ("19 digits 6011 0000 0000 0000 001", "19 digits 6011 00** **** ***0 001"),
    ("card:5555555555554444 exp 12/25", "card:555555******4444 exp 12/25"),
    ("two: 4111111111111111 and 5555 5555 5555 4444", "two: 411111******1111 and 5555 55** **** 4444"),
])
def test_card_numbers_are_masked_keeping_6_first_4_last_digits_and_separators(text, expected):
    masked = mask_cards(text)
    assert masked == expected
    assert len(masked) == len(text)
    assert [e.label for e in find_entities(masked)] == []


@pytest.mark.parametrize("text", [
    "hello", "order 10234567, call +49 30 1234567", "4111 1111 1111 1112", "20 digits 41111111111111111111",
    "Tracking JD014600003LB, 1,299.00 EUR on 12/03/2024",
])
def test_text_without_card_numbers_is_returned_unchanged(text):
    assert mask_cards(text) is text


def test_masking_inside_nested_structures_copies_them():
    doc = {"sender": "web-1", "turns": [{"text": "my card is 4111 1111 1111 1111", "n": 1},
                                       ("bot", "card 5555555555554444?")],
           "slots": {"note": None, "4111111111111111": True}, "amount": 12.5}
    assert mask_cards_in(doc) == {
        "sender": "web-1", "turns": [{"text": "my card is 4111 11** **** 1111", "n": 1},
                                     ("bot", "card 555555******4444?")],
        "slots": {"note": None, "411111******1111": True}, "amount": 12.5}
    assert doc["turns"][0]["text"] == "my card is 4111 1111 1111 1111"  # the input is not changed
    assert mask_cards_in("4111111111111111") == "411111******1111"
    assert mask_cards_in(42) == 42


def test_deeply_nested_json_does_not_overflow_the_stack():
    deep = inner = []
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    inner.append("4111111111111111")
    out = mask_cards_in(deep)
    for _ in range(5000):
        out = out[0]
    assert out == ["411111******1111"]


def make_logger(name):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(CardMaskingFilter())
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_the_logging_filter_masks_messages_formatted_with_args():
    logger, stream = make_logger("test_pii.filter")
    logger.info("paid with %s for order %s", "4111 1111 1111 1111", 10234567)
    logger.warning("card %(card)s", {"card": 5555555555554444})
    logger.info("nothing to mask: %d%%", 100)
    assert stream.getvalue() == ("INFO paid with 4111 11** **** 1111 for order 10234567\n"
                                 "WARNING card 555555******4444\n"
                                 "INFO nothing to mask: 100%\n")


def test_the_logging_filter_masks_tracebacks():
    logger, stream = make_logger("test_pii.traceback")
    try:
        raise ValueError("bad card 4111111111111111")
    except ValueError:
        logger.exception("failed")
    assert "ValueError: bad card 411111******1111" in stream.getvalue()
    assert "4111111111111111" not in stream.getvalue()


def test_install_masks_records_for_handlers_added_later():
    previous = logging.getLogRecordFactory()
    try:
        install_card_masking()
        install_card_masking()  # idempotent
        stream = io.StringIO()
        logger = logging.getLogger("test_pii.later")
        logger.handlers = [logging.StreamHandler(stream)]  # added after install, with no filter
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.info("Received user message '%s'", "my card 4111-1111-1111-1111")
        assert stream.getvalue() == "Received user message 'my card 4111-11**-****-1111'\n"
    finally:
        logging.setLogRecordFactory(previous)


def test_caplog_sees_masked_records(caplog):
    logger = logging.getLogger("test_pii.caplog")
    logger.addFilter(CardMaskingFilter())
    with caplog.at_level(logging.INFO, logger="test_pii.caplog"):
        logger.info("card %s", "378282246310005")
    assert caplog.messages == ["card 378282*****0005"]
