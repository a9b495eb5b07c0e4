"""Chinese personal data: mainland mobile numbers, resident ID numbers, bank cards in Chinese writing."""
import io
import json
import logging

import pytest

from actions.handoff import transcript
from bot.channels.payload import parse_rest_body
from common.pii import CardMaskingFilter, find_entities, mask_cards
from common.pii_zh import MOBILE, RESIDENT_ID, find_zh_pii, mask_zh_pii, resident_id_valid

VALID_ID = "11010519491231002X"  # the GB 11643 sample number: its check character is X
VALID_ID_2 = "110101199003074514"


def test_resident_id_checksum_iso_7064_mod_11_2():
    assert resident_id_valid(VALID_ID)
    assert resident_id_valid(VALID_ID.lower())
    assert resident_id_valid(VALID_ID_2)
    assert resident_id_valid("１１０１０５１９４９１２３１００２Ｘ")  # full-width
    assert not resident_id_valid("110105194912310021")  # one wrong check character
    assert not resident_id_valid("110101199003074515")
    assert not resident_id_valid("11010519491231002")  # 17 characters


@pytest.mark.parametrize("text, expected", [
    ("亲，我手机号13812345678，快递员联系不上我", "亲，我手机号138****5678，快递员联系不上我"),
    ("电话：138-1234-5678", "电话：138-****-5678"),
    ("电话 138 1234 5678 谢谢", "电话 138 **** 5678 谢谢"),
    ("+86 13912345678", "+86 139****5678"),
    ("+86-159-8765-4321", "+86-159-****-4321"),
    ("0086 18600001111", "0086 186****1111"),
    ("8617712345678", "86177****5678"),
    ("手机１３８１２３４５６７８", "手机１３８****５６７８"),
    ("身份证号11010519491231002X，麻烦实名认证", "身份证号110105********002X，麻烦实名认证"),
    ("身份证：110101199003074514", "身份证：110101********4514"),
])
def test_mobiles_and_ids_are_masked(text, expected):
    assert mask_zh_pii(text) == expected
    assert mask_cards(text) == expected  # the function every masking path calls


@pytest.mark.parametrize("text", [
    "订单10234568一直没发货",  # our order number: 8 digits
    "单号10234568和10234569",
    "快递单号SF1381234567800",  # a waybill (not Luhn): letters before the digits
    "顺丰单号SF13812345678",  # a waybill with a mobile-like number
    "运单号 773012345678901 查不到",  # 15 digits
    "138123456789",  # 12 digits: no mobile
    "1281234567 8",  # 12 is no mobile prefix
    "身份证110101199003074515",  # wrong check character: left as it is (see the module docstring)
    "交易号 2026120622001412345",  # 19 digits, not Luhn, not an ID
    "2026年12月6日 下午3点 付了299元",
])
def test_order_numbers_and_other_numbers_stay_visible(text):
    assert mask_cards(text) is text
    assert find_zh_pii(text) == []


def test_bank_cards_with_full_width_digits_or_chinese_separators_are_masked():
    # 6222021234567890128 passes Luhn (19 digits, a UnionPay-style number)
    assert mask_cards("卡号６２２２　０２１２　３４５６　７８９０　１２８") == "卡号６２２２　０２**　****　***０　１２８"
    assert mask_cards("卡号6222·0212·3456·7890·128，扣了两次") == "卡号6222·02**·****·***0·128，扣了两次"
    assert mask_cards("银行卡 6222－0212－3456－7890－128") == "银行卡 6222－02**－****－***0－128"
    assert mask_cards("卡号6222021234567890128，订单10234568") == "卡号622202*********0128，订单10234568"
    assert mask_cards("卡号6222021234567890127") == "卡号6222021234567890127"  # not Luhn: not a card


def test_entities_mobile_is_a_phone_and_order_number_stays_an_order_number():
    found = [(e.label, e.text) for e in find_entities("订单10234568，手机13812345678")]
    assert found == [("ORDER_NUMBER", "10234568"), ("PHONE", "13812345678")]
    assert [e.label for e in find_zh_pii(f"{VALID_ID} 13812345678")] == [RESIDENT_ID, MOBILE]


def test_chinese_numbers_are_masked_before_the_tracker_in_logs_and_in_the_handoff_transcript():
    msg = parse_rest_body(json.dumps({"sender": "web-zh", "message": "我手机13812345678，身份证11010519491231002X",
                                      "metadata": {"note": "卡号６２２２０２１２３４５６７８９０１２８"}}).encode())
    assert msg.text == "我手机138****5678，身份证110105********002X"
    assert msg.metadata == {"note": "卡号６２２２０２*********０１２８"}

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CardMaskingFilter())
    logger = logging.getLogger("test_pii_zh.filter")
    logger.handlers, logger.propagate = [handler], False
    logger.warning("客户留言 %s", "电话 +86 138 1234 5678")
    assert stream.getvalue() == "客户留言 电话 +86 138 **** 5678\n"

    lines = transcript([{"event": "user", "text": "打我电话159-8765-4321，订单10234568", "timestamp": 1.0}])
    assert lines[0]["text"] == "打我电话159-****-4321，订单10234568"
