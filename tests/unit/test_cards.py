"""Every way a customer writes a card number, and its security code, is masked (common/cards.py via common.pii)."""
import pytest

from common.pii import find_entities, mask_cards


@pytest.mark.parametrize("text, expected", [
    ("4111 11 11 1111 1111", "4111 11 ** **** 1111"),                       # uneven groups
    ("card 41 1111 1111 1111 11 thanks", "card 41 1111 **** **11 11 thanks"),
    ("4111.1111.1111.1111", "4111.11**.****.1111"),                         # dots
    ("4111 - 1111 - 1111 - 1111", "4111 - 11** - **** - 1111"),             # spaced hyphens
    ("4111-1111 1111.1111", "4111-11** ****.1111"),                         # mixed
    ("4111  1111  1111  1111", "4111  11**  ****  1111"),                   # two spaces
    ("\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
     "\uff14\uff11\uff11\uff11\uff11\uff11******\uff11\uff11\uff11\uff11"),  # full-width digits
    ("\uff14\uff11\uff11\uff11 1111 1111 1111", "\uff14\uff11\uff11\uff11 11** **** 1111"),  # mixed widths
    # two readings overlap (16 Luhn-valid digits from the order number on): both are masked
    ("I ordered 10234567. 4111 1111 1111 1111", "I ordered 102345**. **** 11** **** 1111"),
])
def test_a_card_number_is_masked_however_it_is_grouped(text, expected):
    masked = mask_cards(text)
    assert masked == expected
    assert len(masked) == len(text)
    assert [e.label for e in find_entities(masked)] in ([], ["ORDER_NUMBER"])


@pytest.mark.parametrize("text, expected", [
    ("4111 1111 1111 1111 123", "4111 11** **** 1111 ***"),                 # a bare group right after it
    ("4111111111111111 1234 exp 12/26", "411111******1111 **** exp 12/26"),
    ("card 4111 1111 1111 1111 cvv 123", "card 4111 11** **** 1111 cvv ***"),
    ("cvc: 1234 and 5555555555554444", "cvc: **** and 555555******4444"),
    ("the security code 987 on the back", "the security code *** on the back"),
    ("CVV2 is 321", "CVV2 is ***"),
])
def test_a_security_code_next_to_a_card_or_named_as_one_is_masked(text, expected):
    assert mask_cards(text) == expected


@pytest.mark.parametrize("text", [
    "orders 10234567 10234568 and 10999999", "order 1023 4567, call +49 30 1234567 or 0151 23456789",
    "4111 1111 1111 1112", "20 digits 41111111111111111111", "parcel 00340434161234567890 is late",
    "on 12.03.2024 at 10:30 it cost 1.299,00 EUR", "my code is 123 and the price 45", "decide 123",
])
def test_what_is_not_a_card_stays(text):
    assert mask_cards(text) is text


def test_a_long_run_of_digit_groups_takes_linear_time():
    import time
    text = " ".join(["1234"] * 20_000)
    t0 = time.perf_counter()
    mask_cards(text)
    assert time.perf_counter() - t0 < 5
