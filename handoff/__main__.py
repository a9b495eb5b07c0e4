"""``python -m handoff``: run one handoff-service process (settings from HANDOFF_* variables)."""
from __future__ import annotations

import logging
import sys

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]  (nothing here needs it)


def main() -> int:
    from common.config import ConfigError
    from handoff.app import create_app
    from handoff.settings import Settings, SettingsError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from common.logs import install_card_masking
    install_card_masking()  # cards masked, control characters escaped in every log line (common/logs.py)
    try:
        settings = Settings.from_env()
        app = create_app(settings, name="handoff")
    except (SettingsError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app.run(host=settings.host, port=settings.port, access_log=False, motd=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
