"""The action server process: ``python -m actions --port 5055`` (what the run command starts).

Same as ``python -m rasa_sdk --actions actions``, with three differences:
- TensorFlow is kept out of this process. spaCy (used for entity patterns, common/pii.py) imports thinc,
  which imports TensorFlow whenever it is installed (Rasa installs it), for 360 MB of memory and 1.5 s of
  start-up that the action server never uses. Marking the module absent makes thinc skip it.
- It answers only the Rasa server: every route but /health needs the shared secret ACTION_SERVER_TOKEN
  (actions/access.py); without one configured it does not start.
- It listens on ACTION_SERVER_HOST, 127.0.0.1 unless configured (rasa-sdk's own default is 0.0.0.0).
"""
import logging
import os
import sys

sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]

from rasa_sdk import utils  # noqa: E402
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME  # noqa: E402
from rasa_sdk.endpoint import create_app, create_argument_parser  # noqa: E402
from rasa_sdk.plugin import plugin_manager  # noqa: E402
from rasa_sdk.utils import number_of_sanic_workers  # noqa: E402

from actions.access import AccessSettings, MissingSecret, require_secret  # noqa: E402
from common.pii import install_card_masking  # noqa: E402
from common.redis_config import RedisMismatch, outbox_redis_url  # noqa: E402

logger = logging.getLogger(__name__)


def main() -> None:
    parser = create_argument_parser()
    args = parser.parse_args(["--actions", "actions", *sys.argv[1:]])
    try:
        outbox_redis_url(os.environ)  # the outbox in the Redis the Rasa server's bridge reads, or no start
    except RedisMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        access = AccessSettings.from_env()
    except MissingSecret as e:
        sys.exit(f"action server: {e}")
    install_card_masking()  # every log line of the action server, like the Rasa server's
    # What rasa_sdk.__main__.main_from_args and rasa_sdk.endpoint.run do, with the secret check and the host.
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
                                 args.logging_config_file)
    utils.update_sanic_log_level()
    if args.ssl_certificate:
        sys.exit("action server: TLS is not supported here; keep it on 127.0.0.1 or put a TLS proxy in front")
    app = create_app(args.actions, cors_origins=args.cors, auto_reload=args.auto_reload)
    require_secret(app, access.token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    logger.info("Action endpoint is up and running on http://%s:%s", access.host, args.port)
    app.run(access.host, args.port, workers=number_of_sanic_workers())


if __name__ == "__main__":
    main()
