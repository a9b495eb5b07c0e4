import pytest

from actions.parsing import address_from, order_number_from, reason_from


@pytest.mark.parametrize("text, expected", [
    ("10234567", "10234567"),
    ("my order number is 10234567.", "10234567"),
    ("#1023 4567", "10234567"),
    ("1023-4567", "10234567"),
    ("1234", None),
    ("123456789", None),
    ("order abc", None),
    ("", None),
    (None, None),
    (10234567, "10234567"),
])
def test_order_number_is_found_only_when_it_has_eight_digits(text, expected):
    assert order_number_from(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("12 High Street, Dublin D02 X285", "12 High Street, Dublin D02 X285"),
    ("  Hauptstr.   5\n10115 Berlin ", "Hauptstr. 5 10115 Berlin"),
    ("no idea", None),
    ("just some street name", None),
    ("1234567890", None),
    ("x" * 195 + " 12345", None),
    (None, None),
])
def test_address_needs_letters_and_a_number(text, expected):
    assert address_from(text) == expected


def test_reason_is_free_text_of_reasonable_length():
    assert reason_from("  It arrived   damaged ") == "It arrived damaged"
    assert reason_from("no") is None
    assert reason_from("x" * 301) is None
