"""The web chat's refusal notices (bot/channels/notices.yml) in the page's language: a Chinese page gets them in
Chinese, any other page in English."""
from __future__ import annotations

import pytest

from bot.channels.payload import MAX_MESSAGE_CHARS
from bot.channels.socketio import NOTICES, notice, page_language


def test_a_chinese_page_is_told_in_chinese_with_the_limit_filled_in():
    assert notice("message_too_long", "zh-CN") == (
        f"亲，这条消息太长了，我读不过来。能精简到 {MAX_MESSAGE_CHARS} 个字以内再发一次吗？")


@pytest.mark.parametrize("language", [None, "en", "de", ""])
def test_any_other_page_is_told_in_english(language):
    assert notice("invalid_session", language) == "This chat window is out of date. Please reload the page to continue."


def test_an_unknown_code_is_the_generic_notice_in_the_page_language():
    assert notice("no_such_code", "zh") == "抱歉亲，没能读取这条消息，麻烦您再输入一次好吗？"
    assert notice("no_such_code") == "Sorry, I couldn't read that message. Could you type it again?"


def test_every_english_notice_has_a_chinese_one():
    english = {k for k, v in NOTICES.items() if isinstance(v, str)}
    assert english and set(NOTICES["zh"]) == english


@pytest.mark.parametrize("data, expected", [
    ({"message": "x", "customData": {"language": "zh"}}, "zh"),
    ({"message": "x", "metadata": {"language": "en"}}, "en"),
    ({"message": "x", "customData": "zh"}, None),
    (["not", "an", "object"], None),
    ({"customData": {"language": 3}}, None),
])
def test_the_page_language_is_read_from_whatever_the_widget_sent(data, expected):
    assert page_language(data) == expected
