"""Real processes for integration tests and benchmarks: one redis-server (restartable on the same port
and data directory, append-only), or with ``redis_cluster=True`` a 3-master Redis Cluster of them
(tests/handoff/redis_cluster.py; the services then run with REDIS_CLUSTER=1), and any number of handoff-service
processes over it."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

import requests

from bot.processes import free_port
from bot.redis_server import redis_command, wait_for_redis
from common.redis_config import async_redis_client
from handoff.auth import hash_password
from handoff.redis_store import RedisStore
from tests.handoff.redis_cluster import RedisCluster

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "test-bot-token-0123456789"
TOKEN_SECRET = "test-token-secret-0123456789-0123456789"
PASSWORD = "correct horse battery"


class Cluster:
    def __init__(self, workdir: Path, redis_port: Optional[int] = None, redis_cluster: bool = False,
                 **settings: str) -> None:
        self.workdir = workdir
        self.redis_cluster = RedisCluster(workdir / "redis-cluster", persistent=True) if redis_cluster else None
        self.redis_port = self.redis_cluster.ports[0] if self.redis_cluster else redis_port or free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis: Optional[subprocess.Popen] = None
        self.services: List[subprocess.Popen] = []
        self.urls: List[str] = []
        self.settings = {"HANDOFF_RESERVATION_SECONDS": "30", "HANDOFF_SWEEP_SECONDS": "0.5", **settings}
        self._hash = hash_password(PASSWORD)

    # -- redis -----------------------------------------------------------------------------------
    def start_redis(self) -> None:
        if self.redis_cluster:
            self.redis_cluster.start()
            return
        self.redis = subprocess.Popen(redis_command(self.redis_port, self.workdir / "redis"),
                                      stdout=open(self.workdir / "redis.log", "ab"), stderr=subprocess.STDOUT)
        wait_for_redis(self.redis_url, proc=self.redis)

    def stop_redis(self) -> None:
        if self.redis_cluster:
            self.redis_cluster.stop()
        if self.redis and self.redis.poll() is None:
            self.redis.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.redis.wait(timeout=20)

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    # -- services --------------------------------------------------------------------------------
    def env(self, port: int) -> Dict[str, str]:
        env = dict(os.environ)
        env.update({"HANDOFF_BOT_TOKEN": BOT_TOKEN, "HANDOFF_TOKEN_SECRET": TOKEN_SECRET,
                    "HANDOFF_REDIS_URL": self.redis_url, "HANDOFF_PORT": str(port), "PYTHONPATH": str(ROOT),
                    "REDIS_CLUSTER": "1" if self.redis_cluster else "0", **self.settings})
        return env

    def start_service(self, index: Optional[int] = None) -> str:
        """Start a service process (or restart the one at ``index`` on its port); its base URL."""
        port = int(self.urls[index].rsplit(":", 1)[1]) if index is not None else free_port()
        log = open(self.workdir / f"handoff-{port}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "handoff"], cwd=ROOT, env=self.env(port), stdout=log,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        if index is None:
            self.services.append(proc)
            self.urls.append(url)
        else:
            self.services[index] = proc
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/health", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"handoff service exited with {proc.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"handoff service at {url} not healthy in 30 s")
            time.sleep(0.1)

    def kill_service(self, index: int) -> None:
        self.services[index].send_signal(signal.SIGKILL)
        self.services[index].wait(timeout=10)

    def stop(self) -> None:
        for proc in self.services:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.services:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.stop_redis()

    # -- data ------------------------------------------------------------------------------------
    def add_agents(self, agents: List[Dict[str, object]]) -> None:
        """Accounts: [{"id", "skills": [...], "max_chats", "role"}], all with PASSWORD."""
        async def save() -> None:
            store = RedisStore(async_redis_client(self.redis_url, cluster=bool(self.redis_cluster),
                                                  decode_responses=True))
            for a in agents:
                await store.save_account(str(a["id"]), {
                    "id": str(a["id"]), "name": str(a.get("name", a["id"])), "role": str(a.get("role", "agent")),
                    "skills": ",".join(a["skills"]), "max_chats": str(a.get("max_chats", 3)),  # type: ignore[arg-type]
                    "password_hash": self._hash})
            await store.close()
        asyncio.run(save())

    def login(self, agent_id: str, url: Optional[str] = None) -> str:
        r = requests.post((url or self.urls[0]) + "/v1/agents/login",
                          json={"agent_id": agent_id, "password": PASSWORD}, timeout=10)
        r.raise_for_status()
        return r.json()["token"]


SMALL_TEAM = [{"id": "ann", "skills": ["general", "after_sales"], "max_chats": 3},
              {"id": "bob", "skills": ["billing"], "max_chats": 3},
              {"id": "sue", "skills": ["general"], "max_chats": 3, "role": "supervisor"}]


@contextmanager
def small_team_service(folder: Path, **env: str) -> Iterator[Cluster]:
    """Redis and one handoff-service process with SMALL_TEAM: ann (general, after_sales), bob (billing),
    sue (supervisor); `env`: extra HANDOFF_* settings."""
    cluster = Cluster(folder, **env)
    try:
        cluster.start_redis()
        cluster.add_agents(SMALL_TEAM)
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
