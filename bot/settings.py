"""Settings of the run command, read once from the environment, with defaults that run on one machine."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlparse

from common.redis_config import RedisMismatch, check_one_redis, hide_password

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


def _rasa_servers(env: Mapping[str, str]) -> int:
    """RASA_SERVERS: how many Rasa server processes the run command starts (behind HAProxy when 2 or more).
    Default: one per core, since one Rasa process keeps one core busy (at least 1)."""
    raw = env.get("RASA_SERVERS", "").strip()
    if not raw:
        return max(1, os.cpu_count() or 1)
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise SettingsError(f"RASA_SERVERS must be a number of Rasa servers (1-64), got {raw!r}")
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
    rasa_servers: int = 1  # Rasa server processes; 2 or more: behind HAProxy on rasa_port

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        redis_url = env.get("REDIS_URL") or None
        if redis_url:
            RedisTarget.from_url(redis_url)  # fail at start, not later
        redis_port = _port(env, "REDIS_PORT", 6379)
        check_outbox_redis(redis_url, redis_port, env.get("HANDOFF_REDIS_URL") or None)
        return cls(
            rasa_port=_port(env, "RASA_PORT", 5005),
            action_port=_port(env, "ACTION_PORT", 5055),
            handoff_port=_port(env, "HANDOFF_PORT", 5007),
            interface=env.get("BOT_INTERFACE", "127.0.0.1"),
            redis_url=redis_url,
            redis_port=redis_port,
            run_dir=Path(env.get("BOT_RUN_DIR", ROOT / ".run")),
            data_dir=Path(env.get("BOT_DATA_DIR", ROOT / ".data")),
            models_dir=Path(env.get("BOT_MODELS_DIR", ROOT / "models")),
            rasa_servers=_rasa_servers(env),
        )


def check_outbox_redis(redis_url: Optional[str], redis_port: int, handoff_redis_url: Optional[str]) -> None:
    """The run command gives every process one Redis (REDIS_URL, or the embedded one on REDIS_PORT); a
    HANDOFF_REDIS_URL naming another would split the handoff outbox between two (common/redis_config.py)."""
    if not handoff_redis_url:
        return
    try:
        check_one_redis(redis_url or f"redis://127.0.0.1:{redis_port}/0", handoff_redis_url)
    except RedisMismatch as e:
        if redis_url:
            raise SettingsError(str(e)) from None
        raise SettingsError(
            f"HANDOFF_REDIS_URL ({hide_password(handoff_redis_url)}) is set but REDIS_URL is not: the run command "
            f"would start its own Redis (port {redis_port}) for the action server and the Rasa server, and the "
            "handoff outbox would not be in the Redis the handoff service uses. Set REDIS_URL to the same Redis "
            "as HANDOFF_REDIS_URL, or unset HANDOFF_REDIS_URL.") from None
