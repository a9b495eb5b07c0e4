"""Canned responses in the chat's language: policy/canned_responses.yml may give each reply in other languages
(`texts: {zh: ...}`), served beside the English `text` in the service's meta for the console to pick."""
from __future__ import annotations

import re

import pytest
import yaml

from common.canned import CANNED_RESPONSES_FILE, load_canned_responses
from common.config import ConfigError
from common.routing import SkillGroups

GROUPS = list(SkillGroups.load().groups)
HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_shipped_reply_has_a_chinese_text_and_keeps_its_english_default():
    canned = load_canned_responses(CANNED_RESPONSES_FILE, GROUPS)
    assert canned and all(HAN.search(c["texts"]["zh"]) and not HAN.search(c["text"]) for c in canned)
    by_id = {c["id"]: c for c in canned}
    assert by_id["ask_order_number"]["texts"]["zh"] == "亲，麻烦提供一下您的订单号好吗？订单号是 8 位数字，在订单确认邮件里可以找到。"
    assert by_id["ask_order_number"]["text"].startswith("Could you give me your order number")


def test_a_reply_without_other_languages_has_empty_texts_and_a_bad_language_code_is_refused(tmp_path):
    path = tmp_path / "canned_responses.yml"
    path.write_text(yaml.safe_dump({"version": 1, "responses": [{"id": "hi", "title": "Hi", "text": "Hi!"}]}))
    assert load_canned_responses(path, GROUPS)[0]["texts"] == {}
    path.write_text(yaml.safe_dump({"version": 1, "responses": [
        {"id": "hi", "title": "Hi", "text": "Hi!", "texts": {"Chinese": "你好"}}]}, allow_unicode=True))
    with pytest.raises(ConfigError, match=r"responses\[0\]\.texts"):
        load_canned_responses(path, GROUPS)
