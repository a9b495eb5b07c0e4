"""Chinese phrases in policy/categories.yml: found inside text without spaces, not inside negations."""
import pytest

from common.categories import CNY_PER_EUR, CategoryMatcher, money_amounts, normalise_zh
from common.config import ConfigError


@pytest.fixture(scope="module")
def matcher():
    return CategoryMatcher.load()


def categories(matcher, text):
    return {m.category: m.matched for m in matcher.match(text)}


@pytest.mark.parametrize("text, category, matched", [
    ("我要投诉你们！快递一个星期了还没动", "complaint", "投诉"),
    ("东西和图片不一样，差评！", "complaint", "差评"),
    ("你们就是骗子，退款拖了半个月", "complaint", "骗子"),
    ("再不处理我就打12315了", "legal_threat", "12315"),
    ("我已经联系消协了，你们看着办", "legal_threat", "消协"),
    ("我会请律师起诉你们", "legal_threat", "律师"),
    ("亲，你们这样我只能去工商局举报了", "legal_threat", "工商局"),
    ("充电宝充电的时候冒烟了，吓死我了", "safety_issue", "冒烟"),
    ("用了你们的面霜脸上过敏了，起了好多红疹", "safety_issue", "过敏了"),
    ("插上电源就漏电，手被电了一下", "safety_issue", "漏电"),
    ("我银行卡被扣了两次款，订单10234568", "double_charge", "扣了两次"),
    ("怎么重复扣款了？？", "double_charge", "重复扣款"),
    ("信用卡被盗刷了，这几笔订单都不是我下的", "fraud", "被盗刷"),
    ("我的账号被盗了，有人改了我的密码", "fraud", "账号被盗"),
    ("亲，退款还没到账，都一个礼拜了", "refund_problem", "退款还没到"),
    ("物流一直没更新，卡在中转站三天了", "delivery_problem", "物流一直没更新"),
    ("显示已签收但是我根本没拿到", "delivery_problem", "显示已签收"),
    ("收到的杯子碎了，盒子也破损了", "product_problem", "碎了"),
    ("ＡＰＰ一直闪退，付不了款", "system_error", "闪退"),
    ("登录不了啊，一直提示密码错误", "login_problem", "登录不了"),
])
def test_chinese_phrases_are_found_without_spaces(matcher, text, category, matched):
    assert categories(matcher, text).get(category) == matched


@pytest.mark.parametrize("text", [
    "亲，不是投诉哈，就问下啥时候发货",
    "放心，不会给差评的，东西挺好",
    "气坏了我都",  # 坏了 inside 气坏了: not a broken product
    "请问周末不工作吗？",
    "我想买个垃圾桶，有包邮吗",
    "订单号 10123156",  # 12315 inside a longer number
    "这款是爆款吗？",
    "好的谢谢，收到了",
])
def test_no_category_in_harmless_chinese(matcher, text):
    assert categories(matcher, text) == {}


def test_a_refund_not_received_is_a_refund_problem_not_a_lost_parcel(matcher):
    found = categories(matcher, "一直没收到退款，你们到底退不退")
    assert "refund_problem" in found and "delivery_problem" not in found


def test_english_still_matches_and_first_match_in_text_order(matcher):
    assert categories(matcher, "I was CHARGED twice!") == {"double_charge": "CHARGED twice"}
    found = matcher.match("快递丢了, and I was charged twice, 扣了两次")
    assert [(m.category, m.matched) for m in found] == [("delivery_problem", "快递丢了"), ("double_charge", "charged twice")]


def test_full_width_text_is_normalised_keeping_positions():
    assert normalise_zh("ＡＰＰ１２３１５，") == "app12315,"
    assert len(normalise_zh("ＡＰＰ１２３１５，")) == 9


def test_chinese_money_amounts_are_in_eur():
    assert money_amounts("¥8999的电脑坏了") == [int(8999 / CNY_PER_EUR)]
    assert money_amounts("花了1.2万元买的") == [int(12000 / CNY_PER_EUR)]
    assert money_amounts("3000块钱的东西") == [int(3000 / CNY_PER_EUR)]
    assert money_amounts("RMB 7800") == [1000.0]
    assert money_amounts("500欧元") == [500.0]
    assert money_amounts("买了3块电池") == []  # 块 as a measure word
    assert money_amounts("€1,299.00 and 8000元") == [1299.0, int(8000 / CNY_PER_EUR)]


def test_a_bad_chinese_phrase_list_is_a_config_error(tmp_path):
    path = tmp_path / "categories.yml"
    path.write_text("version: 1\ncategories:\n  complaint:\n    phrases_zh: [投诉, 12315]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="phrases_zh"):
        CategoryMatcher.load(path)


def test_a_chinese_conversation_reaches_the_handoff_policy():
    """Through the same path as English turns: tracker events -> signals -> the policy's triggers."""
    from actions.scoring import score, tables
    from tests.conftest import user

    events = [user("亲，手机充电的时候冒烟了，还有烧焦味", "faq"),
              user("¥8999买的，再不处理我就打12315", "faq")]
    signals, _, decision = score(events, tables())
    assert {"safety_issue", "legal_threat"} <= set(signals.categories)
    assert signals.amounts == [int(8999 / CNY_PER_EUR)]
    fired = {t.name for t in decision.triggers}
    assert {"legal_threat", "high_value_problem"} <= fired
