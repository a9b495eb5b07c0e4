"""The action server process: ``python -m actions --port 5055`` (what the run command starts).

Same as ``python -m rasa_sdk --actions actions``, with one difference: TensorFlow is kept out of
this process. spaCy (used for entity patterns, common/pii.py) imports thinc, which imports
TensorFlow whenever it is installed (Rasa installs it), for 360 MB of memory and 1.5 s of start-up
that the action server never uses. Marking the module absent makes thinc skip it.
"""
import os
import sys

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]

from rasa_sdk.__main__ import main_from_args  # noqa: E402
from rasa_sdk.endpoint import create_argument_parser  # noqa: E402

from common.pii import install_card_masking  # noqa: E402
from common.redis_config import RedisMismatch, outbox_redis_url  # noqa: E402


def main() -> None:
    parser = create_argument_parser()
    args = parser.parse_args(["--actions", "actions", *sys.argv[1:]])
    try:
        outbox_redis_url(os.environ)  # the outbox in the Redis the Rasa server's bridge reads, or no start
    except RedisMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    install_card_masking()  # every log line of the action server, like the Rasa server's
    main_from_args(args)


if __name__ == "__main__":
    main()
