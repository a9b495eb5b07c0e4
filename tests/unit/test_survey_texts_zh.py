"""The survey e-mail and page speak Chinese to a Chinese requester (policy/survey.yml `email.languages.zh`,
chosen by common/survey_policy.py from the ticket requester's language), English otherwise."""
from __future__ import annotations

import re

import pytest

from common.survey_policy import SurveyPolicy

PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("language", ["zh", "zh-CN", "ZH-cn"])
def test_a_chinese_requester_gets_the_chinese_survey(language: str):
    texts = SurveyPolicy.load().texts(language)
    assert texts["question"] == "您的问题解决了吗？"
    assert texts["body"].format(label="T-10042", subject="耳机没声音", link="https://x.example/s/1") == (
        "亲，您的工单 T-10042（“耳机没声音”）已被我们的客服标记为已解决。\n"
        "请问您的问题解决了吗？点一下就好：\nhttps://x.example/s/1")


@pytest.mark.parametrize("language", ["en", None, "de"])
def test_anyone_else_gets_the_english_survey(language):
    assert SurveyPolicy.load().texts(language)["question"] == "Did we solve your problem?"


def test_the_chinese_wording_has_every_key_and_the_same_placeholders_as_the_english():
    policy = SurveyPolicy.load()
    en, zh = policy.texts("en"), policy.texts("zh")
    assert set(zh) == set(en)
    for key in en:
        assert set(PLACEHOLDER.findall(zh[key])) == set(PLACEHOLDER.findall(en[key])), key
