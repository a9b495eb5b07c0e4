"""policy/canned_responses.yml: the shipped file loads, and a mistake is a ConfigError naming the file and key."""
from __future__ import annotations

import pytest
import yaml

from common.canned import CANNED_RESPONSES_FILE, load_canned_responses
from common.config import ConfigError
from common.routing import SkillGroups

GROUPS = list(SkillGroups.load().groups)


def test_the_shipped_responses_cover_an_online_shops_everyday_replies():
    canned = load_canned_responses(CANNED_RESPONSES_FILE, GROUPS)
    ids = [c["id"] for c in canned]
    assert ids == ["greeting", "ask_order_number", "apology_delay", "refund_timeline", "return_label_sent",
                   "escalate_specialist", "anything_else", "goodbye"]
    by_id = {c["id"]: c for c in canned}
    assert by_id["greeting"]["groups"] == GROUPS  # no groups: every group
    assert by_id["refund_timeline"]["groups"] == ["billing", "vip", "general"]
    assert all(c["title"] and c["text"] for c in canned)


def write(tmp_path, text):
    path = tmp_path / "canned_responses.yml"
    path.write_text(text)
    return path


def error_of(tmp_path, text) -> str:
    with pytest.raises(ConfigError) as info:
        load_canned_responses(write(tmp_path, text), GROUPS)
    return str(info.value)


def doc(*responses):
    return yaml.safe_dump({"version": 1, "responses": list(responses)})


def test_bad_yaml_names_the_file_and_line(tmp_path):
    msg = error_of(tmp_path, "version: 1\nresponses: [\n  - id: x\n")
    assert msg.startswith(f"{tmp_path}/canned_responses.yml: line ") and "not valid YAML" in msg


def test_a_missing_text_an_unknown_key_and_a_bad_id_name_the_key(tmp_path):
    assert error_of(tmp_path, doc({"id": "hi", "title": "Hi"})) == (
        f"{tmp_path}/canned_responses.yml: responses[0]: 'text' is a required property")
    assert "responses[0]: Additional properties" in error_of(tmp_path, doc({"id": "hi", "title": "Hi", "text": "x",
                                                                             "colour": "red"}))
    assert error_of(tmp_path, doc({"id": "Hi There", "title": "Hi", "text": "x"})).startswith(
        f"{tmp_path}/canned_responses.yml: responses[0].id: 'Hi There' does not match")


def test_unknown_groups_and_duplicate_ids_are_refused(tmp_path):
    assert error_of(tmp_path, doc({"id": "a", "title": "A", "text": "x", "groups": ["billing", "sales"]})).startswith(
        f"{tmp_path}/canned_responses.yml: responses[0].groups[1]: unknown skill group 'sales'")
    assert error_of(tmp_path, doc({"id": "a", "title": "A", "text": "x"}, {"id": "a", "title": "B", "text": "y"})) == (
        f"{tmp_path}/canned_responses.yml: responses[1].id: duplicate id 'a' (also responses[0])")


def test_the_service_refuses_to_start_with_a_bad_file(tmp_path):
    from handoff.app import create_app
    from handoff.settings import Settings
    settings = Settings(bot_token="b" * 16, token_secret="s" * 32,
                        canned_responses_file=write(tmp_path, doc({"id": "a", "title": "A"})))
    with pytest.raises(ConfigError, match="canned_responses.yml: responses\\[0\\]: 'text' is a required property"):
        create_app(settings)


def test_the_first_response_target_is_read_defaults_to_30_and_is_checked(tmp_path):
    from common.config import POLICY_DIR
    shipped = yaml.safe_load((POLICY_DIR / "skill_groups.yml").read_text())
    assert "sla" not in shipped  # moved to policy/sla.yml (targets.chat.first_response; tests/unit/test_sla.py)
    assert SkillGroups.load().first_response_seconds == 30
    (tmp_path / "skill_groups.yml").write_text(yaml.safe_dump(shipped))
    assert SkillGroups.load(tmp_path / "skill_groups.yml").first_response_seconds == 30
    shipped["sla"] = {"first_response_seconds": 0}
    (tmp_path / "skill_groups.yml").write_text(yaml.safe_dump(shipped))
    with pytest.raises(ConfigError, match="skill_groups.yml: sla.first_response_seconds: 0 is less than or equal"):
        SkillGroups.load(tmp_path / "skill_groups.yml")
