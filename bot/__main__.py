"""Command line: python -m bot {run,train,chat,test}. ./run is the usual way in."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import List, Optional

from bot.settings import ROOT, Settings, SettingsError


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start Redis, the action server and Rasa")
    run_p.add_argument("--no-train", action="store_true", help="use the newest model as it is")
    sub.add_parser("train", help="train the model when config or data changed")
    chat_p = sub.add_parser("chat", help="talk to the running assistant in this terminal")
    chat_p.add_argument("--sender", default=None)
    sub.add_parser("test", help="run the whole test suite", add_help=False)
    args, rest = parser.parse_known_args(argv)

    if args.command == "test":
        return run_tests(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        from bot.supervisor import run

        return run(settings, train=not args.no_train)
    if args.command == "train":
        from bot.training import ensure_model

        print(f"model: {ensure_model(settings.models_dir)}")
        return 0
    from bot.chat import chat

    return chat(settings, args.sender)


def run_tests(pytest_args: List[str]) -> int:
    """Run pytest over tests/; 'no tests collected' counts as a failure, not a pass."""
    cmd = [sys.executable, "-m", "pytest", "tests", *pytest_args]
    code = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"})
    if code == 5:
        print("error: pytest collected no tests", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
