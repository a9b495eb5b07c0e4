"""Settings of the run command, read once from the environment, with defaults that run on one machine."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a value that cannot work; the message names the variable."""


@dataclass(frozen=True)
class RedisTarget:
    host: str
    port: int
    db: int
    password: str

    @classmethod
    def from_url(cls, url: str) -> "RedisTarget":
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
            raise SettingsError(f"REDIS_URL must look like redis://host:6379/0, got {url!r}")
        path = parsed.path.lstrip("/")
        if path and not path.isdigit():
            raise SettingsError(f"REDIS_URL database must be a number, got {path!r}")
        return cls(parsed.hostname, parsed.port or 6379, int(path or 0), parsed.password or "")


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name} must be a TCP port number (1-65535), got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    action_port: int
    handoff_port: int
    interface: str
    redis_url: Optional[str]  # None: start an embedded redis-server
    redis_port: int  # port of the embedded redis-server
    run_dir: Path
    data_dir: Path
    models_dir: Path

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        redis_url = env.get("REDIS_URL") or None
        if redis_url:
            RedisTarget.from_url(redis_url)  # fail at start, not later
        return cls(
            rasa_port=_port(env, "RASA_PORT", 5005),
            action_port=_port(env, "ACTION_PORT", 5055),
            handoff_port=_port(env, "HANDOFF_PORT", 5007),
            interface=env.get("BOT_INTERFACE", "127.0.0.1"),
            redis_url=redis_url,
            redis_port=_port(env, "REDIS_PORT", 6379),
            run_dir=Path(env.get("BOT_RUN_DIR", ROOT / ".run")),
            data_dir=Path(env.get("BOT_DATA_DIR", ROOT / ".data")),
            models_dir=Path(env.get("BOT_MODELS_DIR", ROOT / "models")),
        )
