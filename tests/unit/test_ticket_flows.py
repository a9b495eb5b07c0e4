"""Ticket flows (handoff/tickets/flows.py, policy/ticket_flows.yml): the shipped file, matching, and its errors."""
from pathlib import Path

import pytest

from common.config import ConfigError
from common.tables import load_tables
from handoff.tickets.flows import TicketFlows

POLICY = Path(__file__).resolve().parents[2] / "policy"
SHIPPED = POLICY / "ticket_flows.yml"


@pytest.fixture(scope="module")
def tables():
    return load_tables()


@pytest.fixture(scope="module")
def flows(tables):
    return TicketFlows.load(SHIPPED, tables.skill_groups.groups, tables.categories.names)


def test_the_shipped_flows_load_with_their_teams_in_order(flows):
    assert flows.names() == ["repair", "refund_check", "not_solved"]
    repair = flows.get("repair")
    assert (repair.name, repair.title) == ("repair", "Repair")
    assert repair.groups() == ["after_sales", "technical", "after_sales"]
    assert [s.target_hours for s in repair.steps] == [4, 8, 4] and repair.steps[1].target_seconds == 8 * 3600
    assert flows.get("refund_check").groups() == ["billing", "after_sales", "billing"]
    assert flows.get("not_solved").groups()[0] == "general"


def test_next_step_walks_the_flow_and_stops_at_the_end(flows):
    repair = flows.get("repair")
    assert [repair.next_step(i) for i in (0, 1, 2, 3, -1)] == [1, 2, None, None, None]


def test_an_unknown_flow_is_a_clear_key_error(flows):
    with pytest.raises(KeyError) as info:
        flows.get("repiar")
    assert str(info.value) == f"unknown ticket flow 'repiar' in {SHIPPED}; known: repair, refund_check, not_solved"
    assert "repair" in flows and "repiar" not in flows


def test_for_ticket_picks_the_first_flow_whose_when_matches(flows):
    assert flows.for_ticket(["product_problem"], []) == "repair"
    assert flows.for_ticket([], ["order_status", "refund_time"]) == "refund_check"
    assert flows.for_ticket(["refund_problem", "product_problem"], []) == "repair"  # file order decides
    assert flows.for_ticket(["delivery_problem"], ["coupons"]) is None
    assert flows.for_ticket([], []) is None  # not_solved has no `when`: only started by name


def write(tmp_path, old: str, new: str) -> Path:
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "ticket_flows.yml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def error(path, tables) -> str:
    with pytest.raises(ConfigError) as info:
        TicketFlows.load(path, tables.skill_groups.groups, tables.categories.names)
    return str(info.value)


def test_an_unknown_group_names_the_file_and_line(tmp_path, tables):
    path = write(tmp_path, "{group: technical, target_hours: 8}", "{group: tech, target_hours: 8}")
    assert error(path, tables) == (
        f"{path}: line {line_of(path, 'group: tech,')}, flows.repair.steps[1].group: "
        "unknown group 'tech'; known: after_sales, billing, general, technical, vip")


def test_empty_steps_bad_target_and_unknown_keys_name_the_line(tmp_path, tables):
    text = SHIPPED.read_text()
    start = text.index("    steps:\n    - {group: billing")
    end = text.index("    when: {category_in: [refund_problem]")
    path = tmp_path / "ticket_flows.yml"
    path.write_text(text[:start] + "    steps: []\n" + text[end:])
    # jsonschema's own wording ("is too short", "should be non-empty" in newer versions) after file, line, key.
    assert error(path, tables).startswith(f"{path}: line {line_of(path, 'steps: []')}, flows.refund_check.steps: []")

    path = write(tmp_path, "{group: technical, target_hours: 8}", "{group: technical, target_hours: -2}")
    assert error(path, tables) == (f"{path}: line {line_of(path, 'target_hours: -2')}, "
                                   "flows.repair.steps[1].target_hours: -2 is less than or equal to the minimum of 0")
    path = write(tmp_path, "{group: technical, target_hours: 8}", "{group: technical, target_hours: eight}")
    assert "flows.repair.steps[1].target_hours: 'eight' is not of type 'number'" in error(path, tables)

    path = write(tmp_path, "    name: \"Refund check\"\n", "    name: \"Refund check\"\n    owner: billing\n")
    msg = error(path, tables)
    assert msg.startswith(f"{path}: line {line_of(path, 'refund_check:')}, flows.refund_check: Additional properties")
    assert "'owner' was unexpected" in msg


def test_an_unknown_category_and_a_yaml_syntax_error_name_the_line(tmp_path, tables):
    path = write(tmp_path, "category_in: [product_problem]", "category_in: [product_problems]")
    assert error(path, tables).startswith(
        f"{path}: line {line_of(path, 'product_problems')}, flows.repair.when.category_in[0]: "
        "unknown category 'product_problems'")
    path = write(tmp_path, "    - {group: billing, target_hours: 4}\n", "    - {group: billing, target_hours: 4\n")
    msg = error(path, tables)
    assert msg.startswith(f"{path}: line ") and "not valid YAML" in msg


def test_the_startup_policy_check_refuses_a_bad_flow_file(tmp_path):
    """`python -m common` (run before anything starts) checks ticket_flows.yml with the other policy files."""
    import subprocess
    import sys
    root = POLICY.parent
    ok = subprocess.run([sys.executable, "-m", "common"], cwd=root, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().endswith(", 3 ticket flows")
    for name in ("categories", "handoff_policy", "skill_groups"):
        (tmp_path / f"{name}.yml").write_text((POLICY / f"{name}.yml").read_text())
    path = write(tmp_path, "{group: technical, target_hours: 8}", "{group: tech, target_hours: 8}")
    bad = subprocess.run([sys.executable, "-m", "common", str(tmp_path)], cwd=root, capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (f"error: {path}: line {line_of(path, 'group: tech,')}, flows.repair.steps[1].group: "
                                  "unknown group 'tech'; known: after_sales, billing, general, technical, vip")
