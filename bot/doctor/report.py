"""Run every check of `./run doctor` and print one line per check: "ok", "fix" (with what to do) or "note"."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Tuple
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent.parent
LEVELS = ("ok", "fix", "note")
LOOPBACK = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


@dataclass(frozen=True)
class Finding:
    """What one check found: `level` is "ok", "fix" (something to do before the assistant works) or "note"."""

    level: str
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.level:<5} {self.topic:<18} {self.text}"


def ok(topic: str, text: str) -> Finding:
    return Finding("ok", topic, text)


def fix(topic: str, text: str) -> Finding:
    return Finding("fix", topic, text)


def note(topic: str, text: str) -> Finding:
    return Finding("note", topic, text)


@dataclass(frozen=True)
class Config:
    """The settings the run command reads (bot/settings.py), read here without its dependencies."""

    root: Path
    env: Mapping[str, str]
    rasa_port: int = 5005
    action_port: int = 5055
    handoff_port: int = 5007
    redis_port: int = 6379  # the embedded redis-server's, when REDIS_URL is not set
    redis_url: Optional[str] = None
    rasa_servers: int = 1
    run_dir: Path = field(default=ROOT / ".run")
    data_dir: Path = field(default=ROOT / ".data")
    models_dir: Path = field(default=ROOT / "models")

    @classmethod
    def from_env(cls, root: Path, env: Mapping[str, str]) -> Tuple["Config", List[Finding]]:
        """The settings, and a "fix" for each variable whose value the run command would refuse (its default is
        used here instead, so the other checks still run)."""
        problems: List[Finding] = []

        def port(name: str, default: int) -> int:
            raw = env.get(name, str(default))
            if raw.isdigit() and 0 < int(raw) < 65536:
                return int(raw)
            problems.append(fix("settings", f"{name}={raw!r} is not a TCP port number (1-65535): set it to one, "
                                            f"or unset it for the default {default}"))
            return default

        redis_url = env.get("REDIS_URL") or None
        if redis_url:
            parsed = urlparse(redis_url)
            path = parsed.path.lstrip("/")
            if parsed.scheme not in ("redis", "rediss") or not parsed.hostname or (path and not path.isdigit()):
                problems.append(fix("settings", "REDIS_URL must look like redis://:password@host:6379/0 "
                                                f"(got {hide_password(redis_url)!r})"))
                redis_url = None
        redis_port = port("REDIS_PORT", 6379)
        handoff_redis = env.get("HANDOFF_REDIS_URL") or None
        if handoff_redis and redis_identity(handoff_redis) != redis_identity(
                redis_url or f"redis://127.0.0.1:{redis_port}/0"):
            problems.append(fix("settings", f"HANDOFF_REDIS_URL ({hide_password(handoff_redis)}) names another Redis "
                                            f"than the services use ({'REDIS_URL' if redis_url else 'the embedded one'})"
                                            ": the handoff outbox would be split between two. Set REDIS_URL to the "
                                            "same Redis as HANDOFF_REDIS_URL, or unset HANDOFF_REDIS_URL"))
        raw_servers = env.get("RASA_SERVERS", "").strip()
        servers = max(1, os.cpu_count() or 1)
        if raw_servers:
            if raw_servers.isdigit() and 1 <= int(raw_servers) <= 64:
                servers = int(raw_servers)
            else:
                problems.append(fix("settings", f"RASA_SERVERS={raw_servers!r} is not a number of Rasa servers "
                                                "(1-64): set one, or unset it for one per core"))
        config = cls(root=root, env=env, rasa_port=port("RASA_PORT", 5005), action_port=port("ACTION_PORT", 5055),
                     handoff_port=port("HANDOFF_PORT", 5007), redis_port=redis_port,
                     redis_url=redis_url, rasa_servers=servers,
                     run_dir=Path(env.get("BOT_RUN_DIR") or root / ".run"),
                     data_dir=Path(env.get("BOT_DATA_DIR") or root / ".data"),
                     models_dir=Path(env.get("BOT_MODELS_DIR") or root / "models"))
        return config, problems

    def shown(self, path: Path) -> str:
        """`path` as the user would type it: relative to the project when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def hide_password(url: str) -> str:
    parsed = urlparse(url)
    if not parsed.password:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)


def redis_identity(url: str) -> Tuple[str, int, int]:
    """(host, port, database) of a Redis URL, loopback names counted as one host (common/redis_config.py)."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = parsed.path.lstrip("/") or "0"
    return ("127.0.0.1" if host in LOOPBACK else host, parsed.port or 6379, int(path) if path.isdigit() else -1)


def run_checks(config: Config) -> List[Finding]:
    """Every check, in the order a newcomer fixes things: the environment, then the state, then the services."""
    from bot.doctor import service_checks, setup_checks

    checks: List[Callable[[Config], List[Finding]]] = [
        setup_checks.check_python, setup_checks.check_venv, setup_checks.check_tools,
        setup_checks.check_model, setup_checks.check_secrets,
        service_checks.check_ports, service_checks.check_redis, service_checks.check_services,
    ]
    found: List[Finding] = []
    for check in checks:
        found.extend(check(config))
    return found


def summary(findings: List[Finding]) -> str:
    fixes = sum(f.level == "fix" for f in findings)
    notes = sum(f.level == "note" for f in findings)
    notes_part = f", {notes} note{'s' if notes != 1 else ''}" if notes else ""
    if not fixes:
        return f"Nothing to fix{notes_part}."
    return f"{fixes} thing{'s' if fixes != 1 else ''} to fix (the lines marked fix){notes_part}. See docs/doctor.md."


def main(argv: Optional[List[str]] = None, root: Path = ROOT, env: Optional[Mapping[str, str]] = None,
         out=None) -> int:
    """Print the findings; exit code 0 only when nothing needs fixing, 1 otherwise, 2 for unknown arguments."""
    argv = sys.argv[1:] if argv is None else argv
    out = out or sys.stdout
    if argv and argv[0] in ("-h", "--help"):
        print("usage: ./run doctor\nChecks Python, .venv, the tools, the model, the secrets, the ports, Redis and "
              "the services' health; prints one line per check (ok, fix or note) and exits 1 when something needs "
              "fixing. See docs/doctor.md.", file=out)
        return 0
    if argv:
        print(f"error: ./run doctor takes no arguments (got {' '.join(argv)})", file=sys.stderr)
        return 2
    config, findings = Config.from_env(root, os.environ if env is None else env)
    findings = findings + run_checks(config)
    for finding in findings:
        print(finding.line(), file=out)
    print(summary(findings), file=out)
    return 1 if any(f.level == "fix" for f in findings) else 0
