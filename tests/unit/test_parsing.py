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


# Chinese customers: full-width digits, short addresses and reasons (Han characters carry more per character).
@pytest.mark.parametrize("text, expected", [
    ("订单号１０２３４５６８", "10234568"),
    ("我的单号是10234568，亲", "10234568"),
    ("１０２３ ４５６８", "10234568"),
    ("订单号1023456", None),
])
def test_order_number_in_chinese_text_and_full_width_digits(text, expected):
    assert order_number_from(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("杭州文三路100号", "杭州文三路100号"),
    ("北京市朝阳区建国路８８号", "北京市朝阳区建国路88号"),
    ("文三路", None),
    ("我不知道", None),
])
def test_chinese_addresses_are_accepted_from_six_characters(text, expected):
    assert address_from(text) == expected


@pytest.mark.parametrize("text, expected", [("坏了", "坏了"), ("太小", "太小"), ("坏", None), ("ok", None)])
def test_chinese_reasons_of_two_characters_are_accepted(text, expected):
    assert reason_from(text) == expected


@pytest.mark.parametrize("text, expected", [("五星", "5"), ("给４分", "4"), ("三颗星吧", "3"), ("１", "1"),
                                            ("一般般", None)])
def test_chinese_ratings(text, expected):
    from actions.parsing import rating_from
    assert rating_from(text) == expected
