"""``python -m common``: check the policy tables (policy/*.yml); exit 2 with the file and key on error."""
import os
import sys

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]  # see actions/__main__.py

from common.config import ConfigError  # noqa: E402
from common.tables import load_tables  # noqa: E402


def main() -> int:
    try:
        tables = load_tables(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("POLICY_DIR") or None)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"policy tables ok: {len(tables.categories.names)} categories, {len(tables.policy.triggers)} triggers, "
          f"{len(tables.skill_groups.groups)} skill groups")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
