"""``python -m common``: check the policy tables (policy/*.yml, and ticket_flows.yml when the folder has it);
exit 2 with the file and key on error."""
import os
import sys
from pathlib import Path

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]  # see actions/__main__.py

from common.config import POLICY_DIR, ConfigError  # noqa: E402
from common.tables import load_tables  # noqa: E402


def main() -> int:
    folder = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("POLICY_DIR") or None
    flows_file = Path(folder or POLICY_DIR) / "ticket_flows.yml"
    flows = None
    try:
        tables = load_tables(folder)
        if flows_file.exists():
            from handoff.tickets.flows import TicketFlows  # the handoff service's file, checked here too
            flows = TicketFlows.load(flows_file, tables.skill_groups.groups, tables.categories.names)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"policy tables ok: {len(tables.categories.names)} categories, {len(tables.policy.triggers)} triggers, "
          f"{len(tables.skill_groups.groups)} skill groups" + (f", {len(flows.names())} ticket flows" if flows else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
