"""Dates the order status fills into its answer are written in the conversation's language: a Chinese chat must
not read "预计送达时间：Thursday 26 November"."""
import asyncio
import datetime as dt

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionOrderStatus
from actions.shop import SampleShop, format_date
from tests.conftest import make_tracker

TODAY = dt.date(2026, 11, 24)  # a Tuesday, as in tests/unit/test_actions.py


def status_values(number: str, language):
    slots = {"order_number": number, "verified_orders": [number], "language": language}
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionOrderStatus(SampleShop(today=TODAY)).run(dispatcher, make_tracker([], slots), {"responses": {}}))
    return dispatcher.messages[0]


@pytest.mark.parametrize("number, key, zh, en", [
    ("10234568", "eta", "11月26日（星期四）", "Thursday 26 November"),
    ("10234569", "delivered_on", "11月19日（星期四）", "Thursday 19 November"),
])
def test_the_order_dates_follow_the_chat_language(number, key, zh, en):
    assert status_values(number, "zh")[key] == zh
    assert status_values(number, "en")[key] == en
    assert status_values(number, None)[key] == en


def test_an_unknown_date_is_said_in_the_chat_language():
    assert format_date(None, "zh") == "未知"
    assert format_date(None) == "unknown"
    assert format_date(dt.date(2026, 12, 7), "zh") == "12月7日（星期一）"
