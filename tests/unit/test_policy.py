"""The handoff policy, the complexity score and the routing tables (policy/*.yml), and their errors."""
from pathlib import Path

import pytest
import yaml

from common.config import ConfigError
from common.policy import Signals
from common.tables import load_tables

POLICY = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture(scope="module")
def tables():
    return load_tables()


def fired(tables, **signals):
    return [t.name for t in tables.policy.decide(Signals(**signals)).triggers]


def test_a_calm_faq_conversation_stays_with_the_bot(tables):
    s = Signals(turns=2, latest_intent="faq", topics=["refund_time"], sentiments=[0.1, 0.3])
    decision = tables.policy.decide(s)
    assert (decision.handoff, decision.triggers) == (False, ())
    assert tables.policy.complexity(s).level == "low"


@pytest.mark.parametrize("signals, trigger, reason", [
    ({"latest_intent": "human_handoff"}, "explicit_request", "The customer asked for a person."),
    ({"consecutive_fallbacks": 2, "fallbacks": 2}, "repeated_misunderstanding",
     "The assistant did not understand 2 messages in a row."),
    ({"sentiments": [0.2, -0.6, -0.9]}, "negative_sentiment",
     "The customer's last 2 messages were strongly negative (sentiment -0.60, -0.90)."),
    ({"categories": {"complaint": "unacceptable"}, "complaint": 0.8}, "complaint",
     "The customer is complaining (complaint probability 0.8)."),
    ({"categories": {"legal_threat": "lawyer"}}, "legal_threat", "The customer mentions legal steps (\u201clawyer\u201d)."),
    ({"categories": {"safety_issue": "smoke"}}, "safety_issue", "A possible safety issue (\u201csmoke\u201d)."),
    ({"categories": {"double_charge": "charged twice"}}, "payment_problem",
     "A payment problem the assistant cannot solve (\u201ccharged twice\u201d)."),
    ({"categories": {"system_error": "PMT-4031"}, "error_codes": ["PMT-4031"]}, "system_error",
     "A technical fault (\u201cPMT-4031\u201d)."),
    ({"categories": {"delivery_problem": "lost", "product_problem": "damaged"}}, "multiple_issues",
     "Several problems at once (delivery problem, product problem)."),
    ({"vip_tier": "gold", "categories": {"delivery_problem": "never arrived"}}, "vip_with_problem",
     "A gold customer has a problem."),
    ({"amounts": [1299.0], "categories": {"product_problem": "broken"}}, "high_value_problem",
     "An order of 1,299 EUR has a problem."),
])
def test_each_trigger_fires_with_its_reason(tables, signals, trigger, reason):
    decision = tables.policy.decide(Signals(**signals))
    assert decision.handoff
    assert reason in [t.reason for t in decision.triggers if t.name == trigger]


def test_near_misses_do_not_fire(tables):
    assert fired(tables, consecutive_fallbacks=1, fallbacks=1) == []
    assert fired(tables, sentiments=[-0.9, 0.2]) == []                      # one bad message, then fine
    assert fired(tables, categories={"complaint": "fed up"}, complaint=0.3) == []  # the model does not agree
    assert fired(tables, vip_tier="gold", topics=["coupons"]) == []            # a VIP with an FAQ
    assert fired(tables, vip_tier="silver", categories={"delivery_problem": "lost"}) == []
    assert fired(tables, amounts=[2000.0]) == []                               # an amount alone is no problem


def test_high_complexity_fires_on_its_own_and_explains_each_factor(tables):
    s = Signals(turns=8, fallbacks=2, low_confidence=2, repeated_intent=2, topics=["a", "b", "c"],
                form_failures=1, order_numbers=["10234567", "10234568"])
    c = tables.policy.complexity(s)
    assert c.level == "high" and c.score >= 0.7
    assert {f.name: f.contribution for f in c.factors} == {
        "fallbacks": 0.3, "low_confidence": 0.1, "repeated_intent": 0.2, "topics": 0.16,
        "turns": 0.12, "form_failures": 0.15, "order_numbers": 0.05}
    assert c.score == 1.0  # capped
    assert "high_complexity" in fired(tables, **s.__dict__)
    assert [f.reason for f in c.factors][:2] == ["2 message(s) not understood",
                                                 "the customer repeated or rephrased a request 2 time(s)"]


def test_complexity_levels_and_sentiment_trend(tables):
    medium = tables.policy.complexity(Signals(categories={"safety_issue": "smoke"}))
    assert (medium.score, medium.level) == (0.35, "medium")
    trend = tables.policy.complexity(Signals(sentiments=[0.0, -0.5, -1.0]))
    assert [(f.name, f.value, f.contribution) for f in trend.factors] == [("negative_trend", -0.625, 0.125)]


def test_routing_first_matching_rule_wins(tables):
    g = tables.skill_groups
    assert g.route({"vip_tier": "gold"}, ["safety_issue"], []).group == "vip"
    assert g.route({"vip_tier": "silver"}, ["safety_issue", "double_charge"], []).group == "after_sales"
    assert g.route({}, ["double_charge", "system_error"], []).group == "billing"
    assert g.route({}, ["system_error", "delivery_problem"], []).group == "technical"
    assert g.route({}, [], ["password_reset"]).group == "technical"
    assert g.route({}, ["product_problem"], ["coupons"]).group == "after_sales"  # a problem outweighs a topic
    assert g.route({}, [], ["coupons", "order_status"]).group == "billing"
    assert g.route({}, [], ["order_status"]).as_dict() == {"group": "after_sales",
                                                           "reason": "routing rule 8: topic order status"}
    assert g.route({}, [], []).as_dict() == {"group": "general", "reason": "no routing rule matched: default group"}
    assert g.fallback_chain("vip") == ["vip", "after_sales", "general"]


def test_priority_adds_up_with_reasons_and_ages(tables):
    g = tables.skill_groups
    p = g.priority({"vip_tier": "platinum"}, -0.8, "high", ["safety_issue", "explicit_request"])
    assert p.value == 10 + 40 + 15 + 15 + 30
    assert p.reasons == ("base 10", "+40 tier platinum", "+15 sentiment -0.80", "+15 complexity high", "+30 safety issue")
    assert g.priority({}, 0.5, "low", []).value == 10
    assert [g.aged(10, s) for s in (0, 9, 10, 125, 10_000)] == [10, 10, 11, 22, 70]


# --- bad YAML: a clear error naming the file and the key, at load time --------------------------

def write_tables(tmp_path, **changes):
    for name in ("categories", "handoff_policy", "skill_groups"):
        text = changes.get(name)
        if text is None:
            text = (POLICY / f"{name}.yml").read_text()
        elif callable(text):
            doc = yaml.safe_load((POLICY / f"{name}.yml").read_text())
            text_doc = text(doc)
            text = yaml.safe_dump(text_doc if text_doc is not None else doc)
        (tmp_path / f"{name}.yml").write_text(text)
    return tmp_path


def error_of(tmp_path, **changes) -> str:
    with pytest.raises(ConfigError) as info:
        load_tables(write_tables(tmp_path, **changes))
    return str(info.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    msg = error_of(tmp_path, handoff_policy="version: 1\ntriggers: [\n  - name: x\n")
    assert msg.startswith(f"{tmp_path}/handoff_policy.yml: line ")
    assert "not valid YAML" in msg


def test_wrong_type_names_the_key(tmp_path):
    def bad(doc):
        doc["triggers"][2]["when"]["sentiment_below"] = "very"
    msg = error_of(tmp_path, handoff_policy=bad)
    assert msg == f"{tmp_path}/handoff_policy.yml: triggers[2].when.sentiment_below: 'very' is not of type 'number'"


def test_unknown_condition_is_refused(tmp_path):
    def bad(doc):
        doc["triggers"][0]["when"]["moon_phase"] = "full"
    msg = error_of(tmp_path, handoff_policy=bad)
    assert msg.startswith(f"{tmp_path}/handoff_policy.yml: triggers[0].when: Additional properties")
    assert "moon_phase" in msg


def test_unknown_category_and_group_are_refused(tmp_path):
    def bad_cat(doc):
        doc["triggers"][4]["when"]["category_in"] = ["legal_threat", "alien_invasion"]
    assert error_of(tmp_path, handoff_policy=bad_cat).startswith(
        f"{tmp_path}/handoff_policy.yml: triggers[4].when.category_in[1]: unknown category 'alien_invasion'")

    def bad_group(doc):
        doc["routing"][1]["group"] = "sales"
    assert error_of(tmp_path, skill_groups=bad_group).startswith(
        f"{tmp_path}/skill_groups.yml: routing[1].group: unknown skill group 'sales'")


def test_fallback_cycle_and_duplicate_trigger_are_refused(tmp_path):
    def cycle(doc):
        doc["groups"]["general"]["fallback"] = "vip"
    assert "fallbacks form a cycle" in error_of(tmp_path, skill_groups=cycle)

    def dupe(doc):
        doc["triggers"].append(dict(doc["triggers"][0]))
    assert error_of(tmp_path, handoff_policy=dupe) == (
        f"{tmp_path}/handoff_policy.yml: triggers: duplicate trigger name(s): explicit_request")


def test_missing_file_and_missing_key(tmp_path):
    write_tables(tmp_path)
    (tmp_path / "categories.yml").unlink()
    with pytest.raises(ConfigError, match=r"categories.yml: cannot read the file"):
        load_tables(tmp_path)

    def no_default(doc):
        del doc["default_group"]
    assert error_of(tmp_path, skill_groups=no_default) == (
        f"{tmp_path}/skill_groups.yml: (top level): 'default_group' is a required property")
